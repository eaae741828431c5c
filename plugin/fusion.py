"""Fusion: the signals of a product -> one score in 0..1, the same scale in every mode.

Signals, each in 0..1 (None where a mode has no such signal):
- **look**: cosine similarity to the query vector (lucene's score for other spaces);
- **kind**: how much of the query's visual neighbourhood is the same kind of product
  (`kind_agreement`);
- **words**: 1 if the product matches the words, else 0 (hybrid mode); in keyword mode the
  BM25 score over the best BM25 score of the pool.

Hybrid methods (`SearchParams.fusion`):
- **linear** (default): `(1 - w) * ((1 - KIND_SHARE) * look + KIND_SHARE * kind) + w * words`
  with `w = keyword_weight`;
- **rrf**: weighted reciprocal rank fusion of the look list and the words list,
  `sum weight / (60 + rank)`, divided by its largest possible value so it too lies in 0..1.
Both methods and the defaults were measured by bench/relevance.py (see plugin/README.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

RANK_CONSTANT = 60
KIND_SHARE = 0.5  # of the look part: the neighbourhood's kind, beside the raw similarity
NEIGHBOURHOOD = 3  # nearest products whose kind the query photo is taken to show


def ranks(ids: Sequence[str]) -> dict[str, int]:
    """1-based rank of each id in an already ordered list."""
    return {item: position for position, item in enumerate(ids, start=1)}


def rrf(
    ranked_lists: Sequence[Sequence[str]],
    rank_constant: int = RANK_CONSTANT,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """Fused score of every id in any list, over the most it can be (first in every list)."""
    if rank_constant < 1:
        raise ValueError(f"rank_constant must be >= 1, got {rank_constant}")
    weights = weights or [1.0] * len(ranked_lists)
    best = sum(weights) / (rank_constant + 1)
    fused: dict[str, float] = {}
    for ids, weight in zip(ranked_lists, weights, strict=True):
        for item, rank in ranks(ids).items():
            fused[item] = fused.get(item, 0.0) + weight / (rank_constant + rank) / best
    return fused


def linear(
    look: float, kind: float, words: float, keyword_weight: float, kind_share: float = KIND_SHARE
) -> float:
    """The default hybrid score of one product."""
    return (1 - keyword_weight) * ((1 - kind_share) * look + kind_share * kind) + (
        keyword_weight * words
    )


def kind_agreement(
    neighbours: Sequence[Mapping[str, Any]], attributes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """attribute -> value -> the share of the query's nearest products (`neighbours`, best
    first, their attributes) that have that value. A product of the kind the photo shows
    (article type, category ...) agrees with its neighbourhood even when the words ask for
    another colour."""
    shares: dict[str, dict[str, float]] = {}
    near = neighbours[:NEIGHBOURHOOD]
    for name in attributes:
        counts = Counter(str(source[name]) for source in near if source.get(name) is not None)
        shares[name] = {value: count / len(near) for value, count in counts.items()}
    return shares


def agreement(source: Mapping[str, Any], shares: Mapping[str, Mapping[str, float]]) -> float:
    """A product's mean agreement over the kind attributes (0 when there are none)."""
    if not shares:
        return 0.0
    total = sum(
        shares[name].get(str(source.get(name)), 0.0) if source.get(name) is not None else 0.0
        for name in shares
    )
    return total / len(shares)
