"""The measured rows of bench/scale.py for one index: recall@10 against exact cosine and
OpenSearch took / round trip with four facets, through the real `Searcher`.

Rows (bench/latency_synthetic.py's): no filter, the 20% filter (category=Footwear) and the 2%
filter (category=Sports), with queries near random products (`any`) and near products the
filter selects (`match`). Each row runs on the exact multi-shard path (per-shard k = N, a
global cut, facets over the global pool: plugin/shards.py), and then, for its latency only,
the same searches sent the one-request way (a `Searcher` that is told the alias has one
shard): the difference is what exact results cost.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.latency_common import percentiles
from bench.latency_synthetic import QUERY_MIXES, _search_block, measure, query_run
from bench.latency_synthetic_data import FILTER_2, FILTER_20


class OneRequest:
    """A shard layout that never learns: every search goes out as one request, as on a
    one-shard index (hits cut to N; facet counts see up to N per shard)."""

    shards = 1
    sharded = False

    def learn(self, responses: Any) -> bool:
        return False


def scenarios() -> list[tuple[tuple[str, str] | None, str]]:
    return [(None, "any")] + [(w, mix) for w in (FILTER_20, FILTER_2) for mix in QUERY_MIXES]


def measure_variant(
    client: Any, alias: str, data: Any, args: argparse.Namespace, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One row per scenario: recall and latency on the exact path, latency the one-request way."""
    run = query_run(client, alias, data, args)
    single = replace(run, searcher=replace(run.searcher, _layout=OneRequest()))
    rows = []
    for where, mix in scenarios():
        row = measure(run, where, mix, None)
        row["one_request"] = _latency(single, where, mix)
        rows.append(row)
        log(
            f"  {alias} {row['filter']} {mix}: recall@10 {row['recall_at_10']}, took p50/p95 "
            f"{row['took_ms']['p50']}/{row['took_ms']['p95']} ms (one request "
            f"{row['one_request']['took_ms']['p95']} ms p95)"
        )
    return rows


def _latency(run: Any, where: tuple[str, str] | None, mix: str) -> dict[str, Any]:
    """Took and round-trip percentiles of the row's searches sent the one-request way."""
    _, results = _search_block(run, where, mix, None)
    timings = [r.timings for r in results]
    return {
        "took_ms": percentiles([t.opensearch_took_ms for t in timings]),
        "round_trip_ms": percentiles([t.opensearch_ms for t in timings]),
    }
