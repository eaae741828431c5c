"""Reciprocal rank fusion: combine ranked lists by rank alone, so BM25 and cosine scores,
which live on unrelated scales, never need to be calibrated against each other.

score(d) = sum over the lists that contain d of 1 / (rank_constant + rank_d), ranks 1-based;
a product missing from a list gets no term from it.
"""

from __future__ import annotations

from collections.abc import Sequence

RANK_CONSTANT = 60


def ranks(ids: Sequence[str]) -> dict[str, int]:
    """1-based rank of each id in an already ordered list."""
    return {item: position for position, item in enumerate(ids, start=1)}


def rrf(
    ranked_lists: Sequence[Sequence[str]], rank_constant: int = RANK_CONSTANT
) -> dict[str, float]:
    """Fused score of every id that appears in any list."""
    if rank_constant < 1:
        raise ValueError(f"rank_constant must be >= 1, got {rank_constant}")
    fused: dict[str, float] = {}
    for ids in ranked_lists:
        for item, rank in ranks(ids).items():
            fused[item] = fused.get(item, 0.0) + 1.0 / (rank_constant + rank)
    return fused
