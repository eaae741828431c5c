"""The indices of bench/scale.py: the synthetic catalog of bench/latency_synthetic_data.py on a
cluster, one index per vector encoding (`fp32`: lucene HNSW over float vectors, our template
as it is; `sq`: the same with Lucene's 7-bit scalar quantization, `encoder: sq`), each with
`--shards` primaries, bulk-loaded with refresh off and force-merged to one segment per shard.
A cached index is reused while it holds the same catalog (bench/latency_synthetic_index.py).

Sizes come from the index stats with per-file sizes: the raw vectors (`vec`), the HNSW graph
(`vex`), the quantized vectors (`veq`), and everything else (stored `_source`, doc values,
terms). What a search touches at random, and so must stay in the page cache to be fast, is
the graph plus the vectors it compares: `vec` for fp32, `veq` for sq (the raw vectors are
then only read at merges).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.latency_common import segment_count
from bench.latency_synthetic_data import SYNTH_ENCODER, Synthetic
from bench.latency_synthetic_index import bulk_load, cached_index_matches

VARIANTS: dict[str, dict[str, Any] | None] = {
    "fp32": None,
    "sq": {"name": "sq", "parameters": {"bits": 7}},
}
"""Vector encoding -> the k-NN `method.parameters.encoder` (None: float vectors)."""
VECTOR_FILES = {
    "vec": "raw float vectors",
    "vex": "HNSW graph",
    "veq": "quantized vectors",
}


def scale_alias(size: int, variant: str, shards: int = 3) -> str:
    """`bench-scale-1m-fp32`; another shard count than three is named (`-1shard`)."""
    label = f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"
    return f"bench-scale-{label}-{variant}" + ("" if shards == 3 else f"-{shards}shard")


def ensure_index(
    client: Any,
    data: Synthetic,
    variant: str,
    layout: tuple[int, int],
    log: Callable[[str], None],
    rebuild: bool = False,
    reuse_only: bool = False,
) -> dict[str, Any]:
    """The variant's alias over the catalog: reused when it matches, else built (unless
    `reuse_only`: a build of a million products takes most of an hour here)."""
    alias = scale_alias(len(data), variant, layout[0])
    if not rebuild and cached_index_matches(client, alias, data):
        log(f"{alias}: reusing the cached index")
        return {"alias": alias, "built": None}
    if reuse_only:
        raise SystemExit(f"{alias} is missing or stale and --reuse-only forbids building it")
    log(f"{alias}: building ({len(data):,} products, {layout[0]} shards; takes a long time)")
    return {"alias": alias, "built": build(client, alias, data, variant, layout, log)}


def build(
    client: Any,
    alias: str,
    data: Synthetic,
    variant: str,
    layout: tuple[int, int],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Bulk-load into a fresh index of the variant's template, force-merge, point the alias."""
    from visearch.ingest import aliases

    index = _fresh_index(client, alias, data.vectors.shape[1], variant, layout)
    loaded, load_s = bulk_load(client, index, data, log, request_timeout=600)  # 1M: slow merges
    aliases.end_bulk_load(client, index, request_timeout=1800)
    log(f"{alias}: loaded in {load_s:.0f} s; force-merging to one segment per shard ...")
    started = time.perf_counter()
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=14400)
    merge_s = time.perf_counter() - started
    client.indices.refresh(index=index)
    aliases.point_alias(client, alias, index)
    log(f"{alias}: merged in {merge_s:.0f} s")
    return {
        "index": index,
        "documents": loaded,
        "load_s": round(load_s, 1),
        "docs_per_s": round(loaded / load_s, 1),
        "force_merge_s": round(merge_s, 1),
    }


def _fresh_index(client: Any, alias: str, dim: int, variant: str, layout: tuple[int, int]) -> str:
    """Delete the alias's indices, install its template (with the variant's encoder), create."""
    from visearch.ingest import aliases
    from visearch.mappings.fields import PHOTO_VECTOR, PHOTOS_FIELD
    from visearch.mappings.install import IndexSpec, template_body, template_name

    for index in aliases.indices_of(client, alias):
        client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True, expand_wildcards="all")
    shards, replicas = layout
    spec = IndexSpec(alias=alias, encoder=SYNTH_ENCODER, dim=dim, shards=shards, replicas=replicas)
    body = template_body(spec)
    encoder = VARIANTS[variant]
    if encoder is not None:
        properties = body["template"]["mappings"]["properties"]
        method = properties[PHOTOS_FIELD]["properties"][PHOTO_VECTOR]["method"]
        method["parameters"]["encoder"] = encoder
    client.indices.put_index_template(name=template_name(alias), body=body)
    return aliases.create_index(client, alias, bulk_load=True)


def index_sizes(client: Any, alias: str) -> dict[str, Any]:
    """Primary store size, per-file vector sizes, segments, and the search working set."""
    (index,) = client.indices.get_alias(name=alias)
    stats = client.indices.stats(
        index=index, metric="store,segments", include_segment_file_sizes=True
    )["indices"][index]["primaries"]
    files = {
        name: entry["size_in_bytes"]
        for name, entry in stats["segments"].get("file_sizes", {}).items()
    }
    vectors = {name: files.get(name, 0) for name in VECTOR_FILES}
    hot = vectors["vex"] + (vectors["veq"] if vectors["veq"] else vectors["vec"])
    return {
        "index": index,
        "store_bytes": stats["store"]["size_in_bytes"],
        "vector_files_bytes": vectors,
        "other_bytes": stats["store"]["size_in_bytes"] - sum(vectors.values()),
        "search_working_set_bytes": hot,
        "segments": segment_count(client, index),
        "heap_segment_memory_bytes": stats["segments"].get("memory_in_bytes", 0),
    }
