"""`visearch elasticsearch up | status | down`: a real Elasticsearch node, from Maven Central,
on the project's JDK 21, that answers what visearch asks of it (a nested dense_vector kNN
with a filter, BM25 and a terms aggregation in one search)."""

from __future__ import annotations

import json
import os
import platform
import time

import pytest
from click.testing import CliRunner

from support import RUN_PREFIX
from visearch import cli

pytestmark = pytest.mark.slow


def test_up_is_idempotent_and_status_says_what_runs(elasticsearch_url: str) -> None:
    runner = CliRunner()
    env = {"ELASTICSEARCH_URL": elasticsearch_url}
    if os.environ.get("ELASTICSEARCH_URL"):
        pytest.skip("ELASTICSEARCH_URL names another node: nothing local to manage")
    started = time.monotonic()
    again = runner.invoke(cli.main, ["elasticsearch", "up", "--json"], env=env)
    assert again.exit_code == 0, again.output
    assert time.monotonic() - started < 5  # already up: a no-op in seconds
    status = json.loads(again.stdout)
    assert status["running"] and status["status"] in ("green", "yellow")
    if platform.system() == "Linux" and platform.machine() == "x86_64":
        assert status["jvm"].startswith("21.")  # the JDK 21 assembled in the cache
    shown = runner.invoke(cli.main, ["elasticsearch", "status"], env=env)
    assert shown.exit_code == 0 and shown.output.startswith("Elasticsearch ")


def test_down_where_nothing_runs_says_so() -> None:
    runner = CliRunner()
    env = {"ELASTICSEARCH_URL": "http://127.0.0.1:9259"}
    assert runner.invoke(cli.main, ["elasticsearch", "down"], env=env).output.strip() == (
        "not running"
    )
    after = runner.invoke(cli.main, ["elasticsearch", "status", "--json"], env=env)
    assert after.exit_code == 1 and json.loads(after.stdout)["running"] is False


def test_other_clusters_are_not_touched() -> None:
    env = {"ELASTICSEARCH_URL": "http://search.example.com:9200"}
    result = CliRunner().invoke(cli.main, ["elasticsearch", "up"], env=env)
    assert result.exit_code != 0 and "another cluster" in result.output


def test_nested_vector_knn_with_a_filter_bm25_and_facets(es_client) -> None:  # noqa: ANN001
    index = f"{RUN_PREFIX}-es-node"
    vector = {"type": "dense_vector", "dims": 3, "similarity": "cosine", "index": True,
              "index_options": {"type": "hnsw", "m": 16, "ef_construction": 64}}  # fmt: skip
    es_client.indices.create(
        index=index,
        mappings={
            "properties": {
                "title": {"type": "text"},
                "category": {"type": "keyword"},
                "photos": {"type": "nested", "properties": {"vector": vector}},
            }
        },
    )
    products = {
        "red-shoe": ("red running shoe", "shoes", [[1, 0, 0], [0, 1, 0]]),
        "blue-shoe": ("blue shoe", "shoes", [[0.8, 0.6, 0]]),
        "shirt": ("red shirt", "shirts", [[0, 1, 0]]),
    }
    for sku, (title, category, photos) in products.items():
        photo_docs = [{"vector": v} for v in photos]
        document = {"title": title, "category": category, "photos": photo_docs}
        es_client.index(index=index, id=sku, document=document)
    es_client.indices.refresh(index=index)

    answer = es_client.search(
        index=index,
        knn={
            "field": "photos.vector",
            "query_vector": [0, 1, 0],
            "k": 3,
            "num_candidates": 10,
            "filter": {"term": {"category": "shoes"}},  # a parent field filters the photos
            "inner_hits": {"size": 1, "_source": False},
        },
        query={"match": {"title": "shoe"}},
        aggs={"category": {"terms": {"field": "category"}}},
        source=False,
    )
    hits = answer["hits"]["hits"]
    # The red shoe's second photo is the query itself: it leads, by its best photo, and the
    # shirt (same photo, wrong category) is filtered out inside the kNN, not after it.
    assert [hit["_id"] for hit in hits] == ["red-shoe", "blue-shoe"]
    best_photo = hits[0]["inner_hits"]["photos"]["hits"]["hits"][0]
    assert best_photo["_nested"]["offset"] == 1
    buckets = answer["aggregations"]["category"]["buckets"]
    assert buckets == [{"key": "shoes", "doc_count": 2}]
