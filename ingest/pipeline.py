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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from visearch.engine.names import check_index_name
from visearch.ingest import aliases
from visearch.ingest.apply import Applier, make_applier
from visearch.ingest.bulk import BulkConfig
from visearch.ingest.catalog import CatalogSource, CatalogStream, open_catalog
from visearch.ingest.embed import LazyEncoder
from visearch.ingest.finish import finish, record_bulk
from visearch.ingest.lock import ClusterLock, LockSettings, cluster_lock
from visearch.ingest.plan import decide, needs_embedding, plan_deletes
from visearch.ingest.prepare import PhotoSource, prepare_all, prepare_chunk, yield_to_model
from visearch.ingest.stored import Stored, check_recorded_encoder, load_stored
from visearch.ingest.summary import IngestSummary
from visearch.mappings.install import IndexSpec
from visearch.vectors.encoders import Encoder
from visearch.vectors.images import DEFAULT_CONFIG, ImageLoaderConfig
from visearch.vectors.load import image_fitter


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
    shards: int = 1
    """Primary shards of a new index (a rebuild applies a change); see README, Configuration."""
    replicas: int = 0
    images: ImageLoaderConfig = DEFAULT_CONFIG
    bulk: BulkConfig = field(default_factory=BulkConfig)
    progress: Callable[[int], None] | None = None
    """Called with 1 after each catalog record (a progress bar on a terminal)."""
    lock: LockSettings = field(default_factory=LockSettings)
    image_roots: tuple[Path, ...] = ()
    """Folders beyond the catalog's own that local images may be read from."""
    image_hosts: tuple[str, ...] = ()
    """Hosts (name or name:port) images may be fetched from although they are not public."""
    attributes: bool = True
    """Colour features, attribute predictions and corrections (attributes/stage.py)."""
    merge: bool = False
    """Force-merge a new index (first build or rebuild) to one segment before it serves."""


def run_ingest(
    client: Any,
    catalog: CatalogSource | CatalogStream,
    alias: str,
    encoder_name: str,
    load_encoder: Callable[[], Encoder],
    options: IngestOptions | None = None,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Bring the alias in line with the catalog; see the module docstring.

    The run fills `summary` (a new one when None) as it goes, so a caller that passes its own
    still has the counts and row errors of a run that failed. A real run holds the alias's
    cluster lock (`ingest.lock`) throughout; a dry run takes no lock.
    """
    options = options or IngestOptions()
    check_index_name(alias)
    summary = summary or IngestSummary(alias=alias)
    summary.rebuild, summary.dry_run = options.rebuild, options.dry_run
    started = time.perf_counter()
    try:
        stream = catalog if isinstance(catalog, CatalogStream) else open_catalog(catalog)
        if options.dry_run:
            _run(client, stream, encoder_name, load_encoder, options, summary, None)
        else:
            with cluster_lock(client, alias, options.lock) as lock:
                _run(client, stream, encoder_name, load_encoder, options, summary, lock)
    finally:
        summary.failed = len(summary.errors)
        summary.seconds = time.perf_counter() - started
        summary.rounded()
    return summary


def _run(
    client: Any,
    stream: CatalogStream,
    encoder_name: str,
    load_encoder: Callable[[], Encoder],
    options: IngestOptions,
    summary: IngestSummary,
    lock: ClusterLock | None,
) -> None:
    alias = summary.alias
    encoder = LazyEncoder(load_encoder, summary)
    with summary.timed("load_state"):
        live = aliases.current_index(client, alias, repair=options.rebuild)
        if live is not None and not options.dry_run:
            aliases.resume_refreshes(client, live)
        if live is not None and not options.rebuild:
            check_recorded_encoder(client, live, encoder_name)
        stored = load_stored(client, live) if live is not None else {}
    spec = lambda: _spec(alias, encoder, encoder_name, options)  # noqa: E731
    target = _target(client, alias, live, options, spec)
    summary.index = target.index
    applier = make_applier(client, target, encoder, encoder_name, options, summary)
    photos = PhotoSource.guarded(stream.source, options.images, encoder_name,
                                 roots=options.image_roots, hosts=options.image_hosts)  # fmt: skip
    photos = replace(photos, colour_features=options.attributes, fit=image_fitter(encoder_name))
    seen = _apply_catalog(stream, stored, photos, target, applier, options, summary)
    summary.read = stream.rows
    deletes = plan_deletes(
        stored,
        seen,
        malformed=stream.malformed,
        max_fraction=options.max_delete_fraction,
        force=options.force_delete,
    )
    if lock is not None:
        lock.check()  # never swap or delete on a lock another run may hold now
    with summary.timed("finish"):
        finish(
            client,
            target,
            deletes,
            summary,
            bulk=options.bulk,
            dry_run=options.dry_run,
            merge=options.merge,
        )


def _apply_catalog(
    stream: CatalogStream,
    stored: dict[str, Stored],
    photos: PhotoSource,
    target: aliases.Target,
    applier: Applier,
    options: IngestOptions,
    summary: IngestSummary,
) -> set[str]:
    """Prepare, plan and apply every record; the stored skus the catalog still names."""

    def wants_pixels(sku: str, key: str) -> bool:
        return not options.dry_run and needs_embedding(stored.get(sku), key)

    seen: set[str] = set()
    try:
        pool = ThreadPoolExecutor(
            options.workers, thread_name_prefix="image", initializer=yield_to_model
        )
        with pool:
            window = options.workers * options.batch_size * 2
            work = prepare_all(
                stream,
                lambda chunk: prepare_chunk(chunk, photos, wants_pixels),
                pool,
                window,
                summary,
            )
            for prepared in work:
                held = stored.get(prepared.sku) if prepared.sku else None
                if held is not None:
                    seen.add(str(prepared.sku))
                applier.apply(decide(prepared, held, rebuild=target.new_index), held is not None)
                if options.progress is not None:
                    options.progress(1)
    except BaseException:
        applier.abort()  # what is already buffered is written; nothing more is embedded
        raise
    record_bulk(summary, applier.finish())
    return seen


def _spec(alias: str, encoder: LazyEncoder, encoder_name: str, options: IngestOptions) -> IndexSpec:
    loaded = encoder.get()  # a new index needs the vector size
    return IndexSpec(
        alias,
        encoder_name,
        loaded.dim,
        options.hnsw_m,
        options.hnsw_ef_construction,
        shards=options.shards,
        replicas=options.replicas,
    )


def _target(
    client: Any, alias: str, live: str | None, options: IngestOptions, spec: Callable[[], IndexSpec]
) -> aliases.Target:
    if options.dry_run:  # plans against the live index; creates nothing
        index = live if live is not None and not options.rebuild else aliases.new_index_name(alias)
        return aliases.Target(alias, live, index)
    return aliases.open_target(client, alias, live, options.rebuild, spec)
