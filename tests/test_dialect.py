"""The engine dialects as golden dicts: what visearch builds (OpenSearch's form) and what
Elasticsearch is sent instead. No server, no model."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from visearch.engine.dialect import (
    Dialect,
    detect,
    index_template,
    mapping_body,
    mapping_response,
    search_body,
)
from visearch.mappings.install import IndexSpec, template_body
from visearch.plugin.params import SearchParams
from visearch.plugin.request import build_request
from visearch.plugin.schema import IndexSchema

BARE = Dialect("elasticsearch", "9.2.0", frozenset({"x-pack-core", "transport-netty4"}))
FULL = Dialect("elasticsearch", "9.2.0", frozenset({"analysis-common", "lang-painless"}))
OPENSEARCH = Dialect()
VECTOR = [0.5, 0.5, 0.5, 0.5]
SPEC = IndexSpec(alias="products", encoder="fake-encoder", dim=4, m=24, ef_construction=200)


def schema() -> IndexSchema:
    mapping = {"products-v1": {"mappings": template_body(SPEC)["template"]["mappings"]}}
    return IndexSchema.from_mapping("products", mapping)


def test_the_engine_is_told_by_the_nodes_info() -> None:
    elastic = {"nodes": {"x": {"version": "9.2.0", "build_flavor": "default",
                               "modules": [{"name": "apm"}, {"name": "x-pack-core"}]}}}  # fmt: skip
    assert detect(elastic) == Dialect("elasticsearch", "9.2.0", frozenset({"apm", "x-pack-core"}))
    assert detect({"nodes": {"y": {"version": "3.5.0", "build_type": "zip"}}}).engine == (
        "opensearch"
    )
    assert detect(None) == OPENSEARCH  # nothing said: the default engine
    assert not BARE.english and FULL.english


def test_a_photo_search_becomes_the_top_level_knn_with_its_filter() -> None:
    params = SearchParams(image="x.jpg", filters={"category": "Apparel"}, facets=("gender",))
    (body,) = build_request(params, schema(), np.array(VECTOR)).searches
    sent = search_body(body, BARE)
    assert "query" not in sent
    knn = sent["knn"]
    assert knn["field"] == "photos.vector" and knn["query_vector"] == VECTOR
    assert knn["k"] == 200 and knn["num_candidates"] == 2 * knn["k"]
    assert sent["size"] == 20 and sent["sort"] == body["sort"]  # the page of the pool
    assert knn["filter"] == body["query"]["nested"]["query"]["knn"]["photos.vector"]["filter"]
    assert knn["inner_hits"] == {"size": 1, "_source": False}  # the best photo of each hit
    assert sent["aggs"] == body["aggs"] and sent["docvalue_fields"] == body["docvalue_fields"]
    assert "script_fields" in body and "script_fields" not in sent  # k-NN's painless only
    assert "script_fields" not in search_body(body, FULL)


def test_min_score_becomes_the_knn_similarity_so_facets_honour_it() -> None:
    """Elasticsearch applies `min_score` to hits after the aggregations counted the whole top
    k; the knn's `similarity` (raw cosine) drops weaker products first, as OpenSearch does."""
    params = SearchParams(image="x.jpg", min_score=0.45, facets=("gender",))
    (body,) = build_request(params, schema(), np.array(VECTOR)).searches
    sent = search_body(body, BARE)
    assert sent["knn"]["similarity"] == pytest.approx(0.45)
    assert sent["min_score"] == body["min_score"]
    plain = build_request(SearchParams(image="x.jpg"), schema(), np.array(VECTOR)).searches[0]
    assert "similarity" not in search_body(plain, BARE)["knn"]


def test_a_knn_clause_inside_another_query_becomes_the_knn_query() -> None:
    spec = {"vector": VECTOR, "k": 10, "method_parameters": {"ef_search": 25},
            "filter": {"term": {"a": 1}}}  # fmt: skip
    nested = {"nested": {"path": "photos", "query": {"knn": {"photos.vector": spec}}}}
    body = {"query": {"bool": {"should": [nested]}}}
    sent = search_body(body, BARE)
    inner = sent["query"]["bool"]["should"][0]["nested"]["query"]["knn"]
    assert inner == {"field": "photos.vector", "query_vector": VECTOR, "k": 10,
                     "num_candidates": 25, "filter": {"term": {"a": 1}}}  # fmt: skip
    # A clause that names no ef_search explores k candidates, as OpenSearch would.
    bare = {"knn": {"photos.vector": {"vector": VECTOR, "k": 10}}}
    assert search_body({"query": bare}, BARE)["query"]["knn"]["num_candidates"] == 10


def test_opensearch_bodies_are_sent_as_built() -> None:
    params = SearchParams(image="x.jpg", keywords="red", facets=("gender",))
    for body in build_request(params, schema(), np.array(VECTOR)).searches:
        before = copy.deepcopy(body)
        assert search_body(body, OPENSEARCH) == before and body == before
        search_body(body, BARE)
        assert body == before  # translating never changes what the builder made


def test_the_template_uses_dense_vectors_and_what_the_cluster_has() -> None:
    body = template_body(SPEC)
    sent = index_template(body, BARE)
    settings = sent["template"]["settings"]
    assert not [key for key in settings["index"] if key.startswith("knn")]
    assert settings["index"]["mapping.exclude_source_vectors"] is False
    properties = sent["template"]["mappings"]["properties"]
    dense = {"type": "dense_vector", "dims": 4, "index": True, "similarity": "cosine",
             "index_options": {"type": "hnsw", "m": 24, "ef_construction": 200}}  # fmt: skip
    assert properties["photos"]["properties"]["vector"] == dense
    assert properties["photo_centroid"] == dense
    # No analysis-common: an `english` of its own, and no asciifolding.
    assert settings["analysis"]["analyzer"]["english"] == {"type": "standard",
                                                           "stopwords": "_english_"}  # fmt: skip
    assert settings["analysis"]["normalizer"]["folded"]["filter"] == ["lowercase"]
    full = index_template(body, FULL)["template"]["settings"]["analysis"]
    assert "analyzer" not in full and "asciifolding" in full["normalizer"]["folded"]["filter"]
    assert index_template(body, OPENSEARCH) == body == template_body(SPEC)


def test_other_index_bodies_and_mapping_updates() -> None:
    vector = {"type": "knn_vector", "dimension": 3,
              "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"}}  # fmt: skip
    text = {"type": "text", "analyzer": "english"}
    body = {"settings": {"index.knn": True}, "mappings": {"properties": {"v": vector, "t": text}}}
    sent = index_template(body, BARE)
    assert "index.knn" not in sent["settings"]
    assert sent["settings"]["index"] == {"mapping.exclude_source_vectors": False}
    assert sent["settings"]["analysis"]["analyzer"]["english"]["type"] == "standard"
    assert sent["mappings"]["properties"]["v"]["similarity"] == "l2_norm"
    bare = index_template({"mappings": {"properties": {}}}, BARE)  # no vectors: nothing added
    assert "mapping.exclude_source_vectors" not in bare["settings"]["index"]
    update = mapping_body({"properties": {"v": vector}}, BARE)
    assert update["properties"]["v"]["type"] == "dense_vector"
    assert mapping_body({"properties": {"v": vector}}, OPENSEARCH) == {"properties": {"v": vector}}


def test_mappings_read_back_in_the_opensearch_form() -> None:
    sent = index_template(template_body(SPEC), BARE)["template"]["mappings"]
    back = mapping_response({"products-v1": {"mappings": sent}})
    read = IndexSchema.from_mapping("products", back)
    assert (read.dim, read.space_type, read.encoder, read.centroid) == (
        4, "cosinesimil", "fake-encoder", True
    )  # fmt: skip
    assert read.keyword_fields == schema().keyword_fields
