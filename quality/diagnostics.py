"""Failure-mode diagnostics of an evaluation: colour bias, category collapse and leakage.

A figure that could not be measured says so (`None` with a reason), never a made-up zero:
a catalog without colours has no colour bias to report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visearch.quality.catalog_vectors import CatalogVectors

NEAR_DUPLICATE = 0.98  # cosine, in the base encoder's space, above which photos are the same


@dataclass(frozen=True)
class Leak:
    query_id: str
    rule: str  # "exact" (same bytes as a catalog photo) | "near-duplicate" (base space)
    sku: str
    cosine: float | None = None


def category(attributes: dict[str, Any]) -> str:
    return str(attributes.get("article_type") or attributes.get("category") or "unknown")


def diagnostics(
    rankings: Sequence[Sequence[str]],
    relevants: Sequence[Sequence[str]],
    catalog: CatalogVectors,
    leaks: Sequence[Leak],
    leak_rules: dict[str, str],
    top: int = 10,
) -> dict[str, Any]:
    colour_bias, purity, wrong_collapse = [], [], 0
    for ranked, relevant in zip(rankings, relevants, strict=True):
        wanted = catalog.attributes.get(relevant[0], {})
        hits = [catalog.attributes.get(sku, {}) for sku in ranked[:top]]
        if not hits:
            continue
        colour, kind = wanted.get("colour"), category(wanted)
        if colour:
            biased = [h for h in hits if h.get("colour") == colour and category(h) != kind]
            colour_bias.append(len(biased) / len(hits))
        counts = Counter(category(h) for h in hits)
        top_category, top_count = counts.most_common(1)[0]
        purity.append(top_count / len(hits))
        if top_count == len(hits) and top_category != kind:
            wrong_collapse += 1
    n = len(rankings)
    return {
        "colour_bias": _measured(
            colour_bias,
            "mean_share_same_colour_other_category_top10",
            "queries_with_colour",
            "no colour attribute on the relevant products",
        ),
        "category_collapse": {
            "mean_top10_category_purity": _mean(purity),
            "queries_top10_all_one_wrong_category": wrong_collapse,
        },
        "leakage": {
            "queries_matching_a_catalog_photo": len(leaks),
            "share": len(leaks) / n if n else 0.0,
            "by_rule": dict(Counter(leak.rule for leak in leaks)),
            "rules": leak_rules,
            "examples": [leak.__dict__ for leak in leaks[:10]],
        },
    }


def _measured(values: list[float], name: str, count_name: str, why_not: str) -> dict[str, Any]:
    if not values:
        return {name: None, count_name: 0, "not_measured": why_not}
    return {name: _mean(values), count_name: len(values)}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
