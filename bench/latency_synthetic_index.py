"""The synthetic index of bench/query_latency.py: product documents shaped like ingest's
(one photo, its vector in the nested `photos`), bulk-loaded into an index made from our
template with refresh off, force-merged to one segment, then behind the alias
`bench-synthetic-<size>`. A cached index is reused while its mapping version, generator tag,
document count and a sample of stored vectors match the regenerated catalog.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bench.latency_common import alias_holds, segment_count
from bench.latency_synthetic_data import SYNTH_DECIMALS, SYNTH_ENCODER, Synthetic, sku


def synthetic_alias(size: int) -> str:
    label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
    return f"bench-synthetic-{label}"


def documents(data: Synthetic, index: str) -> Iterator[dict[str, Any]]:
    """Product documents shaped like ingest's: one photo, its vector in the nested `photos`."""
    from visearch.mappings.fields import PHOTO_VECTOR, PHOTOS_FIELD

    fields = list(data.text)
    for i in range(len(data)):
        attrs = {name: data.text[name][i] for name in fields}
        image = f"synthetic/{sku(i)}.jpg"
        # float64 of the rounded value: a short JSON repr, parsed back to the same float32.
        vector = data.vectors[i].astype(np.float64).round(SYNTH_DECIMALS).tolist()
        yield {
            "_index": index,
            "_id": sku(i),
            "sku": sku(i),
            "title": f"{attrs['brand']} {attrs['colour_group']} {attrs['article_type']}",
            **attrs,
            "price": float(data.price[i]),
            "in_stock": bool(data.in_stock[i]),
            "popularity": float(data.popularity[i]),
            "image": image,
            PHOTOS_FIELD: [{"image": image, PHOTO_VECTOR: vector}],
            "photo_count": 1,
            "encoder": SYNTH_ENCODER,
        }


def cached_index_matches(client: Any, alias: str, data: Synthetic) -> bool:
    """Same mapping version, encoder tag and count, and a few stored vectors equal the
    regenerated ones."""
    from visearch.mappings.fields import PHOTO_VECTOR, PHOTOS_FIELD

    if not alias_holds(client, alias, SYNTH_ENCODER, len(data)):
        return False
    for i in np.linspace(0, len(data) - 1, 5).astype(int):
        stored = client.get(index=alias, id=sku(int(i)), _source_includes=[PHOTOS_FIELD])
        photos = stored["_source"].get(PHOTOS_FIELD) or [{}]
        vector = np.asarray(photos[0].get(PHOTO_VECTOR, ()), dtype=np.float32)
        if vector.shape != data.vectors[i].shape or not np.allclose(
            vector, data.vectors[i], atol=1e-6
        ):
            return False
    return True


def build_synthetic(client: Any, alias: str, data: Synthetic, log: Callable[[str], None]) -> dict:
    """Bulk-load `data` into a new index from our template, merge it, then point the alias."""
    from visearch.ingest import aliases

    index = _fresh_index(client, alias, data.vectors.shape[1])
    loaded, load_s = bulk_load(client, index, data, log)
    aliases.end_bulk_load(client, index, request_timeout=600)
    before = segment_count(client, index)
    started = time.perf_counter()
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    merge_s = time.perf_counter() - started
    client.indices.refresh(index=index)
    aliases.point_alias(client, alias, index)
    return {
        "index": index,
        "documents": loaded,
        "load_s": round(load_s, 1),
        "docs_per_s": round(loaded / load_s, 1),
        "segments_before_merge": before,
        "force_merge_s": round(merge_s, 1),
    }


def _fresh_index(client: Any, alias: str, dim: int) -> str:
    """Delete the alias's old indices (and builds it never pointed to), install its
    template, and create a new index."""
    from visearch.ingest import aliases
    from visearch.mappings.install import IndexSpec, put_template

    # By name: Elasticsearch refuses wildcard deletes.
    for index in aliases.indices_of(client, alias):
        client.indices.delete(index=index, ignore_unavailable=True)
    aliases.drop_abandoned_builds(client, alias)
    put_template(client, IndexSpec(alias=alias, encoder=SYNTH_ENCODER, dim=dim))
    return aliases.create_index(client, alias, bulk_load=True)


def bulk_load(
    client: Any,
    index: str,
    data: Synthetic,
    log: Callable[[str], None],
    request_timeout: float = 300,
) -> tuple[int, float]:
    """(documents loaded, seconds): every product, two bulk threads, progress every 50k."""
    from opensearchpy import helpers

    started = time.perf_counter()
    loaded = 0
    for ok, item in helpers.parallel_bulk(
        client,
        documents(data, index),
        thread_count=2,
        chunk_size=500,
        request_timeout=request_timeout,
    ):
        if not ok:
            raise RuntimeError(f"bulk failure: {item}")
        loaded += 1
        if loaded % 50_000 == 0:
            elapsed = time.perf_counter() - started
            log(f"  loaded {loaded:,} documents ({elapsed:.0f} s, {loaded / elapsed:.0f}/s)")
    return loaded, time.perf_counter() - started
