"""The fashion part of bench/query_latency.py: catalog photos as queries on the real
9,261-product fashion catalog, through the real loader, encoder and Searcher.

The alias `--fashion-alias` (default `bench-fashion`) is used, or `bench-ingest` (left behind
by bench/ingest_throughput.py), when it holds the same catalog with the same encoder and
today's mapping version; otherwise the catalog is ingested into `--fashion-alias` first,
force-merged to one segment as `visearch ingest --merge` leaves it (the report says how many
segments the alias holds).
Each query asks for k 20 with the facets and a hard filter on the photo's category; with
several runtimes (`--runtimes`), each query runs on each of them in turn.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency_common import FACETS, alias_holds, segment_count, stage_stats

FASHION_K = 20


def fashion_alias(client: Any, args: argparse.Namespace, encoder: Any, count: int) -> tuple:
    """(alias, ingest summary or None): a cached alias holding the catalog, or the
    encoder's own alias freshly ingested (`--fashion-alias`, suffixed with the precision
    when it changes the vectors: `bench-fashion-int8`)."""
    from bench.runtime_args import alias_for
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest

    own = alias_for(args.fashion_alias, encoder.name)
    alias = next(
        (a for a in (own, "bench-ingest") if alias_holds(client, a, encoder.name, count)), None
    )
    built = None
    if alias is None:
        alias = own
        source = CatalogSource(args.catalog)
        options = IngestOptions(merge=True)  # one segment, as a served catalog would be
        summary = run_ingest(client, source, alias, encoder.name, lambda: encoder, options)
        built = summary.as_dict()
    return alias, built


def fashion_params(product: Any, base_dir: Path) -> Any:
    """SearchParams for one catalog photo: k 20, the facets, filtered to its category."""
    from visearch.plugin.params import SearchParams

    return SearchParams(
        image=str(base_dir / product.image),
        k=FASHION_K,
        facets=FACETS,
        filters={"category": product.attributes["category"]},
    )


def fashion_parts(clients: list[Any], args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    """Per cluster of `clients`, one report per runtime of `--runtimes` (default
    `--runtime`). The queries are interleaved over every (cluster, runtime) side: the same
    photo on each in turn, the order reversed every other photo, so each sees the same load."""
    from bench.runtime_args import runtime_sides
    from visearch.ingest.catalog import read_catalog
    from visearch.plugin.search import Searcher
    from visearch.vectors import load_encoder

    catalog = read_catalog(args.catalog)
    products = catalog.products
    base_dir = args.catalog.resolve().parent
    sides = []
    for variant in runtime_sides(args):
        encoder = load_encoder(variant.encoder, runtime=variant.runtime)
        for n, client in enumerate(clients):
            alias, built = fashion_alias(client, args, encoder, len(products))
            searcher = Searcher(client, alias, encoder)
            sides.append((n, (variant.label, encoder, alias, built, searcher)))

    picks = np.linspace(0, len(products) - 1, args.queries + args.warmup).round().astype(int)
    chosen = [products[i] for i in picks]
    warm = [fashion_params(p, base_dir) for p in chosen[: args.warmup]]
    measured = [fashion_params(p, base_dir) for p in chosen[args.warmup :]]
    for params in warm:
        for _, side in sides:
            side[-1].search(params)
    results: list[list[Any]] = [[] for _ in sides]
    for n, params in enumerate(measured):
        order = range(len(sides)) if n % 2 == 0 else reversed(range(len(sides)))
        for i in order:
            results[i].append(sides[i][1][-1].search(params))
    common = {
        "warmup": len(warm),
        "k": FASHION_K,
        "candidates": measured[0].pool_size,
        "facets": list(FACETS),
        "filter": "category = the query photo's category",
    }
    reports: list[list[dict[str, Any]]] = [[] for _ in clients]
    for (n, side), found in zip(sides, results, strict=True):
        reports[n].append(_side_report(clients[n], side, found, chosen[args.warmup :], common))
    return reports


def _side_report(
    client: Any, side: tuple, results: list[Any], products: list[Any], common: dict[str, Any]
) -> dict[str, Any]:
    label, encoder, alias, built, _ = side
    found_itself = sum(
        r.hits and r.hits[0].sku == p.sku for r, p in zip(results, products, strict=True)
    )
    stages = stage_stats([r.timings for r in results])
    return {
        "label": label,
        "alias": alias,
        "built": built,
        "products": client.count(index=alias)["count"],
        "segments": segment_count(client, alias),
        "encoder": encoder.name,
        "runtime": getattr(encoder, "runtime", "torch"),
        "queries": len(results),
        **common,
        "photo_is_top_hit": round(found_itself / len(results), 4),
        "stages_ms": stages,
        "total_over_encode_p95": round(
            stages["total_ms"]["p95"] / max(stages["encode_ms"]["p95"], 1e-9), 2
        ),
    }
