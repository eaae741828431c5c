"""The printed report of bench/scale.py: per index variant, recall@10 and latency per row, the
sizes per million products, sq against fp32, and what 10M and 100M products need.

The estimate scales the measured per-million figures linearly (HNSW graph and vectors grow
with the product count; the rest of the index too) and sizes nodes by two rules: the search
working set (graph + compared vectors) of every shard copy stays in the page cache, and disk
stays under 75% full. The node it assumes is stated with the figures.
"""

from __future__ import annotations

import math
from typing import Any

from bench.latency_common import TARGET_RECALL

TARGET_P95_MS = 50.0
GIB = 1024**3
NODE_RAM_GIB = 64
NODE_HEAP_GIB = 8
NODE_PAGE_CACHE_GIB = 48
"""Of a 64 GB node: 8 GB heap (vectors live off the heap), 8 GB for the OS, 48 for pages."""
NODE_DISK_GIB = 1024
DISK_FILL = 0.75
REPLICAS = 1


def per_million(variant: dict[str, Any], size: int) -> dict[str, float]:
    """Bytes per million products: primary store, search working set, raw vectors."""
    sizes = variant["sizes"]
    scale = 1_000_000 / size
    return {
        "store": sizes["store_bytes"] * scale,
        "working_set": sizes["search_working_set_bytes"] * scale,
        "vectors": sum(sizes["vector_files_bytes"].values()) * scale,
    }


def estimate(per_m: dict[str, float], products: int, replicas: int = REPLICAS) -> dict[str, Any]:
    """Nodes, page cache and disk for `products`, with `replicas` copies of every shard."""
    copies = 1 + replicas
    millions = products / 1_000_000
    hot = per_m["working_set"] * millions * copies / GIB
    disk = per_m["store"] * millions * copies / GIB
    nodes = max(
        3,
        math.ceil(hot / NODE_PAGE_CACHE_GIB),
        math.ceil(disk / (NODE_DISK_GIB * DISK_FILL)),
    )
    return {
        "products": products,
        "nodes": nodes,
        "page_cache_gib": round(hot, 1),
        "disk_gib": round(disk, 1),
    }


def print_report(report: dict[str, Any]) -> None:
    cluster = report["cluster"]
    layout = report["layout"]
    print(
        f"OpenSearch {report['opensearch']}, {cluster['nodes']} nodes ({cluster['status']}), "
        f"{report['size']:,} synthetic 512-d products, {layout['shards']} shards + "
        f"{layout['replicas']} replicas; load average {report['load_before']} -> "
        f"{report['load_after']}"
    )
    heap = sum(cluster["heap_max_bytes"]) / GIB
    print(f"heap: {heap:.1f} GiB in all, {sum(report['nodes_after']['heap_used_bytes']) / GIB:.1f}"
          " GiB used after the searches")  # fmt: skip
    per_m: dict[str, dict[str, float]] = {}
    for name, variant in report["variants"].items():
        per_m[name] = per_million(variant, report["size"])
        _print_variant(name, variant, per_m[name])
    if "fp32" in per_m and "sq" in per_m:
        _print_sq(report["variants"], per_m)
    for name, figures in per_m.items():  # sq only counts where its recall holds up
        _print_estimate(figures, name)


def _print_variant(name: str, variant: dict[str, Any], per_m: dict[str, float]) -> None:
    sizes = variant["sizes"]
    print(
        f"\n[{name}] {sizes['index']}: {sizes['store_bytes'] / GIB:.2f} GiB on disk "
        f"(primaries), {sizes['segments']} segments; per million products: store "
        f"{per_m['store'] / GIB:.2f} GiB, search working set {per_m['working_set'] / GIB:.2f} GiB"
    )
    files = ", ".join(f"{k} {v / GIB:.2f}" for k, v in sizes["vector_files_bytes"].items() if v)
    print(f"  vector files (GiB): {files}")
    if variant.get("built"):
        built = variant["built"]
        print(f"  built here: {built['docs_per_s']} docs/s, force merge {built['force_merge_s']} s")
    for row in variant.get("rows", []):
        one = row["one_request"]
        ok = row["recall_at_10"] >= TARGET_RECALL and row["took_ms"]["p95"] <= TARGET_P95_MS
        print(
            f"  {row['filter']:<18} {row['queries']:<5} recall@10 {row['recall_at_10']:.3f}  "
            f"took p50/p95 {row['took_ms']['p50']:>5.1f}/{row['took_ms']['p95']:>5.1f} ms  "
            f"round trip p95 {row['round_trip_ms']['p95']:>5.1f} ms  one request: took p95 "
            f"{one['took_ms']['p95']:>5.1f} ms  {'ok' if ok else 'MISSES TARGET'}"
        )


def _print_sq(variants: dict[str, Any], per_m: dict[str, dict[str, float]]) -> None:
    ratio = per_m["sq"]["working_set"] / per_m["fp32"]["working_set"]
    fp32, sq = variants["fp32"].get("rows", []), variants["sq"].get("rows", [])
    deltas = [s["recall_at_10"] - f["recall_at_10"] for f, s in zip(fp32, sq, strict=False)]
    change = f"{min(deltas):+.3f} to {max(deltas):+.3f}" if deltas else "not measured"
    print(
        f"\nsq over fp32: search working set x{ratio:.2f}, disk x"
        f"{per_m['sq']['store'] / per_m['fp32']['store']:.2f}; recall@10 change per row {change}"
    )


def _print_estimate(per_m: dict[str, float], name: str) -> None:
    print(
        f"\nestimate ({name}, {REPLICAS} replica, nodes of {NODE_RAM_GIB} GB RAM with "
        f"{NODE_HEAP_GIB} GB heap and {NODE_PAGE_CACHE_GIB} GB for the page cache, "
        f"{NODE_DISK_GIB} GB disk filled to {DISK_FILL:.0%}):"
    )
    for products in (10_000_000, 100_000_000):
        e = estimate(per_m, products)
        print(
            f"  {products:>11,} products: {e['nodes']} nodes, {e['page_cache_gib']} GiB of "
            f"page cache and {e['disk_gib']} GiB of disk in all"
        )
