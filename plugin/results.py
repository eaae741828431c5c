"""The responses of one search plan -> the SearchResult a caller sees: the requested page of
the ranked pool (look and word signals fused, boosts, an optional re-ranker), the facets and
the price stats. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visearch.mappings.fields import KIND_ATTRIBUTES
from visearch.plugin.params import SearchParams
from visearch.plugin.ranking import Fusion, Ranked, rank
from visearch.plugin.request import SearchPlan
from visearch.plugin.rerank import Reranker
from visearch.plugin.response import (
    Explanation,
    Hit,
    SearchResult,
    Timings,
    candidates,
    facets,
    price_stats,
    to_hit,
    total_hits,
)
from visearch.plugin.schema import IndexSchema


def page_of(
    plan: SearchPlan,
    params: SearchParams,
    responses: Sequence[Mapping[str, Any]],
    schema: IndexSchema,
    reranker: Reranker | None = None,
    detected: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[tuple[Hit, ...], int]:
    """The requested page of the ranked pool, and how many results there are in all
    (`detected`: what the models read in the query photo, for the detected boost)."""
    fields = schema.keyword_fields
    filling = (schema.predicted_fields, schema.fill_threshold)
    if plan.mode == "browse":  # the server sorted and paged
        found = candidates(responses[0])
        hits = tuple(to_hit(c.sku, c.source, Explanation(), fields, *filling) for c in found)
        return hits, total_hits(responses[0])
    ranked: list[Ranked]
    if plan.mode == "keywords":
        ranked = rank(None, candidates(responses[0]), params.boosts)
        total = total_hits(responses[0])
    else:
        keyword = candidates(responses[1]) if plan.mode == "hybrid" else None
        kinds = [name for name in KIND_ATTRIBUTES
                 if name in schema.keyword_fields and name not in plan.named]  # fmt: skip
        fusion = Fusion(str(params.fusion), params.keyword_weight, kinds)
        ranked = rank(candidates(responses[0]), keyword, params.boosts, schema.space_type, fusion,
                      reranker, detected)  # fmt: skip
        total = total_hits(responses[0]) if plan.page_only else len(ranked)
    start = params.page * params.k
    page = ranked[start : start + params.k]
    hits = tuple(to_hit(r.sku, r.source, r.explanation, fields, *filling) for r in page)
    return hits, total


def search_result(
    plan: SearchPlan,
    params: SearchParams,
    responses: Sequence[Mapping[str, Any]],
    schema: IndexSchema,
    timings: Timings,
    reranker: Reranker | None = None,
    detected: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchResult:
    """`schema` is the one the search saw (`IndexSchema.serving`)."""
    hits, total = page_of(plan, params, responses, schema, reranker, detected)
    aggs = responses[0].get("aggregations", {})
    return SearchResult(
        mode=plan.mode,
        hits=hits,
        total=total,
        page=params.page,
        k=params.k,
        candidates=None if plan.mode == "browse" else params.pool_size,
        facets=facets(aggs, params),
        price=price_stats(aggs),
        timings=timings,
    )
