"""The ingest run: catalog -> images (worker pool) -> encoder (batches) -> bulk writer.

Image bytes are read and hashed in a thread pool; only products whose image (or encoder)
changed are decoded and sent through the model, while the writer thread indexes the
previous batch. Text-only changes become partial updates; vanished SKUs are deleted behind
a guard. `rebuild` fills a new versioned index, copying every vector whose key still
matches, and swaps the alias at the end.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from PIL import Image

from ingest import aliases
from ingest.bulk import BulkConfig, BulkReport, BulkWriter
from ingest.catalog import CatalogRead
from ingest.documents import doc_hash, document_fields, now_iso, vector_key
from ingest.encoders import Encoder
from ingest.images import (
    DEFAULT_CONFIG,
    ImageError,
    ImageLoaderConfig,
    decode_image,
    read_image_bytes,
)
from ingest.records import Product, RowError
from ingest.sync import (
    Stored,
    check_delete_guard,
    check_encoder,
    fetch_documents,
    stored_state,
    to_delete,
)
from mappings.install import PHOTO_VECTOR, PHOTOS_FIELD, IndexSpec, put_template

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class IngestOptions:
    rebuild: bool = False
    batch_size: int = 32
    workers: int = 4
    max_delete_fraction: float = 0.2
    force_delete: bool = False
    hnsw_m: int = 16
    hnsw_ef_construction: int = 128
    images: ImageLoaderConfig = DEFAULT_CONFIG
    bulk: BulkConfig = field(default_factory=BulkConfig)
    progress: bool = False


@dataclass
class IngestSummary:
    """What a run did; printed, written as JSON, and turned into the exit code."""

    alias: str
    index: str = ""
    rebuild: bool = False
    read: int = 0
    embedded: int = 0
    unchanged: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    copied: int = 0  # rebuild: vectors reused from the previous index
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    deletions_refused: str | None = None
    swapped_from: str | None = None
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("errors")
        return data


@dataclass
class _Prepared:
    """A product after the worker pool: its vector key, and decoded photos if it needs them."""

    product: Product
    key: str | None = None
    images: list[Image.Image] | None = None  # None: the stored vectors are still right
    refs: tuple[str, ...] = ()  # the photos that made it (bad extra photos are left out)
    error: RowError | None = None
    photo_errors: list[RowError] = field(default_factory=list)


class _Run:
    """State of one ingest run; `execute` is the whole job."""

    def __init__(
        self,
        client: Any,
        catalog: CatalogRead,
        catalog_dir: Path,
        alias: str,
        encoder_name: str,
        encoder_factory: Callable[[], Encoder],
        options: IngestOptions,
    ) -> None:
        self.client = client
        self.catalog = catalog
        self.catalog_dir = catalog_dir
        self.alias = alias
        self.encoder_name = encoder_name
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        self.options = options
        self.summary = IngestSummary(alias=alias, rebuild=options.rebuild, read=catalog.rows)
        self.summary.errors.extend(catalog.errors)
        self.stored: dict[str, Stored] = {}
        self.source_index: str | None = None  # where reusable vectors live
        self.target_index = ""
        self._writer: BulkWriter | None = None
        self._batch: list[_Prepared] = []
        self._copy_batch: list[tuple[Product, dict[str, Any]]] = []
        self._http = requests.Session()

    # ------------------------------------------------------------------ setup

    @property
    def encoder(self) -> Encoder:
        """Loaded on first use: an unchanged rerun never pays for the model."""
        if self._encoder is None:
            started = time.perf_counter()
            self._encoder = self._encoder_factory()
            self._add_time("load_encoder", time.perf_counter() - started)
        return self._encoder

    def _index_spec(self) -> IndexSpec:
        return IndexSpec(
            alias=self.alias,
            encoder=self.encoder_name,
            dim=self.encoder.dim,
            m=self.options.hnsw_m,
            ef_construction=self.options.hnsw_ef_construction,
            extra_attributes=self.catalog.extra_attributes,
        )

    def _choose_indices(self) -> None:
        current = aliases.current_index(self.client, self.alias)
        if current is not None:
            self.source_index = current
            started = time.perf_counter()
            self.stored = stored_state(self.client, current)
            self._add_time("load_state", time.perf_counter() - started)
        if self.options.rebuild or current is None:
            aliases.drop_abandoned_builds(self.client, self.alias)
            put_template(self.client, self._index_spec())
            self.target_index = aliases.create_index(self.client, self.alias)
            if current is None:
                # First build: nobody reads the alias yet, and a killed run resumes from it.
                aliases.point_alias(self.client, self.alias, self.target_index)
        else:
            check_encoder(self.client, current, self.encoder_name)
            self.target_index = current
            new_extras = set(self.catalog.extra_attributes) - self._mapped_fields(current)
            if new_extras:
                put_template(self.client, self._index_spec())
        self.summary.index = self.target_index

    def _mapped_fields(self, index: str) -> set[str]:
        mapping = self.client.indices.get_mapping(index=index)[index]["mappings"]
        return set(mapping.get("properties", {}))

    # ------------------------------------------------------------------ the run

    def execute(self) -> IngestSummary:
        started = time.perf_counter()
        self._choose_indices()
        self._writer = BulkWriter(self.client, self.options.bulk)
        try:
            self._process_products()
        finally:
            report = self._writer.close()
        self._record_bulk(report)
        if self.options.rebuild or self.source_index != self.target_index:
            self._finish_rebuild()
        else:
            self._delete_vanished()
        self.client.indices.refresh(index=self.target_index)
        self.summary.failed = len(self.summary.errors)
        self.summary.seconds = round(time.perf_counter() - started, 3)
        self.summary.stage_seconds = {k: round(v, 3) for k, v in self.summary.stage_seconds.items()}
        return self.summary

    def _process_products(self) -> None:
        products = self.catalog.products
        progress = _progress(len(products), self.options.progress)
        with ThreadPoolExecutor(self.options.workers, thread_name_prefix="image") as pool:
            window = self.options.workers * self.options.batch_size * 2
            waited = time.perf_counter()
            for prepared in _bounded_map(pool, self._prepare, products, window):
                self._add_time("wait_images", time.perf_counter() - waited)
                self._route(prepared)
                progress(1)
                waited = time.perf_counter()
        self._flush_embed()
        self._flush_copies()
        progress(0, close=True)

    def _prepare(self, product: Product) -> _Prepared:
        """Worker thread: read and hash the photos; decode them only if they must be embedded.

        The main photo must work; a bad extra photo is reported and left out."""
        config = self.options.images
        photos: list[tuple[str, bytes]] = []
        problems: list[RowError] = []
        for ref in product.images:
            try:
                photos.append((ref, read_image_bytes(ref, self.catalog_dir, config, self._http)))
            except ImageError as error:
                problems.append(RowError(product.sku, "image", str(error), product.line))
        if not photos or photos[0][0] != product.image:
            return _Prepared(product, error=problems[0])
        key = vector_key([data for _, data in photos], self.encoder_name)
        stored = self.stored.get(product.sku)
        if stored is not None and stored.vector_key == key:
            return _Prepared(product, key, refs=tuple(ref for ref, _ in photos))
        kept: list[tuple[str, bytes, Image.Image]] = []
        for ref, data in photos:
            try:
                kept.append((ref, data, decode_image(data, ref, config)))
            except ImageError as error:
                failure = RowError(product.sku, "image", str(error), product.line)
                if ref == product.image:
                    return _Prepared(product, error=failure)
                problems.append(failure)
        if len(kept) < len(photos):
            key = vector_key([data for _, data, _ in kept], self.encoder_name)
        refs = tuple(ref for ref, _, _ in kept)
        return _Prepared(product, key, [image for _, _, image in kept], refs, None, problems)

    def _route(self, prepared: _Prepared) -> None:
        product = prepared.product
        self.summary.errors.extend(prepared.photo_errors)
        if prepared.error is not None:
            self.summary.errors.append(prepared.error)
            self._carry_over(product.sku)
            return
        if prepared.images is not None:
            self._batch.append(prepared)
            if sum(len(item.images or ()) for item in self._batch) >= self.options.batch_size:
                self._flush_embed()
            return
        fields = document_fields(product)
        if self.target_index != self.source_index:  # rebuild: copy the stored vector
            self._copy_batch.append((product, fields))
            if len(self._copy_batch) >= 200:
                self._flush_copies()
        elif self.stored[product.sku].doc_hash != doc_hash(fields):
            self._writer_add(self._update_action(product.sku, fields))
            self.summary.updated += 1
        else:
            self.summary.unchanged += 1

    def _flush_embed(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        started = time.perf_counter()
        try:
            vectors = self.encoder.embed_images([image for item in batch for image in item.images])
        except Exception as error:  # noqa: BLE001 - one bad batch must not sink the run
            for item in batch:
                reason = f"encoder failed on this batch: {error}"
                sku, line = item.product.sku, item.product.line
                self.summary.errors.append(RowError(sku, "embed", reason, line))
                self._carry_over(item.product.sku)
            return
        finally:
            self._add_time("embed", time.perf_counter() - started)
        stamp = now_iso()
        offset = 0
        for item in batch:
            count = len(item.images)
            photos = [
                {"image": ref, PHOTO_VECTOR: vector}  # float32; the client's serializer writes it
                for ref, vector in zip(item.refs, vectors[offset : offset + count], strict=True)
            ]
            offset += count
            fields = document_fields(item.product)
            source = {
                **fields,
                PHOTOS_FIELD: photos,
                "photo_count": count,
                "encoder": self.encoder_name,
                "vector_key": item.key,
                "doc_hash": doc_hash(fields),
                "indexed_at": stamp,
                "embedded_at": stamp,
            }
            self._writer_add({"_op_type": "index", "_id": item.product.sku, "_source": source})
            self.summary.embedded += count
            item.images = None  # free the pixels as soon as possible

    def _flush_copies(self) -> None:
        batch, self._copy_batch = self._copy_batch, []
        if not batch:
            return
        assert self.source_index is not None
        skus = [product.sku for product, _ in batch]
        stored = {doc["sku"]: doc for doc in fetch_documents(self.client, self.source_index, skus)}
        stamp = now_iso()
        for product, fields in batch:
            old = stored.get(product.sku)
            if old is None or PHOTOS_FIELD not in old:
                reason = f"vanished from {self.source_index} during the rebuild"
                self.summary.errors.append(RowError(product.sku, "index", reason, product.line))
                continue
            source = {
                **fields,
                PHOTOS_FIELD: old[PHOTOS_FIELD],
                "photo_count": len(old[PHOTOS_FIELD]),
                "encoder": self.encoder_name,
                "vector_key": old["vector_key"],
                "doc_hash": doc_hash(fields),
                "indexed_at": stamp,
                "embedded_at": old.get("embedded_at", stamp),
            }
            self._writer_add({"_op_type": "index", "_id": product.sku, "_source": source})
            self.summary.copied += 1

    def _carry_over(self, sku: str) -> None:
        """A product whose row is bad now keeps its stored document, also across a rebuild."""
        if self.target_index != self.source_index and sku in self.stored:
            assert self.source_index is not None
            for old in fetch_documents(self.client, self.source_index, [sku]):
                self._writer_add({"_op_type": "index", "_id": sku, "_source": old})

    def _update_action(self, sku: str, fields: dict[str, Any]) -> dict[str, Any]:
        doc = {**fields, "doc_hash": doc_hash(fields), "indexed_at": now_iso()}
        return {"_op_type": "update", "_id": sku, "doc": doc}

    def _writer_add(self, action: dict[str, Any]) -> None:
        assert self._writer is not None
        self._writer.add({"_index": self.target_index, **action})

    # ------------------------------------------------------------------ endings

    def _record_bulk(self, report: BulkReport) -> None:
        self._add_time("index", report.seconds)
        lines = {product.sku: product.line for product in self.catalog.products}
        for failure in report.failures:
            stage = "delete" if failure.op == "delete" else "index"
            self.summary.errors.append(
                RowError(failure.sku, stage, failure.reason, lines.get(failure.sku))
            )

    def _refusal(self) -> tuple[list[str], str | None]:
        vanished = to_delete(self.stored, self.catalog.seen_skus)
        malformed = any(error.stage == "read" for error in self.catalog.errors)
        if malformed and vanished and not self.options.force_delete:
            return vanished, (
                f"not deleting {len(vanished)} products: the catalog has malformed lines "
                "whose SKUs are unknown. Fix them, or rerun with --force-delete"
            )
        refusal = check_delete_guard(
            len(vanished),
            len(self.stored),
            self.options.max_delete_fraction,
            force=self.options.force_delete,
        )
        return vanished, refusal

    def _delete_vanished(self) -> None:
        vanished, refusal = self._refusal()
        if refusal:
            self.summary.deletions_refused = refusal
            return
        if not vanished:
            return
        writer = BulkWriter(self.client, self.options.bulk)
        for sku in vanished:
            writer.add({"_op_type": "delete", "_index": self.target_index, "_id": sku})
        report = writer.close()
        self._record_bulk(report)
        self.summary.deleted = report.written

    def _finish_rebuild(self) -> None:
        vanished, refusal = self._refusal()
        if self.source_index is None:
            return  # first build: the alias already points here
        if refusal:
            # A shrunken catalog must not replace the live index: keep serving the old one.
            self.summary.deletions_refused = refusal
            self.client.indices.delete(index=self.target_index, ignore_unavailable=True)
            self.summary.index = self.source_index
            return
        self.client.indices.refresh(index=self.target_index)
        aliases.swap(self.client, self.alias, self.target_index, self.source_index)
        self.summary.swapped_from = self.source_index
        self.summary.deleted = len(vanished)

    def _add_time(self, stage: str, seconds: float) -> None:
        self.summary.stage_seconds[stage] = self.summary.stage_seconds.get(stage, 0.0) + seconds


def run_ingest(
    client: Any,
    catalog: CatalogRead,
    catalog_dir: Path,
    alias: str,
    encoder_name: str,
    encoder_factory: Callable[[], Encoder],
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Bring the alias in line with the catalog; see the module docstring."""
    run = _Run(
        client,
        catalog,
        catalog_dir,
        alias,
        encoder_name,
        encoder_factory,
        options or IngestOptions(),
    )
    return run.execute()


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """`pool.map` in order, but with at most `window` items in flight (bounded memory)."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _progress(total: int, enabled: bool) -> Callable[..., None]:
    """A tqdm bar on a terminal; nothing for cron."""
    if not enabled:
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="product", dynamic_ncols=True)

    def update(n: int, close: bool = False) -> None:
        bar.update(n)
        if close:
            bar.close()

    return update
