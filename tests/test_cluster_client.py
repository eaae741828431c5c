"""The client of a cluster sends a search again when shards failed because a node left or
restarted (engine/connection.ShardRetryTransport), and only then: a query the cluster refuses
is not repeated, and a one-node client repeats nothing. The node-failure runs themselves are
bench/cluster_failover.py (minutes on three nodes)."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy import Transport, TransportError

from visearch.engine import connection
from visearch.engine.connection import make_client, transient_shard_failure

OK = {"_shards": {"total": 3, "successful": 3, "failed": 0}, "hits": {"hits": []}}


def _partial(kind: str) -> dict[str, Any]:
    failure = {"shard": 1, "index": "p-v1", "reason": {"type": kind, "reason": "..."}}
    return {"_shards": {"total": 3, "successful": 2, "failed": 1, "failures": [failure]}}


def test_transient_failures_are_told_from_refused_queries() -> None:
    assert not transient_shard_failure(OK)
    assert transient_shard_failure(_partial("node_disconnected_exception"))
    assert transient_shard_failure(_partial("search_context_missing_exception"))
    assert not transient_shard_failure(_partial("query_shard_exception"))
    nested = {"type": "search_phase_execution_exception",
              "caused_by": {"type": "node_not_connected_exception"}}  # fmt: skip
    assert transient_shard_failure({"responses": [OK, {"error": nested, "status": 500}]})
    assert not transient_shard_failure({"responses": [OK, _partial("parsing_exception")]})


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[str]]:
    """(what the cluster answers, in turn; the URL of every request the client sends)."""
    queue: list[Any] = []
    sent: list[str] = []

    def perform(self: Transport, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(url)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(Transport, "perform_request", perform)
    monkeypatch.setattr(connection, "SHARD_RETRY_BACKOFF_S", (0, 0, 0, 0))
    return queue, sent


def test_a_cluster_client_searches_again_after_a_node_left(cluster: tuple) -> None:
    answers, sent = cluster
    client = make_client("http://127.0.0.1:9320,http://127.0.0.1:9321,http://127.0.0.1:9322")
    answers += [_partial("node_disconnected_exception"), OK]
    assert client.search(index="p", body={}) == OK
    assert len(sent) == 2
    refused = _partial("query_shard_exception")
    answers.append(refused)
    assert client.search(index="p", body={}) == refused  # the Searcher reports it
    assert len(sent) == 3
    answers += [_partial("node_disconnected_exception")] * 4
    assert transient_shard_failure(client.search(index="p", body={}))  # gives up after 3
    assert len(sent) == 7
    failed = {"error": {"type": "search_phase_execution_exception", "reason": ""}}
    answers += [TransportError(503, "search_phase_execution_exception", failed), OK]
    assert client.search(index="p", body={}) == OK  # failed on every node, then worked
    answers.append(TransportError(400, "parsing_exception", {}))
    with pytest.raises(TransportError):
        client.search(index="p", body={})
    assert len(sent) == 10
    one_failed = {"responses": [OK, {"error": failed["error"], "status": 503}]}
    answers += [one_failed, {"responses": [OK, OK]}]
    assert client.msearch(body=[{}, {}, {}, {}]) == {"responses": [OK, OK]}
    assert sent[-2:] == ["/_msearch", "/_msearch"]


def test_a_one_node_client_repeats_nothing(cluster: tuple) -> None:
    answers, sent = cluster
    partial = _partial("node_disconnected_exception")
    answers.append(partial)
    assert make_client("http://127.0.0.1:9200").search(index="p", body={}) == partial
    assert len(sent) == 1


def test_concurrent_searches_keep_their_connections(
    opensearch_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Eight threads calling at once (the service's workers under load) reuse their
    connections: no new connection per request, no "Connection pool is full" in the log."""
    from concurrent.futures import ThreadPoolExecutor

    from support import TEST_ENGINE
    from visearch.commands.options import env_credentials

    if TEST_ENGINE != "opensearch":
        pytest.skip("the OpenSearch client's pool (Elasticsearch's client keeps its own)")
    client = make_client(opensearch_url, **env_credentials())
    with ThreadPoolExecutor(8) as threads, caplog.at_level("WARNING", "urllib3"):
        list(threads.map(lambda _: client.cluster.health(), range(200)))
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    (node,) = client.transport.connection_pool.connections
    assert node.pool.num_connections <= 8
