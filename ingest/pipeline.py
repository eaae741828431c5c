"""The ingest run: catalog stream -> prepare (worker pool) -> plan -> embed / copy -> bulk writer
-> deletes or alias swap. Each stage is a module of its own; this only composes them.

Only products whose photos (or encoder) changed are decoded and embedded, while the writer
thread indexes the previous batch. Text-only changes become partial updates; vanished skus
are deleted behind a guard. A rebuild fills a new versioned index, copying every vector whose
key still matches, and swaps the alias at the end. A dry run reads, validates and plans
against the index, and embeds and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from visearch.ingest import aliases
from visearch.ingest.apply import Applier
from visearch.ingest.bulk import BulkConfig, BulkWriter
from visearch.ingest.catalog import CatalogSource, CatalogStream, open_catalog
from visearch.ingest.embed import Embedder, LazyEncoder
from visearch.ingest.errors import EncoderMismatchError
from visearch.ingest.finish import finish, record_bulk
from visearch.ingest.plan import decide, needs_embedding, plan_deletes
from visearch.ingest.prepare import PhotoSource, prepare, prepare_all
from visearch.ingest.reuse import StoredDocuments
from visearch.ingest.stored import load_stored, recorded_encoder
from visearch.ingest.summary import IngestSummary
from visearch.mappings.install import IndexSpec
from visearch.vectors.encoders import Encoder
from visearch.vectors.images import DEFAULT_CONFIG, ImageLoaderConfig


@dataclass(frozen=True)
class IngestOptions:
    rebuild: bool = False
    dry_run: bool = False
    batch_size: int = 32
    workers: int = 4
    max_delete_fraction: float = 0.2
    force_delete: bool = False
    hnsw_m: int = 16
    hnsw_ef_construction: int = 128
    images: ImageLoaderConfig = DEFAULT_CONFIG
    bulk: BulkConfig = field(default_factory=BulkConfig)
    progress: Callable[[int], None] | None = None
    """Called with 1 after each catalog record (a progress bar on a terminal)."""


def run_ingest(
    client: Any,
    catalog: CatalogSource | CatalogStream,
    alias: str,
    encoder_name: str,
    load_encoder: Callable[[], Encoder],
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Bring the alias in line with the catalog; see the module docstring."""
    options = options or IngestOptions()
    started = time.perf_counter()
    stream = catalog if isinstance(catalog, CatalogStream) else open_catalog(catalog)
    summary = IngestSummary(alias=alias, rebuild=options.rebuild, dry_run=options.dry_run)
    encoder = LazyEncoder(load_encoder, summary)
    with summary.timed("load_state"):
        live = aliases.current_index(client, alias)
        if live is not None and not options.rebuild:
            _check_encoder(client, live, encoder_name)
        stored = load_stored(client, live) if live is not None else {}
    target = _target(
        client, alias, live, options, lambda: _spec(alias, encoder, encoder_name, options)
    )
    summary.index = target.index
    applier = _applier(client, target, encoder, encoder_name, options, summary)
    photos = PhotoSource(stream.source.image_root, options.images, encoder_name)

    def wants_pixels(sku: str, key: str) -> bool:
        return not options.dry_run and needs_embedding(stored.get(sku), key)

    seen: set[str] = set()  # stored skus the catalog still names
    try:
        with ThreadPoolExecutor(options.workers, thread_name_prefix="image") as pool:
            window = options.workers * options.batch_size * 2
            work = prepare_all(
                stream, lambda i: prepare(i, photos, wants_pixels), pool, window, summary
            )
            for prepared in work:
                in_index = prepared.sku in stored
                if in_index:
                    seen.add(str(prepared.sku))
                decision = decide(prepared, stored.get(str(prepared.sku)), rebuild=target.new_index)
                applier.apply(decision, in_index)
                if options.progress is not None:
                    options.progress(1)
    finally:
        report = applier.finish()
    summary.read = stream.rows
    record_bulk(summary, report)
    deletes = plan_deletes(
        stored,
        seen,
        malformed=stream.malformed,
        max_fraction=options.max_delete_fraction,
        force=options.force_delete,
    )
    with summary.timed("finish"):
        finish(client, target, deletes, summary, bulk=options.bulk, dry_run=options.dry_run)
    summary.failed = len(summary.errors)
    summary.seconds = time.perf_counter() - started
    return summary.rounded()


def _check_encoder(client: Any, index: str, encoder_name: str) -> None:
    recorded = recorded_encoder(client, index)
    if recorded is not None and recorded != encoder_name:
        raise EncoderMismatchError(index, recorded, encoder_name)


def _spec(alias: str, encoder: LazyEncoder, encoder_name: str, options: IngestOptions) -> IndexSpec:
    loaded = encoder.get()  # a new index needs the vector size
    return IndexSpec(alias, encoder_name, loaded.dim, options.hnsw_m, options.hnsw_ef_construction)


def _target(
    client: Any, alias: str, live: str | None, options: IngestOptions, spec: Callable[[], IndexSpec]
) -> aliases.Target:
    if options.dry_run:  # plans against the live index; creates nothing
        index = live if live is not None and not options.rebuild else aliases.new_index_name(alias)
        return aliases.Target(alias, live, index)
    return aliases.open_target(client, alias, live, options.rebuild, spec)


def _applier(
    client: Any,
    target: aliases.Target,
    encoder: LazyEncoder,
    encoder_name: str,
    options: IngestOptions,
    summary: IngestSummary,
) -> Applier:
    if options.dry_run:
        return Applier(summary, encoder_name, index=target.index, embedder=None, writer=None,
                       stored_documents=None)  # fmt: skip
    reuse = None
    if target.new_index and target.live is not None:
        reuse = StoredDocuments(client, target.live, summary)
    return Applier(
        summary,
        encoder_name,
        index=target.index,
        embedder=Embedder(encoder, options.batch_size, summary),
        writer=BulkWriter(client, options.bulk),
        stored_documents=reuse,
    )
