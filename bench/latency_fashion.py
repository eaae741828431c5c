"""The fashion part of bench/query_latency.py: catalog photos as queries on the real
9,261-product fashion catalog, through the real loader, encoder and Searcher.

The alias `--fashion-alias` (default `bench-fashion`) is used, or `bench-ingest` (left behind
by bench/ingest_throughput.py), when it holds the same catalog with the same encoder and
today's mapping version; otherwise the catalog is ingested into `--fashion-alias` first.
Each query asks for k 20 with the facets and a hard filter on the photo's category.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency_common import FACETS, alias_holds, run_queries, segment_count, stage_stats

FASHION_K = 20


def fashion_alias(client: Any, args: argparse.Namespace, encoder: Any, count: int) -> tuple:
    """(alias, ingest summary or None): a cached alias holding the catalog, or
    `--fashion-alias` freshly ingested."""
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest

    alias = next(
        (
            a
            for a in (args.fashion_alias, "bench-ingest")
            if alias_holds(client, a, encoder.name, count)
        ),
        None,
    )
    built = None
    if alias is None:
        alias = args.fashion_alias
        source = CatalogSource(args.catalog)
        summary = run_ingest(client, source, alias, encoder.name, lambda: encoder, IngestOptions())
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


def fashion_part(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    from bench.runtime_args import runtime_of
    from visearch.ingest.catalog import read_catalog
    from visearch.plugin.search import Searcher
    from visearch.vectors import load_encoder

    catalog = read_catalog(args.catalog)
    products = catalog.products
    base_dir = args.catalog.resolve().parent
    encoder = load_encoder(args.encoder, runtime=runtime_of(args))
    alias, built = fashion_alias(client, args, encoder, len(products))
    searcher = Searcher(client, alias, encoder)

    picks = np.linspace(0, len(products) - 1, args.queries + args.warmup).round().astype(int)
    chosen = [products[i] for i in picks]
    warm = [fashion_params(p, base_dir) for p in chosen[: args.warmup]]
    measured = [fashion_params(p, base_dir) for p in chosen[args.warmup :]]
    results = run_queries(searcher.search, measured, warm)
    found_itself = sum(
        r.hits and r.hits[0].sku == p.sku
        for r, p in zip(results, chosen[args.warmup :], strict=True)
    )
    return {
        "alias": alias,
        "built": built,
        "products": client.count(index=alias)["count"],
        "segments": segment_count(client, alias),
        "encoder": encoder.name,
        "runtime": getattr(encoder, "runtime", "torch"),
        "queries": len(results),
        "warmup": len(warm),
        "k": FASHION_K,
        "candidates": measured[0].pool_size,
        "facets": list(FACETS),
        "filter": "category = the query photo's category",
        "photo_is_top_hit": round(found_itself / len(results), 4),
        "stages_ms": stage_stats([r.timings for r in results]),
    }
