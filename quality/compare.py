"""Which categories got worse between two runs: what a merchandiser must see before
switching to a tuned adapter that lifts the average but sinks some products."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def regressions(
    current: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]],
    metric: str = "recall@1",
) -> list[dict[str, Any]]:
    """Categories present in both runs whose `metric` dropped, the largest drop first."""
    worse = []
    for name, now in current.items():
        before = baseline.get(name)
        if before is None or metric not in now or metric not in before:
            continue
        change = float(now[metric]) - float(before[metric])
        if change < 0:
            worse.append({
                "category": name,
                "queries": int(now.get("queries", 0)),
                "before": round(float(before[metric]), 4),
                "after": round(float(now[metric]), 4),
                "change": round(change, 4),
            })  # fmt: skip
    return sorted(worse, key=lambda row: (row["change"], -row["queries"], row["category"]))


def baseline_groups(run_json: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """The per-category figures of a saved `visearch eval --json` output."""
    runs = run_json.get("runs") or [run_json]
    groups = runs[0].get("by_group")
    if not isinstance(groups, Mapping):
        raise ValueError("the baseline is not the JSON output of `visearch eval --json`")
    return groups
