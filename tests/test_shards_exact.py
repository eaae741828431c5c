"""Results do not depend on the shard layout: the shared 300-product index (one shard) and a
copy of it over three shards answer a few hundred searches identically: candidate pool, hits
and their order and scores, totals, facet counts, price stats, on every page.

The copy lives on the same node (shards do not need nodes). Queries mix every mode (vector,
hybrid, keywords, browse) with hard filters, facet selections, price ranges, stock, min_score,
pool sizes, boosts and pages, drawn from a seeded generator.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from support import TEST_ENGINE, copy_documents, drop_indices
from visearch.plugin.params import Boosts, SearchParams
from visearch.plugin.request import SearchPlan
from visearch.plugin.search import Searcher
from visearch.plugin.shards import (
    ShardLayout,
    exact_counts,
    over_pool_body,
    pool_body,
    send_plans,
    with_pool_scores,
)

pytestmark = pytest.mark.slow
QUERIES = 300
SHARDS = 3
ATTRIBUTES = ("colour_group", "article_type", "gender", "season", "usage", "subcategory")


@pytest.fixture(scope="module")
def sharded_alias(os_client, search_alias: str) -> Iterator[str]:  # noqa: ANN001
    """The shared index copied into a three-shard index from the same template."""
    from visearch.ingest import aliases
    from visearch.mappings.install import IndexSpec, put_template, template_name

    (source,) = os_client.indices.get_alias(name=search_alias)
    meta = os_client.indices.get_mapping(index=source)[source]["mappings"]["_meta"]
    name = f"{search_alias}-sharded-{uuid.uuid4().hex[:6]}"
    put_template(os_client, IndexSpec(name, meta["encoder"], meta["dim"], shards=SHARDS))
    index = aliases.create_index(os_client, name)
    copy_documents(os_client, source, index)
    aliases.point_alias(os_client, name, index)
    assert os_client.count(index=name)["count"] == os_client.count(index=search_alias)["count"]
    yield name
    drop_indices(os_client, f"{name}*")
    os_client.indices.delete_index_template(name=template_name(name), ignore=[404])


@pytest.fixture(scope="module")
def quantized_alias(os_client, search_alias: str) -> Iterator[str]:  # noqa: ANN001
    """The shared index copied into one whose photo vectors are Lucene 7-bit scalar-quantized
    (`encoder: sq`), one shard."""
    from visearch.ingest import aliases
    from visearch.mappings.fields import PHOTO_VECTOR, PHOTOS_FIELD
    from visearch.mappings.install import IndexSpec, template_body, template_name

    if TEST_ENGINE == "elasticsearch":
        pytest.skip("the sq encoder is OpenSearch k-NN's (Elasticsearch has int8_hnsw)")
    (source,) = os_client.indices.get_alias(name=search_alias)
    meta = os_client.indices.get_mapping(index=source)[source]["mappings"]["_meta"]
    name = f"{search_alias}-sq-{uuid.uuid4().hex[:6]}"
    body = template_body(IndexSpec(name, meta["encoder"], meta["dim"]))
    method = body["template"]["mappings"]["properties"][PHOTOS_FIELD]["properties"][PHOTO_VECTOR]
    method["method"]["parameters"]["encoder"] = {"name": "sq", "parameters": {"bits": 7}}
    os_client.indices.put_index_template(name=template_name(name), body=body)
    index = aliases.create_index(os_client, name)
    copy_documents(os_client, source, index)
    aliases.point_alias(os_client, name, index)
    yield name
    drop_indices(os_client, f"{name}*")
    os_client.indices.delete_index_template(name=template_name(name), ignore=[404])


def _vectors(client: Any, alias: str, skus: list[str]) -> dict[str, np.ndarray]:
    found = client.mget(index=alias, body={"ids": skus}, _source_includes=["photos.vector"])
    return {
        doc["_id"]: np.asarray(doc["_source"]["photos"][0]["vector"], dtype=np.float32)
        for doc in found["docs"]
        if doc.get("found")
    }


def _queries(rows: list[dict[str, str]], vectors: dict[str, np.ndarray], fields: list[str]):  # noqa: ANN202
    """(params, vector or None) pairs: every mode, filters, selections and pages."""
    rng = random.Random(16)
    skus = sorted(vectors)
    words = sorted({w.lower() for row in rows for w in row["title"].split() if len(w) > 3})
    for i in range(QUERIES):
        kind = ("similar", "vector", "hybrid", "keywords", "browse")[i % 5]
        facets = tuple(rng.sample(fields, rng.randint(0 if kind != "browse" else 1, 3)))
        filters: dict[str, list[str]] = {}
        for name in rng.sample(fields, rng.choice((0, 0, 1, 2))):  # selections or hard filters
            values = sorted({row[name] for row in rows if row.get(name)})
            filters[name] = rng.sample(values, min(len(values), rng.choice((1, 1, 2))))
        extra: dict[str, Any] = {}
        if rng.random() < 0.3:
            extra["price_min"], extra["price_max"] = 20.0, float(rng.choice((50, 70, 99)))
        if rng.random() < 0.2:
            extra["in_stock"] = rng.random() < 0.7
        if kind in ("similar", "vector", "hybrid"):
            extra["candidates"] = rng.choice((None, 40, 100, 150))
            if rng.random() < 0.1:
                extra["min_score"] = 0.5
        if rng.random() < 0.2:
            extra["boosts"] = Boosts(in_stock_first=rng.random() < 0.5, popularity_weight=0.004)
        if kind in ("hybrid", "keywords"):
            extra["keywords"] = " ".join(rng.sample(words, rng.choice((1, 1, 2))))
        vector = None
        if kind in ("similar", "hybrid"):
            extra["similar_to"] = rng.choice(skus)
        elif kind == "vector":
            mix = vectors[rng.choice(skus)] + vectors[rng.choice(skus)]
            vector, extra["image"] = mix / np.linalg.norm(mix), b"query"
        if kind == "browse" and not (filters or facets):
            facets = (fields[0],)
        k = rng.choice((5, 10, 20))
        page = rng.choice((0, 0, 1, 2, 4))
        params = SearchParams(filters=filters, facets=facets, k=k, page=page, **extra)
        yield params, vector


def _view(result: Any) -> dict[str, Any]:
    """Everything a caller sees but the timings."""
    data = result.as_dict()
    data.pop("timings")
    return data


# Lucene scores a kNN candidate in its graph search and in its exact search (a segment with
# fewer filtered products than k) with differently vectorised float32 code: the same product
# can score 1 ulp apart on two layouts. Keyword scores use every shard's statistics
# (dfs_query_then_fetch), but `cross_fields` blends term frequencies per shard, so BM25 can
# differ by a fraction of a percent on an index this small.
VECTOR_TOLERANCE = 1e-6
KEYWORD_TOLERANCE = 0.01


def _close(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))
    return a == b


def _hits_agree(expected: list[dict], got: list[dict], tolerance: float) -> bool:
    """The same products in the same order, numbers within `tolerance`; two neighbours may
    trade places only when their final scores tie within it."""
    if len(expected) != len(got):
        return False
    final = {h["sku"]: h["explanation"]["final_score"] for h in (*expected, *got)}
    for mine, theirs in zip(expected, got, strict=True):
        if mine["sku"] != theirs["sku"]:
            if not _close(final[mine["sku"]], final[theirs["sku"]], tolerance):
                return False
            continue
        for name, value in mine["explanation"].items():
            if not _close(value, theirs["explanation"][name], tolerance):
                return False
        if {k: v for k, v in mine.items() if k != "explanation"} != {
            k: v for k, v in theirs.items() if k != "explanation"
        }:
            return False
    return True


def _agree(expected: dict[str, Any], got: dict[str, Any]) -> bool:
    """Pool, totals, facet counts, price stats and notices exactly; hits as `_hits_agree`."""
    rest = [key for key in expected if key != "hits"]
    if any(expected[key] != got[key] for key in rest):
        return False
    tolerance = KEYWORD_TOLERANCE if expected["mode"] == "keywords" else VECTOR_TOLERANCE
    return _hits_agree(expected["hits"], got["hits"], tolerance)


def test_three_shards_answer_like_one(
    os_client, search_alias: str, sharded_alias: str, search_rows: list[dict[str, str]]
) -> None:  # noqa: ANN001
    one = Searcher(os_client, search_alias)
    three = Searcher(os_client, sharded_alias)
    fields = [name for name in ATTRIBUTES if name in one.schema.keyword_fields]
    vectors = _vectors(os_client, search_alias, [row["sku"] for row in search_rows[::3]])
    differences, modes = [], set()
    for params, vector in _queries(search_rows, vectors, fields):
        expected, got = (_view(searcher.search(params, vector=vector)) for searcher in (one, three))
        modes.add(expected["mode"])
        if not _agree(expected, got):
            differences.append((params, expected, got))
    assert three._layout.shards == SHARDS and one._layout.shards == 1
    assert modes == {"vector", "hybrid", "keywords", "browse"}
    assert differences == [], f"{len(differences)} of {QUERIES} differ; first: {differences[0]}"


def test_fetching_only_the_page_answers_like_the_whole_pool(
    os_client, search_alias: str, sharded_alias: str, search_rows: list[dict[str, str]]
) -> None:  # noqa: ANN001
    """A look search that nothing reorders fetches only its pages (sorted by score then sku)
    and takes the engine's total: the same hits, total and facets as ranking the whole pool,
    on one shard and on three."""
    from visearch.plugin.request import build_request
    from visearch.plugin.response import Timings
    from visearch.plugin.results import search_result

    one, three = Searcher(os_client, search_alias), Searcher(os_client, sharded_alias)
    fields = [name for name in ATTRIBUTES if name in one.schema.keyword_fields]
    vectors = _vectors(os_client, search_alias, [row["sku"] for row in search_rows[::3]])
    looks = [(p, v) for p, v in _queries(search_rows, vectors, fields) if v is not None]
    differences, page_only = [], 0
    for params, vector in looks:
        whole = build_request(params, one.schema, vector, reranking=True)  # all of the pool
        (body,) = whole.searches
        response = os_client.search(index=search_alias, body=body)
        expected = search_result(whole, params, [response], one.schema, Timings(), None)
        expected = _view(expected) | {"notices": ()}  # the Searcher's, not the ranking's
        page_only += build_request(params, one.schema, vector).page_only
        for searcher in (one, three):
            got = _view(searcher.search(params, vector=vector)) | {"notices": ()}
            if not _agree(expected, got):
                differences.append((params, expected, got))
    assert len(looks) >= 50 and page_only >= 40  # most carry no boosts
    assert differences == [], f"{len(differences)} differ; first: {differences[0]}"


def test_a_quantized_index_rescores_with_the_float_vectors(
    os_client, search_alias: str, quantized_alias: str, search_rows: list[dict[str, str]]
) -> None:  # noqa: ANN001
    """On an sq index the knn asks for 5x the pool, rescored with the float vectors, and the
    pool is cut to N: the same hits, scores, totals and facets as the float index."""
    from visearch.plugin.request import build_request

    floats, quantized = Searcher(os_client, search_alias), Searcher(os_client, quantized_alias)
    assert quantized.schema.quantized and not floats.schema.quantized
    fields = [name for name in ATTRIBUTES if name in floats.schema.keyword_fields]
    vectors = _vectors(os_client, search_alias, [row["sku"] for row in search_rows[::3]])
    looks = [(p, v) for p, v in _queries(search_rows, vectors, fields) if v is not None]
    differences = []
    for params, vector in looks[:40]:
        expected, got = (_view(s.search(params, vector=vector)) for s in (floats, quantized))
        if not _agree(expected, got):
            differences.append((params, expected, got))
    assert differences == [], f"{len(differences)} differ; first: {differences[0]}"
    # Without the float rescore the scores are the 7-bit vectors' own.
    vector = looks[0][1]
    (body,) = build_request(SearchParams(image=b"q", k=5), quantized.schema, vector).searches
    knn = body["query"]["nested"]["query"]["knn"]["photos.vector"]
    assert knn["k"] == 1000 and knn.pop("rescore") == {"oversample_factor": 1.0}
    raw = os_client.search(index=quantized_alias, body=body)["hits"]["hits"][0]["_score"]
    exact = floats.search(SearchParams(image=b"q", k=5), vector=vector).hits[0]
    assert raw != pytest.approx(exact.explanation.vector_score, abs=1e-6)


def test_a_look_search_on_three_shards_takes_two_steps_on_opensearch_only(
    os_client, sharded_alias: str, search_rows: list[dict[str, str]], monkeypatch
) -> None:  # noqa: ANN001
    """OpenSearch needs the pool step on several shards; Elasticsearch's top-level knn keeps
    the global k itself, so there a look search without words stays one request."""
    searcher = Searcher(os_client, sharded_alias)
    sku = search_rows[0]["sku"]
    vector = _vectors(os_client, sharded_alias, [sku])[sku]
    params = SearchParams(image=b"query", facets=("gender",), k=10)
    searcher.search(params, vector=vector)  # learns the layout
    sent: list[str] = []
    for name in ("search", "msearch"):
        call = getattr(os_client, name)
        monkeypatch.setattr(
            os_client, name, lambda *a, _n=name, _c=call, **k: sent.append(_n) or _c(*a, **k)
        )
    result = searcher.search(params, vector=vector)
    monkeypatch.undo()
    assert result.total == 200 and sum(v.count for v in result.facets["gender"]) == 200
    assert len(sent) == (1 if TEST_ENGINE == "elasticsearch" else 2), sent


def test_one_request_per_shard_would_count_more_than_the_pool(
    os_client, sharded_alias: str, search_rows: list[dict[str, str]]
) -> None:  # noqa: ANN001
    """What the two steps fix: sent as one request, a kNN search on three shards counts up to
    N products per shard in its facets and total, while its hits stop at N (on OpenSearch;
    Elasticsearch's top-level knn cuts to the global k first)."""
    from visearch.plugin.request import build_request

    searcher = Searcher(os_client, sharded_alias)
    sku = search_rows[0]["sku"]
    vector = _vectors(os_client, sharded_alias, [sku])[sku]
    params = SearchParams(image=b"query", facets=("gender",), candidates=50, k=50)
    (body,) = build_request(params, searcher.schema, vector).searches
    raw = os_client.search(index=sharded_alias, body=body)
    counted = sum(b["doc_count"] for b in raw["aggregations"]["facet:gender"]["values"]["buckets"])
    assert len(raw["hits"]["hits"]) == 50
    if TEST_ENGINE == "elasticsearch":  # its top-level knn keeps the global k before counting
        assert counted == 50
    else:
        assert counted > 50  # the defect, one request
    exact = searcher.search(params, vector=vector)
    assert exact.total == 50 and sum(v.count for v in exact.facets["gender"]) == 50


# --------------------------------------------------------------------------- the steps, no I/O


def _hit(sku: str, score: float) -> dict[str, Any]:
    return {"_score": score, "fields": {"sku": [sku]}}


def _answer(hits: list[dict[str, Any]], shards: int) -> dict[str, Any]:
    return {"_shards": {"total": shards}, "took": 3, "hits": {"hits": hits, "total": len(hits)}}


KNN = {"nested": {"path": "photos", "query": {"knn": {"photos.vector": {"k": 2}}}}}
FACET = {"terms": {"field": "brand", "size": 5}}
VECTOR_BODY = {"size": 2, "query": KNN, "min_score": 0.6, "aggs": {"facet:brand": FACET}}


def test_the_pool_step_and_the_step_over_it() -> None:
    first = pool_body(VECTOR_BODY, 2)
    assert first["query"] == KNN and first["min_score"] == 0.6 and "aggs" not in first
    assert first["sort"][1] == {"sku": {"order": "asc"}} and first["docvalue_fields"] == ["sku"]
    second = over_pool_body(VECTOR_BODY, ["a", "b"])
    assert second["query"] == {"bool": {"filter": [{"terms": {"sku": ["a", "b"]}}]}}
    assert "min_score" not in second and second["size"] == 2
    assert second["aggs"]["facet:brand"]["terms"]["shard_size"] >= 5
    assert "shard_size" not in VECTOR_BODY["aggs"]["facet:brand"]["terms"]  # a copy
    picked = {"aggs": {"x": {"terms": {"field": "brand", "include": ["A"], "size": 1}}}}
    assert "shard_size" not in exact_counts(picked)["aggs"]["x"]["terms"]
    paged = over_pool_body({**VECTOR_BODY, "sort": ["_score"]}, ["b", "a", "c"], page_only=True)
    assert paged["size"] == 2  # the page, not the pool
    assert paged["sort"][0]["_script"]["script"]["params"]["rank"] == {"b": 0, "a": 1, "c": 2}
    shaped = with_pool_scores(_answer([_hit("b", 0), _hit("a", 0)], 3), {"a": 0.5, "b": 0.9})
    assert [(h["fields"]["sku"][0], h["_score"]) for h in shaped["hits"]["hits"]] == [
        ("b", 0.9),
        ("a", 0.5),
    ]


def test_the_layout_decides_how_many_requests() -> None:
    sent: list[list[dict[str, Any]]] = []

    def send(shards: int):  # noqa: ANN202
        def send_lines(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
            sent.append(lines)
            bodies = lines[1::2]
            return [_answer([_hit("a", 0.7), _hit("b", 0.6)], shards) for _ in bodies], 3.0

        return send_lines

    plans = [
        SearchPlan("vector", (VECTOR_BODY,), pool=2),
        SearchPlan("keywords", ({"size": 5, "query": {}},)),
    ]
    layout = ShardLayout()
    send_plans(plans, send(1), layout)
    assert len(sent) == 1 and layout.shards == 1
    assert sent[0][2] == {"search_type": "dfs_query_then_fetch"}  # keyword scores: global stats
    sent.clear()
    (vector, _), took = send_plans(plans, send(3), layout)  # finds out, sends again in 2 steps
    assert len(sent) == 3 and layout.shards == 3 and took == 6.0
    assert sent[1][1]["sort"] and len(sent[2]) == 2  # pools first, then the one over its pool
    assert vector[0]["hits"]["max_score"] == 0.7
    sent.clear()
    send_plans(plans, send(3), layout)
    assert len(sent) == 2  # known: the two steps at once
