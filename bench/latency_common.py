"""What both parts of bench/query_latency.py share: the facets and stages it measures, its
targets, percentile figures, the warm-up-then-measure query loop, checks on a cached alias
(mapping version, encoder, product count) and on segments, and the machine's load average."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

FACETS = ("colour_group", "article_type", "gender", "brand")
STAGES = (
    ("load", "load_ms"),
    ("encode", "encode_ms"),
    ("OpenSearch took", "opensearch_took_ms"),
    ("OpenSearch round trip", "opensearch_ms"),
    ("total", "total_ms"),
)
TARGET_RECALL = 0.98
TARGET_P95_MS = 30.0
RECALL_K = 10


def percentiles(values: Sequence[float]) -> dict[str, float]:
    data = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(data, 50)), 2),
        "p95": round(float(np.percentile(data, 95)), 2),
        "mean": round(float(data.mean()), 2),
        "max": round(float(data.max()), 2),
    }


def stage_stats(timings: Sequence[Any]) -> dict[str, dict[str, float]]:
    return {attr: percentiles([getattr(t, attr) for t in timings]) for _, attr in STAGES}


def run_queries(
    search: Callable[[Any], Any], queries: Sequence[Any], warmup: Sequence[Any]
) -> list[Any]:
    """SearchResults of `queries`, after running (and dropping) the `warmup` ones."""
    for params in warmup:
        search(params)
    return [search(params) for params in queries]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def alias_holds(client: Any, alias: str, encoder: str, count: int) -> bool:
    """The alias exists with today's mapping version, was embedded by `encoder` and holds
    exactly `count` products."""
    from visearch.ingest.aliases import current_index
    from visearch.ingest.errors import IngestError
    from visearch.mappings.install import mapping_version

    try:
        index = current_index(client, alias)
    except IngestError:
        return False
    if index is None:
        return False
    meta = client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}
    return (
        meta.get("encoder") == encoder
        and meta.get("mapping_version") == mapping_version()
        and client.count(index=index)["count"] == count
    )


def segment_count(client: Any, index: str) -> int:
    rows = client.cat.segments(index=index, format="json")
    return sum(1 for row in rows if str(row.get("searchable")) == "true")
