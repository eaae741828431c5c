"""Candidate lists -> the final order of the pool, with an explanation for every product.

1. Each list is ordered by score, ties by sku, so the order never depends on shard or segment
   layout and pages never repeat a product.
2. With both lists, the keyword list is restricted to the vector pool (after min_score), and
   the two are fused with RRF (`plugin.fusion`); a single list is "fused" the same way, so
   scores mean the same in every mode.
3. Business boosts, after fusion and without undoing it: `final = fused + w * popularity_norm`
   (popularity min-max normalised over the pool; missing popularity counts as 0), then, with
   `in_stock_first`, a stable partition (in stock first; unknown stock counts as out of stock),
   final order kept within each part. Remaining ties go to the smaller sku.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visearch.plugin.fusion import ranks, rrf
from visearch.plugin.knn import similarity
from visearch.plugin.params import Boosts
from visearch.plugin.response import Candidate, Explanation


@dataclass(frozen=True)
class Ranked:
    sku: str
    source: Mapping[str, Any]
    explanation: Explanation


def by_score(found: Sequence[Candidate]) -> list[Candidate]:
    return sorted(found, key=lambda c: (-c.score, c.sku))


def rank(
    vector: Sequence[Candidate] | None,
    keyword: Sequence[Candidate] | None,
    boosts: Boosts,
    space_type: str | None = None,
) -> list[Ranked]:
    """The whole pool in final order: the vector list's products, else the keyword list's."""
    vec = by_score(vector) if vector is not None else None
    kw = by_score(keyword) if keyword is not None else None
    if vec is not None and kw is not None:
        pool_skus = {c.sku for c in vec}
        kw = [c for c in kw if c.sku in pool_skus]
    pool = vec if vec is not None else kw or []
    vec_ids = [c.sku for c in vec] if vec is not None else []
    kw_ids = [c.sku for c in kw] if kw is not None else []
    fused = rrf([vec_ids, kw_ids])
    vec_rank, kw_rank = ranks(vec_ids), ranks(kw_ids)
    vec_score = {c.sku: c.score for c in vec or []}
    kw_score = {c.sku: c.score for c in kw or []}
    boost = _popularity_boosts(pool, boosts.popularity_weight)

    ranked = []
    for c in pool:
        final = fused[c.sku] + boost.get(c.sku, 0.0)
        score = vec_score.get(c.sku)
        explanation = Explanation(
            vector_score=score,
            similarity=similarity(score, space_type) if score is not None else None,
            vector_rank=vec_rank.get(c.sku),
            keyword_score=kw_score.get(c.sku),
            keyword_rank=kw_rank.get(c.sku),
            fused_score=fused[c.sku],
            popularity_boost=boost.get(c.sku),
            final_score=final,
        )
        ranked.append(Ranked(c.sku, c.source, explanation))

    def order(item: Ranked) -> tuple[bool, float, str]:
        out_of_stock = boosts.in_stock_first and item.source.get("in_stock") is not True
        return (out_of_stock, -(item.explanation.final_score or 0.0), item.sku)

    return sorted(ranked, key=order)


def _popularity(source: Mapping[str, Any]) -> float:
    value = source.get("popularity")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else 0.0


def _popularity_boosts(pool: Sequence[Candidate], weight: float) -> dict[str, float]:
    """sku -> weight * min-max normalised popularity; empty when the weight is 0."""
    if weight <= 0 or not pool:
        return {}
    values = {c.sku: _popularity(c.source) for c in pool}
    low, high = min(values.values()), max(values.values())
    spread = high - low
    return {
        sku: weight * ((value - low) / spread if spread > 0 else 0.0)
        for sku, value in values.items()
    }
