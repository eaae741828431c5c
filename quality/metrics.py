"""Ranking metrics over SKU lists: pure functions, checked against brute force in the tests."""

from __future__ import annotations

import math
from collections.abc import Sequence


def recall_at(ranked: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """Share of the relevant SKUs found in the top k."""
    wanted = set(relevant)
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[str], relevant: Sequence[str]) -> float:
    wanted = set(relevant)
    return next((1.0 / rank for rank, sku in enumerate(ranked, 1) if sku in wanted), 0.0)


def ndcg_at(ranked: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """Binary-relevance nDCG@k."""
    wanted = set(relevant)
    dcg = sum(1.0 / math.log2(rank + 1) for rank, sku in enumerate(ranked[:k], 1) if sku in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return dcg / ideal


def summarize(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Sequence[str]], ks: Sequence[int]
) -> dict[str, float]:
    """Mean Recall@k for each k, MRR and nDCG@10 over the queries."""
    n = len(rankings)
    if n == 0:
        return {}
    pairs = list(zip(rankings, relevants, strict=True))
    out = {f"recall@{k}": sum(recall_at(r, rel, k) for r, rel in pairs) / n for k in ks}
    out["mrr"] = sum(reciprocal_rank(r, rel) for r, rel in pairs) / n
    out["ndcg@10"] = sum(ndcg_at(r, rel, 10) for r, rel in pairs) / n
    return out
