"""The synthetic part of bench/query_latency.py: kNN recall@10 against brute force, and
OpenSearch latency, with filters and facets on `--synthetic-size` generated products.

The catalog comes from bench/latency_synthetic_data.py and its cached index from
bench/latency_synthetic_index.py. One query matrix holds `queries + warmup` perturbed
product vectors near random products, then as many near the products of each filter; the
stand-in encoder serves them to the real `Searcher.search`. Each row of the table is one
filter (none, category=Footwear ~20%, category=Sports ~2%) and one query mix (QUERY_MIXES),
at the default pool size, and then at each `--candidates-sweep` pool size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.latency_common import (
    FACETS,
    RECALL_K,
    percentiles,
    run_queries,
    segment_count,
)
from bench.latency_synthetic_data import (
    FILTER_2,
    FILTER_20,
    SYNTH_DIM,
    SYNTH_ENCODER,
    SYNTH_SEED,
    QueryMatrixEncoder,
    Synthetic,
    exact_top,
    make_synthetic,
    perturbed_queries,
)
from bench.latency_synthetic_index import build_synthetic, cached_index_matches, synthetic_alias

QUERY_MIXES = {
    "any": "queries near random products (mostly of other categories than the filter's)",
    "match": "queries near products the filter selects (a shoe photo, filtered to Footwear)",
}
Where = tuple[str, str] | None


@dataclass
class QueryRun:
    """What every measured row shares: the catalog, the query matrix (blocks of `total`
    rows starting at `offsets`, the first `warmup` of each discarded), and the searcher."""

    data: Synthetic
    vectors: np.ndarray
    offsets: dict[str, int]
    encoder: QueryMatrixEncoder
    searcher: Any
    warmup: int
    total: int


def synthetic_parts(
    clients: list[Any], args: argparse.Namespace, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The synthetic part on each cluster of `clients`: one generated catalog and query
    matrix, each cluster's cached (or rebuilt) index, then every row measured on each
    cluster in turn, so that clusters compared side by side see the same load."""
    started = time.perf_counter()
    data = make_synthetic(args.synthetic_size)
    log(f"generated {len(data):,} x {SYNTH_DIM} in {time.perf_counter() - started:.1f} s")
    alias = synthetic_alias(args.synthetic_size)
    runs, places = [], []
    for client in clients:
        built = None
        if args.rebuild or not cached_index_matches(client, alias, data):
            log(f"building {alias} (bulk load + force merge; takes minutes) ...")
            built = build_synthetic(client, alias, data, log)
            log(f"built: {built}")
        (index,) = client.indices.get_alias(name=alias)
        runs.append(query_run(client, alias, data, args))
        places.append({"alias": alias, "index": index, "built": built})

    scenarios = [(None, "any")] + [(w, mix) for w in (FILTER_20, FILTER_2) for mix in QUERY_MIXES]
    results = _each([(w, mix, None) for w, mix in scenarios], runs)
    log(f"default pool measured ({time.perf_counter() - started:.0f} s so far)")
    sweep = _each([(w, mix, c) for w, mix in scenarios[1:] for c in args.candidates_sweep], runs)
    return [
        _summary(client, args, data, place, rows, swept)
        for client, place, rows, swept in zip(clients, places, results, sweep, strict=True)
    ]


def _each(rows: list[tuple[Where, str, int | None]], runs: list[QueryRun]) -> list[list[dict]]:
    """Per run, its measured rows: each row on every run in turn (alternating the order)."""
    out: list[list[dict[str, Any]]] = [[] for _ in runs]
    for n, (where, mix, candidates) in enumerate(rows):
        order = range(len(runs)) if n % 2 == 0 else reversed(range(len(runs)))
        measured = {i: measure(runs[i], where, mix, candidates) for i in order}
        for i in range(len(runs)):
            out[i].append(measured[i])
    return out


def query_run(client: Any, alias: str, data: Synthetic, args: argparse.Namespace) -> QueryRun:
    """One query matrix: `total` rows near random products, then `total` near products of
    each filter; the stand-in encoder serves all of them."""
    from visearch.plugin.search import Searcher

    total = args.queries + args.warmup
    filters = {"any": None, FILTER_20[1]: FILTER_20, FILTER_2[1]: FILTER_2}
    blocks = {
        name: perturbed_queries(
            data, total, SYNTH_SEED + i + 1, None if where is None else data.mask(*where)
        )
        for i, (name, where) in enumerate(filters.items())
    }
    offsets = dict(zip(blocks, range(0, total * len(blocks), total), strict=True))
    vectors = np.vstack(list(blocks.values()))
    encoder = QueryMatrixEncoder(SYNTH_ENCODER, vectors)
    searcher = Searcher(client, alias, encoder)
    return QueryRun(data, vectors, offsets, encoder, searcher, args.warmup, total)


def measure(run: QueryRun, where: Where, mix: str, candidates: int | None) -> dict[str, Any]:
    """One row: recall@10 against exact cosine over the filtered products, and latency."""
    rows, results = _search_block(run, where, mix, candidates)
    mask = run.data.mask(*where) if where else None
    exact = exact_top(run.data, mask, run.vectors[rows], RECALL_K)
    recall = [
        len({hit.sku for hit in result.hits} & truth) / RECALL_K
        for result, truth in zip(results, exact, strict=True)
    ]
    timings = [r.timings for r in results]
    return {
        "filter": "none" if where is None else f"{where[0]}={where[1]}",
        "queries": mix,
        "selectivity": round(float(mask.mean()), 4) if mask is not None else 1.0,
        "candidates": results[0].candidates,
        "recall_at_10": round(float(np.mean(recall)), 4),
        "recall_at_10_min": round(float(np.min(recall)), 2),
        "took_ms": percentiles([t.opensearch_took_ms for t in timings]),
        "round_trip_ms": percentiles([t.opensearch_ms for t in timings]),
        "total_ms": percentiles([t.total_ms for t in timings]),
    }


def _search_block(
    run: QueryRun, where: Where, mix: str, candidates: int | None
) -> tuple[list[int], list[Any]]:
    """(measured rows of the query matrix, their SearchResults), warm-up rows run first."""
    from visearch.plugin.params import SearchParams

    offset = run.offsets["any" if mix == "any" or where is None else where[1]]
    hard = {where[0]: where[1]} if where else {}

    def params(row: int) -> SearchParams:
        return SearchParams(
            image=run.encoder.image(row),
            k=RECALL_K,
            facets=FACETS,
            filters=hard,
            candidates=candidates,
        )

    rows = list(range(offset + run.warmup, offset + run.total))
    warm = [params(r) for r in range(offset, offset + run.warmup)]
    return rows, run_queries(run.searcher.search, [params(r) for r in rows], warm)


def _summary(
    client: Any,
    args: argparse.Namespace,
    data: Synthetic,
    place: dict[str, Any],
    results: list[dict[str, Any]],
    sweep: list[dict[str, Any]],
) -> dict[str, Any]:
    """The synthetic part of the report; `place` holds the alias, index and build summary."""
    counts = {field: _shares(values) for field, values in data.text.items() if field != "brand"}
    return {
        **place,
        "products": client.count(index=place["alias"])["count"],
        "dim": SYNTH_DIM,
        "generator": SYNTH_ENCODER,
        "segments": segment_count(client, place["index"]),
        "hnsw": {"m": 16, "ef_construction": 128, "engine": "lucene", "space": "cosinesimil"},
        "queries": args.queries,
        "warmup": args.warmup,
        "query_mixes": QUERY_MIXES,
        "facets": list(FACETS),
        "attribute_shares": counts,
        "top_brand_share": max(_shares(data.text["brand"]).values()),
        "in_stock_share": round(float(data.in_stock.mean()), 3),
        "scenarios": results,
        "candidates_sweep": sweep,
    }


def _shares(values: np.ndarray) -> dict[str, float]:
    names, counts = np.unique(values.astype(str), return_counts=True)
    order = np.argsort(-counts)
    return {str(names[i]): round(float(counts[i]) / len(values), 4) for i in order[:8]}
