"""Candidate lists -> the final order of the pool, with an explanation for every product.

1. Each list is ordered by score, ties by sku, so the order never depends on shard or segment
   layout and pages never repeat a product.
2. One fused score in 0..1 per product (`plugin.fusion`): the look (cosine similarity) in
   vector mode, BM25 over the pool's best in keyword mode, and in hybrid mode the look, the
   kind agreement and the word match combined by `fusion` with `keyword_weight`. The hybrid
   pool is the look list plus the nearest products that match the words.
3. Optionally, a learned re-ranker (`plugin.rerank`) re-orders the top N of a look search.
4. An exact match (similarity >= EXACT_MATCH: the photographed product itself) goes first in
   hybrid mode, so a refining word reorders the rest without losing it.
5. Business boosts, after fusion and without undoing it: `final = fused + w * popularity_norm`
   (popularity min-max normalised over the pool; missing popularity counts as 0), then, with
   `in_stock_first`, a stable partition (in stock first; unknown stock counts as out of stock),
   final order kept within each part. Remaining ties go to the smaller sku.
6. With `detected_weight` w, a photo query whose category the attribute models detect with
   confidence >= DETECTED_CONFIDENCE adds w to every pool product of that category (its
   catalog value, else its prediction at the fill threshold): a soft preference, no filter.
   Off by default (bench/detected_boost.py; README, Attributes from photos).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from visearch.attributes.predict import FILL_THRESHOLD
from visearch.mappings.fields import PREDICTED
from visearch.plugin.fusion import agreement, kind_agreement, linear, ranks, rrf
from visearch.plugin.knn import similarity
from visearch.plugin.params import Boosts
from visearch.plugin.rerank import Reranker, rerank
from visearch.plugin.response import Candidate, Explanation

EXACT_MATCH = 0.95  # cosine similarity of a near-duplicate photo: the photographed product
DETECTED_ATTRIBUTE = "category"  # the detected attribute the detected boost matches
DETECTED_CONFIDENCE = 0.9  # the detection's confidence the boost needs


@dataclass(frozen=True)
class Ranked:
    sku: str
    source: Mapping[str, Any]
    explanation: Explanation


@dataclass(frozen=True)
class Fusion:
    """How a hybrid search combines look and words (from SearchParams)."""

    method: str = "linear"
    keyword_weight: float = 0.4
    kind_attributes: Sequence[str] = field(default_factory=tuple)
    """Attributes that say what kind of product it is and that the words do not name."""


def by_score(found: Sequence[Candidate]) -> list[Candidate]:
    return sorted(found, key=lambda c: (-c.score, c.sku))


def rank(
    vector: Sequence[Candidate] | None,
    keyword: Sequence[Candidate] | None,
    boosts: Boosts,
    space_type: str | None = None,
    fusion: Fusion | None = None,
    reranker: Reranker | None = None,
    detected: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Ranked]:
    """The whole pool in final order. With both lists, `keyword` holds the nearest products
    that match the words (scored by look) and the pool is both lists together. A `reranker`
    re-orders the top N of a look search (vector or hybrid) before the boosts; `detected` is
    what the attribute models read in the query photo (for `detected_weight`)."""
    vec = by_score(vector) if vector is not None else None
    kw = by_score(keyword) if keyword is not None else None
    if vec is not None and kw is not None:
        explained = _hybrid(vec, kw, space_type, fusion or Fusion())
    elif vec is not None:
        explained = _vector(vec, space_type)
    else:
        explained = _keywords(kw or [])
    if reranker is not None and vec is not None:
        explained = rerank(sorted(explained, key=_best_fused), reranker)
    pool = {sku: source for sku, source, _ in explained}
    boost = _popularity_boosts(pool, boosts.popularity_weight)
    same = detected_boosts(pool, detected or {}, boosts.detected_weight)

    ranked = []
    for sku, source, why in explained:
        extra, kind = boost.get(sku), same.get(sku)
        final = (why.fused_score or 0.0) + (extra or 0.0) + (kind or 0.0)
        if extra is not None or kind is not None or why.final_score != final:
            # (a copy per product costs more than the rest of the ranking: only when it changes)
            why = replace(why, popularity_boost=extra, detected_boost=kind, final_score=final)
        ranked.append(Ranked(sku, source, why))

    def order(item: Ranked) -> tuple[bool, bool, float, str]:
        out_of_stock = boosts.in_stock_first and item.source.get("in_stock") is not True
        pinned = item.explanation.exact_match is True
        return (out_of_stock, not pinned, -(item.explanation.final_score or 0.0), item.sku)

    return sorted(ranked, key=order)


Explained = tuple[str, Mapping[str, Any], Explanation]


def _best_fused(item: Explained) -> tuple[float, str]:
    return -(item[2].fused_score or 0.0), item[0]


def _look(candidate: Candidate, space_type: str | None) -> tuple[float, float | None]:
    """(look signal in 0..1, cosine similarity or None)."""
    cosine = similarity(candidate.score, space_type)
    return (cosine if cosine is not None else candidate.score), cosine


def _vector(vec: Sequence[Candidate], space_type: str | None) -> list[Explained]:
    out = []
    for position, c in enumerate(vec, start=1):
        look, cosine = _look(c, space_type)
        why = Explanation(vector_score=c.score, similarity=cosine,
                          centroid_similarity=c.overall_look, vector_rank=position,
                          fused_score=look, final_score=look)  # fmt: skip
        out.append((c.sku, c.source, why))
    return out


def _keywords(kw: Sequence[Candidate]) -> list[Explained]:
    best = max((c.score for c in kw), default=0.0)
    out = []
    for position, c in enumerate(kw, start=1):
        why = Explanation(keyword_score=c.score, keyword_rank=position, keyword_match=True,
                          fused_score=c.score / best if best > 0 else 0.0)  # fmt: skip
        out.append((c.sku, c.source, why))
    return out


def _hybrid(
    vec: Sequence[Candidate], kw: Sequence[Candidate], space_type: str | None, fusion: Fusion
) -> list[Explained]:
    """The look list and the nearest word matches, fused; both lists are scored by look."""
    pool: dict[str, Candidate] = {c.sku: c for c in [*kw, *vec]}
    vec_rank, kw_rank = ranks([c.sku for c in vec]), ranks([c.sku for c in kw])
    shares = kind_agreement([c.source for c in vec], fusion.kind_attributes)
    w = fusion.keyword_weight
    if fusion.method == "rrf":
        fused_rrf = rrf([list(vec_rank), list(kw_rank)], weights=[1 - w, w])
    out = []
    for c in by_score(list(pool.values())):
        look, cosine = _look(c, space_type)
        kind = agreement(c.source, shares)
        matched = c.sku in kw_rank
        if fusion.method == "rrf":
            fused = fused_rrf.get(c.sku, 0.0)
        else:
            fused = linear(look, kind, float(matched), w)
        why = Explanation(
            vector_score=c.score,
            similarity=cosine,
            centroid_similarity=c.overall_look,
            vector_rank=vec_rank.get(c.sku),
            keyword_rank=kw_rank.get(c.sku),
            keyword_match=matched,
            kind_agreement=kind if shares else None,
            exact_match=cosine is not None and cosine >= EXACT_MATCH and vec_rank.get(c.sku) == 1,
            fused_score=fused,
        )
        out.append((c.sku, c.source, why))
    return out


def _popularity(source: Mapping[str, Any]) -> float:
    value = source.get("popularity")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else 0.0


def _popularity_boosts(pool: Mapping[str, Mapping[str, Any]], weight: float) -> dict[str, float]:
    """sku -> weight * min-max normalised popularity over the pool (sku -> source); empty
    when the weight is 0."""
    if weight <= 0 or not pool:
        return {}
    values = {sku: _popularity(source) for sku, source in pool.items()}
    low, high = min(values.values()), max(values.values())
    spread = high - low
    return {
        sku: weight * ((value - low) / spread if spread > 0 else 0.0)
        for sku, value in values.items()
    }


def detected_boosts(
    pool: Mapping[str, Mapping[str, Any]],
    detected: Mapping[str, Mapping[str, Any]],
    weight: float,
) -> dict[str, float]:
    """sku -> `weight` for the pool's products of the category detected in the query photo
    (confident detections only); empty when the weight is 0 or nothing confident was read."""
    guess = detected.get(DETECTED_ATTRIBUTE)
    if weight <= 0 or not guess or float(guess.get("confidence", 0.0)) < DETECTED_CONFIDENCE:
        return {}
    wanted = guess.get("value")
    return {sku: weight for sku, source in pool.items() if _category(source) == wanted}


def _category(source: Mapping[str, Any]) -> Any:
    """The product's value of DETECTED_ATTRIBUTE: the catalog's, else a confident prediction
    (one the filters would count)."""
    value = source.get(DETECTED_ATTRIBUTE)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is not None:
        return value
    guess = (source.get(PREDICTED) or {}).get(DETECTED_ATTRIBUTE) or {}
    return guess.get("value") if guess.get("confidence", 0.0) >= FILL_THRESHOLD else None
