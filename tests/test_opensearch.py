"""The node the tests run against is real: k-NN on lucene, efficient filters, english analysis."""

from __future__ import annotations

import numpy as np
from opensearchpy import helpers


def _knn_index_body(dim: int) -> dict:
    return {
        "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
        "mappings": {
            "properties": {
                "vec": {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                },
                "colour": {"type": "keyword"},
                "title": {"type": "text", "analyzer": "english"},
            }
        },
    }


def test_knn_plugin_is_installed(os_client) -> None:
    plugins = {row["component"] for row in os_client.cat.plugins(format="json")}
    assert "opensearch-knn" in plugins


def test_knn_query_with_efficient_filter(os_client, index_name) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    colours = ["Blue" if i % 10 == 0 else "Red" for i in range(200)]  # Blue is a 10% filter
    os_client.indices.create(index=index_name, body=_knn_index_body(16))
    actions = (
        {"_index": index_name, "_id": str(i), "vec": v.tolist(), "colour": c, "title": f"item {i}"}
        for i, (v, c) in enumerate(zip(vectors, colours, strict=True))
    )
    ok, errors = helpers.bulk(os_client, actions, refresh=True)
    assert ok == 200 and not errors

    query = vectors[0] + 0.01
    body = {
        "size": 5,
        "query": {
            "knn": {
                "vec": {"vector": query.tolist(), "k": 5, "filter": {"term": {"colour": "Blue"}}}
            }
        },
    }
    hits = os_client.search(index=index_name, body=body)["hits"]["hits"]

    blue = np.flatnonzero(np.array(colours) == "Blue")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit[blue] @ (query / np.linalg.norm(query))
    expected = [str(i) for i in blue[np.argsort(-cosine)][:5]]
    assert [hit["_id"] for hit in hits] == expected  # a selective filter still yields k hits
    assert all(hit["_source"]["colour"] == "Blue" for hit in hits)


def test_english_analyzer_stems(os_client, index_name) -> None:
    os_client.indices.create(index=index_name, body=_knn_index_body(2))
    os_client.index(
        index=index_name, id="boots", body={"title": "Running boots", "vec": [1, 0]}, refresh=True
    )
    body = {"query": {"match": {"title": "run boot"}}}
    hits = os_client.search(index=index_name, body=body)["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["boots"]


def test_numpy_vectors_travel_as_exact_float32(os_client, index_name) -> None:
    """The client writes numpy float32 arrays itself (orjson), in their shortest exact form."""
    vectors = np.random.default_rng(3).normal(size=(3, 16)).astype(np.float32)
    vectors[0, 0] = np.float32(0.1)  # not exact in binary: float32 digits, not float64 ones
    os_client.indices.create(index=index_name, body=_knn_index_body(16))
    actions = ({"_index": index_name, "_id": str(i), "vec": v} for i, v in enumerate(vectors))
    ok, errors = helpers.bulk(os_client, actions, refresh=True)
    assert ok == 3 and not errors
    raw = os_client.transport.perform_request("GET", f"/{index_name}/_doc/0")
    assert raw["_source"]["vec"][0] == 0.1  # "0.1" on the wire, not 0.10000000149011612
    for i, vector in enumerate(vectors):
        stored = os_client.get(index=index_name, id=str(i))["_source"]["vec"]
        assert np.array_equal(np.asarray(stored, dtype=np.float32), vector)
