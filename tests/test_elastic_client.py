"""The Elasticsearch client answers visearch's opensearch-py calls the way opensearch-py does:
the same keyword forms and the same exceptions, which the ingest lock, the alias swap and
the fix-it messages catch (engine/elastic.py), on the real node."""

from __future__ import annotations

import pytest
from opensearchpy import exceptions as os_errors

from support import RUN_PREFIX
from visearch.engine.connection import make_client

pytestmark = pytest.mark.slow


def test_errors_are_opensearch_errors_with_status_and_type(es_client) -> None:  # noqa: ANN001
    index = f"{RUN_PREFIX}-es-errors"
    es_client.indices.create(index=index, body={"mappings": {"properties": {}}})
    with pytest.raises(os_errors.RequestError) as exists:
        es_client.indices.create(index=index, body={})
    assert exists.value.error == "resource_already_exists_exception"
    es_client.index(index=index, id="a", body={"x": 1}, op_type="create", refresh=True)
    with pytest.raises(os_errors.ConflictError):
        es_client.index(index=index, id="a", body={"x": 2}, op_type="create")
    with pytest.raises(os_errors.NotFoundError) as missing:
        es_client.get(index=index, id="nope")
    assert missing.value.status_code == 404


def test_keyword_forms_of_opensearch_py(es_client) -> None:  # noqa: ANN001
    answer = es_client.indices.get_alias(name=f"{RUN_PREFIX}-none", ignore=[404])
    assert isinstance(answer, dict) and answer["status"] == 404
    assert es_client.cluster.health(request_timeout=5)["status"] in ("green", "yellow")
    assert es_client.indices.exists(index=f"{RUN_PREFIX}-none") is False


def test_an_unreachable_cluster_is_a_connection_error() -> None:
    with pytest.raises(os_errors.ConnectionError):  # what the fix-it messages catch
        make_client("http://127.0.0.1:9", engine="elasticsearch", timeout_s=2)


def test_a_cluster_that_does_not_say_is_opensearch(loopback_http, caplog) -> None:  # noqa: ANN001
    # A server that refuses the _nodes question (a proxy, a user without the right to ask):
    # the client is OpenSearch's, and nothing is logged about the question.
    with caplog.at_level("WARNING"):
        client = make_client(loopback_http.base, engine="auto")
    assert not hasattr(client, "dialect") and caplog.records == []
    assert loopback_http.hosts  # it was asked


def test_a_search_is_sent_again_after_a_transient_shard_failure(monkeypatch) -> None:  # noqa: ANN001
    from visearch.engine import connection
    from visearch.engine.dialect import Dialect
    from visearch.engine.elastic import ElasticsearchClient

    monkeypatch.setattr(connection, "SHARD_RETRY_BACKOFF_S", (0, 0, 0, 0))
    lost = {"type": "node_disconnected_exception", "reason": "node left"}
    partial = {"_shards": {"failures": [{"reason": lost}]}, "hits": {"hits": []}}
    answers = [partial, {"hits": {"hits": []}}, partial, partial]

    class Raw:  # a cluster of several nodes, one of which just left
        def search(self, **_: object) -> dict:
            return answers.pop(0)

    client = ElasticsearchClient(Raw(), Dialect("elasticsearch"), None, retries=1)
    assert client.search(index="p", body={}) == {"hits": {"hits": []}}  # sent again
    assert client.search(index="p", body={}) == partial  # gave up after `retries`
    assert answers == []
