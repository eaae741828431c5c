"""Bulk writes survive transient failures and report permanent ones, per sku."""

from __future__ import annotations

from typing import Any

from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import ConnectionTimeout

from support import TEST_ENGINE
from visearch.ingest.bulk import BulkConfig, BulkWriter, write_chunk

FAST = BulkConfig(chunk_size=10, max_retries=3, backoff_s=0.01)


class FlakyClient:
    """The real client, except that the bulk calls numbered in `fail_calls` fail first."""

    def __init__(self, client: Any, fail_calls: set[int], failure: str = "connection") -> None:
        self._client = client
        self._fail_calls = fail_calls
        self._failure = failure
        self.bulk_calls = 0

    def bulk(self, *args: Any, **kwargs: Any) -> Any:
        self.bulk_calls += 1
        if self.bulk_calls in self._fail_calls:
            if self._failure == "connection":
                raise OSConnectionError("N/A", "connection reset by peer", None)
            if self._failure == "timeout":  # written, but the answer never came
                self._client.bulk(*args, **kwargs)
                raise ConnectionTimeout("TIMEOUT", "Read timed out. (read timeout=60)", None)
            response = self._client.bulk(*args, **kwargs)  # written, but an error for each item
            status = int(self._failure)
            for item in response["items"]:
                result = next(iter(item.values()))
                result["status"] = status
                result["error"] = {"type": "unavailable", "reason": "node is busy or restarting"}
            response["errors"] = True
            return response
        return self._client.bulk(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _actions(index: str, n: int) -> list[dict[str, Any]]:
    return [{"_index": index, "_id": f"p{i}", "_source": {"sku": f"p{i}"}} for i in range(n)]


def test_connection_error_is_retried(os_client, index_name) -> None:
    os_client.indices.create(index=index_name)
    flaky = FlakyClient(os_client, fail_calls={1})
    report = write_chunk(flaky, _actions(index_name, 10), FAST)
    assert (report.written, report.failures) == (10, [])
    assert flaky.bulk_calls == 2
    os_client.indices.refresh(index=index_name)
    assert os_client.count(index=index_name)["count"] == 10


def test_a_read_timeout_is_retried_without_duplicates(os_client, index_name) -> None:
    # A node that dies while a replica write is pending can hold a bulk past the read
    # timeout (bench/cluster_failover.py): the chunk may be written; sending it again is safe.
    os_client.indices.create(index=index_name)
    flaky = FlakyClient(os_client, fail_calls={1}, failure="timeout")
    report = write_chunk(flaky, _actions(index_name, 10), FAST)
    assert (report.written, report.failures) == (10, [])
    assert flaky.bulk_calls == 2
    os_client.indices.refresh(index=index_name)
    assert os_client.count(index=index_name)["count"] == 10


def test_5xx_items_are_retried_without_duplicates(os_client, index_name) -> None:
    os_client.indices.create(index=index_name)
    flaky = FlakyClient(os_client, fail_calls={1, 2}, failure="503")
    report = write_chunk(flaky, _actions(index_name, 10), FAST)
    assert (report.written, report.failures) == (10, [])
    os_client.indices.refresh(index=index_name)
    assert os_client.count(index=index_name)["count"] == 10


def test_permanent_failures_are_reported_per_sku(os_client, index_name) -> None:
    os_client.indices.create(
        index=index_name, body={"mappings": {"properties": {"price": {"type": "double"}}}}
    )
    actions = _actions(index_name, 3)
    actions[1]["_source"]["price"] = "not a number"
    writer = BulkWriter(os_client, FAST)
    for action in actions:
        writer.add(action)
    report = writer.close()
    assert report.written == 2
    assert [(f.sku, f.op) for f in report.failures] == [("p1", "index")]
    # Elasticsearch names the same failure document_parsing_exception.
    parsing = {
        "opensearch": "mapper_parsing_exception",
        "elasticsearch": "document_parsing_exception",
    }
    assert parsing[TEST_ENGINE] in report.failures[0].reason
    assert "failed to parse field [price]" in report.failures[0].reason


def test_gives_up_after_retries(os_client, index_name) -> None:
    os_client.indices.create(index=index_name)
    flaky = FlakyClient(os_client, fail_calls=set(range(1, 100)))
    report = write_chunk(flaky, _actions(index_name, 2), FAST)
    assert report.written == 0
    assert len(report.failures) == 2
    assert all("gave up after 4 attempts" in f.reason for f in report.failures)
    assert flaky.bulk_calls == report.attempts == 4  # one retry layer: 1 + max_retries tries


def test_429_items_are_retried_by_the_one_layer(os_client, index_name) -> None:
    os_client.indices.create(index=index_name)
    flaky = FlakyClient(os_client, fail_calls={1, 2}, failure="429")
    report = write_chunk(flaky, _actions(index_name, 5), FAST)
    assert (report.written, report.failures) == (5, [])
    assert flaky.bulk_calls == report.attempts == 3
