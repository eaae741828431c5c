"""SearchParams (+ query vector) -> the bodies of the one HTTP request a search makes. No I/O.

| mode     | searches                                                        | ranking          |
|----------|-----------------------------------------------------------------|------------------|
| vector   | A: knn(k=N, hard filters inside), aggs, post_filter, size N (*) | look             |
| hybrid   | A, and B: the same knn among products matching the words, size N | look, kind, words |
| keywords | words `must` + hard filters, aggs, post_filter, size N          | BM25             |
| browse   | hard filters, aggs, post_filter, sorted by the boosts then sku  | server sort      |

(*) When nothing reorders the pool (no re-ranker, no boosts: `engine_orders`), A asks only
for the pages up to the requested one, sorted by score then sku, and the total is the
engine's count of the pool: the same hits, total and facets for a fraction of the cost.

Two searches travel in one `_msearch`; one goes to `_search`. B is A with the words clause
added to the knn filter: the N nearest products that match the words, so a photo plus a
refining word ("red") finds red products like the photo even when none is among the N
nearest overall. The facets count A's pool. On an index with photo centroids (mapping
version 6) each look search also asks for every hit's overall look as a script field (one
dot product per hit), which the explanation reports and the re-ranker weighs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visearch.mappings.fields import PREDICTED
from visearch.plugin.errors import InvalidParamsError
from visearch.plugin.facets import facet_aggs, post_filter
from visearch.plugin.filters import Clause, all_of, check_fields, hard_clauses
from visearch.plugin.keyword import EMPTY, Vocabulary, keyword_clause
from visearch.plugin.knn import knn_clause, min_knn_score, overall_look_field
from visearch.plugin.params import Mode, SearchParams
from visearch.plugin.schema import IndexSchema

# Hits are read from doc values and never touch stored fields (`stored_fields: _none_`): a
# product's stored source holds its photo vectors, and even reading `_id` decompresses the
# stored-field block around it. For a pool of 200 that costs more than the kNN search itself.
HIT_FIELDS = ("sku", "title.keyword", "image", "price", "in_stock", "popularity")
NO_STORED_FIELDS: dict[str, Any] = {"stored_fields": "_none_"}


def hit_fields(schema: IndexSchema) -> dict[str, Any]:
    """No stored fields, plus the doc-value fields a result needs (`sku` identifies it), and
    the predictions that may fill a missing attribute."""
    predicted = [f"{PREDICTED}.{name}.{part}" for name in schema.predicted_fields
                 for part in ("value", "confidence")]  # fmt: skip
    return {
        **NO_STORED_FIELDS,
        "docvalue_fields": [*HIT_FIELDS, *schema.keyword_fields, *predicted],
    }


"""Hits never carry the vector (or ingest's bookkeeping)."""
SCORE_THEN_SKU = [{"_score": {"order": "desc"}}, {"sku": {"order": "asc"}}]


@dataclass(frozen=True)
class SearchPlan:
    """What to send: one body (`_search`) or two (`_msearch`: vector search A, keyword B)."""

    mode: Mode
    searches: tuple[dict[str, Any], ...]
    named: frozenset[str] = frozenset()
    """Attributes the words name ("red" names colour): ranking leaves them to the words."""
    page_only: bool = False
    """The engine's order is the final one, so only the pages up to the requested one are
    fetched (hits sorted by score then sku) and the total is the engine's count."""
    pool: int = 0
    """N, the products a look search's pool holds (0 for keyword and browse searches)."""
    widened: bool = False
    """The knn asks for more candidates than N (a quantized index): the pool is cut to N in
    two steps (plugin/shards.py) even on one shard."""
    exact_alone: bool = False
    """The engine answers this plan exactly on any shard layout (Elasticsearch's top-level
    knn: see plugin/shards.py), so a sharded index needs no pool step."""

    def msearch_body(self) -> list[dict[str, Any]]:
        """NDJSON lines for `_msearch`: an empty header (the index is in the URL) per body."""
        lines: list[dict[str, Any]] = []
        for body in self.searches:
            lines.extend(({}, body))
        return lines


def check_request(params: SearchParams, schema: IndexSchema) -> None:
    """Everything that can fail without the model: run it before spending time on encoding."""
    check_fields(params, schema)
    if params.min_score is not None:
        min_knn_score(params.min_score, schema.space_type)


def build_request(
    params: SearchParams,
    schema: IndexSchema,
    vector: Sequence[float] | np.ndarray | None = None,
    vocabulary: Vocabulary = EMPTY,
    *,
    reranking: bool = False,
) -> SearchPlan:
    """The request for `params`; `vector` is required exactly when there is an image or text;
    `vocabulary`, the index's attribute values, lets keywords name them; `reranking`: a
    re-ranker will reorder the pool, so all of it is fetched."""
    check_request(params, schema)
    schema = schema.serving(params.predicted)
    if params.has_vector_query != (vector is not None):
        raise InvalidParamsError(
            "pass the query vector exactly when the params hold an image or text"
        )
    hard = hard_clauses(params, schema)
    if vector is not None:
        if schema.dim is not None and len(vector) != schema.dim:
            raise InvalidParamsError(
                f"query vector has {len(vector)} dimensions, index {schema.alias!r} {schema.dim}"
            )
        return _vector_plan(params, schema, vector, hard, vocabulary, reranking)
    if params.keywords:
        return SearchPlan("keywords", (_keywords_body(params, schema, hard, vocabulary),))
    return SearchPlan("browse", (_browse_body(params, schema, hard),))


def _with_selections(
    body: dict[str, Any], params: SearchParams, schema: IndexSchema, *, aggs: bool
) -> dict[str, Any]:
    selected = post_filter(params, schema)
    if selected is not None:
        body["post_filter"] = selected
    if aggs:
        body["aggs"] = facet_aggs(params, schema)
    return body


def _vector_plan(
    params: SearchParams,
    schema: IndexSchema,
    vector: Sequence[float] | np.ndarray,
    hard: list[Clause],
    vocabulary: Vocabulary,
    reranking: bool,
) -> SearchPlan:
    n = params.pool_size
    widened = schema.quantized
    knn = knn_clause(vector, n, hard, quantized=widened)
    body: dict[str, Any] = {"size": n, "query": knn}
    page_only = not params.keywords and engine_orders(params, reranking)
    if page_only:
        # The sort starts with _score, so each hit carries its score without `track_scores`,
        # which cost OpenSearch a second scoring pass (about 2 of its 6 ms of CPU a query).
        body.update(size=min(n, (params.page + 1) * params.k), sort=SCORE_THEN_SKU)
    _with_selections(body, params, schema, aggs=True)
    if params.min_score is not None:
        # Server-side, so the facet counts and the total honour it too.
        body["min_score"] = min_knn_score(params.min_score, schema.space_type)
    body.update(hit_fields(schema))
    if schema.centroid:  # each hit's overall look, for the explanation and the re-ranker
        body["script_fields"] = overall_look_field(vector)
    if not params.keywords:
        return SearchPlan("vector", (body,), page_only=page_only, pool=n, widened=widened)
    words = keyword_clause(params.keywords, vocabulary)
    matching = knn_clause(vector, n, [*hard, words], quantized=widened)
    words_body: dict[str, Any] = {"size": n, "query": matching}
    _with_selections(words_body, params, schema, aggs=False)
    if "min_score" in body:
        words_body["min_score"] = body["min_score"]
    words_body.update(hit_fields(schema))
    if "script_fields" in body:
        words_body["script_fields"] = body["script_fields"]
    named = frozenset(name for concept in vocabulary.recognise(params.keywords)
                      for name, _ in concept)  # fmt: skip
    return SearchPlan("hybrid", (body, words_body), named, pool=n, widened=widened)


def engine_orders(params: SearchParams, reranking: bool) -> bool:
    """A look search's final order is the engine's (score, then sku) unless a re-ranker or a
    business boost reorders the pool: then only the requested page need travel. A pool of
    200 costs OpenSearch's fetch phase and the client's parsing far more than a page of 20."""
    boosts = params.boosts
    return not (
        reranking or boosts.in_stock_first or boosts.popularity_weight or boosts.detected_weight
    )


def _keywords_body(
    params: SearchParams, schema: IndexSchema, hard: list[Clause], vocabulary: Vocabulary
) -> dict[str, Any]:
    query: dict[str, Any] = {"must": [keyword_clause(params.keywords or "", vocabulary)]}
    if hard:
        query["filter"] = hard
    body: dict[str, Any] = {
        "size": params.pool_size,
        "query": {"bool": query},
        "sort": SCORE_THEN_SKU,
        "track_total_hits": True,
    }
    _with_selections(body, params, schema, aggs=True)
    body.update(hit_fields(schema))
    return body


def browse_sort(params: SearchParams) -> list[dict[str, Any]]:
    """The boosts as a sort: with no relevance score, fused order is just sku order."""
    sort: list[dict[str, Any]] = []
    if params.boosts.in_stock_first:
        sort.append({"in_stock": {"order": "desc", "missing": 0, "unmapped_type": "boolean"}})
    if params.boosts.popularity_weight > 0:
        sort.append({"popularity": {"order": "desc", "missing": 0, "unmapped_type": "double"}})
    sort.append({"sku": {"order": "asc"}})
    return sort


def _browse_body(params: SearchParams, schema: IndexSchema, hard: list[Clause]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": params.page * params.k,
        "size": params.k,
        "query": all_of(hard),
        "sort": browse_sort(params),
        "track_total_hits": True,
    }
    _with_selections(body, params, schema, aggs=True)
    body.update(hit_fields(schema))
    return body
