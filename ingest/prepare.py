"""Prepare one product in a worker thread: read and hash its photos, decode them only if they
must be embedded. Never raises: a bad main photo fails the product, a bad extra photo is
reported and left out.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import requests
from PIL import Image

from visearch.attributes.colour import colour_features_batch
from visearch.ingest.catalog import CatalogSource
from visearch.ingest.records import Product, RowError
from visearch.vectors.images import ImageError, ImageLoaderConfig, decode_image, read_image_bytes
from visearch.vectors.keys import photo_digest, vector_key
from visearch.vectors.netguard import GuardedSession

if TYPE_CHECKING:
    from visearch.ingest.summary import IngestSummary

WORKER_NICENESS = 10  # added to the decode threads' niceness (0 normal, 19 lowest)


@dataclass
class Prepared:
    """A catalog record after preparation: the vector key of its photos, decoded pixels if it
    needs embedding, or why it failed."""

    sku: str | None
    line: int | None
    product: Product | None = None
    key: str | None = None
    refs: tuple[str, ...] = ()  # the photos that made `key` (bad extra photos are left out)
    digests: tuple[str, ...] = ()  # each photo's SHA-256, stored beside its vector
    images: list[Image.Image] | None = None  # None: not decoded
    error: RowError | None = None
    photo_errors: list[RowError] = field(default_factory=list)
    colours: list[np.ndarray] | None = None  # each decoded photo's colour features


@dataclass(frozen=True)
class PhotoSource:
    """Where relative photo paths start, how photos are loaded, and whose vectors they feed."""

    root: Path
    config: ImageLoaderConfig
    encoder_name: str
    session: requests.Session = field(default_factory=requests.Session)
    colour_features: bool = True  # computed beside decoding, for the attribute models
    # The model's crop and resize (vectors/load.py image_fitter), done here, beside the model.
    fit: Callable[[Image.Image], Image.Image] | None = None

    @classmethod
    def guarded(
        cls,
        catalog: CatalogSource,
        config: ImageLoaderConfig,
        encoder_name: str,
        *,
        roots: Sequence[Path] = (),
        hosts: Sequence[str] = (),
    ) -> PhotoSource:
        """What a catalog may name: local files inside its own folder, its photos file's
        folder and `roots` (symlinks followed), and URLs of public hosts or of `hosts`."""
        folders = [catalog.image_root, *(Path(root) for root in roots)]
        if catalog.photos is not None:
            folders.append(Path(catalog.photos).parent)
        limits = replace(
            config,
            # As given (absolute): the loader allows each folder both by this name and by its
            # real place, so a data folder reached through a symlink is still inside.
            local_roots=tuple(Path(os.path.abspath(folder)) for folder in folders),
            public_urls_only=True,
            allowed_hosts=tuple(hosts),
        )
        return cls(catalog.image_root, limits, encoder_name, GuardedSession(hosts))


def prepare(
    item: Product | RowError, source: PhotoSource, wants_pixels: Callable[[str, str], bool]
) -> Prepared:
    """`wants_pixels(sku, key)` says whether the product must be embedded (so decoded)."""
    if isinstance(item, RowError):
        return Prepared(item.sku, item.line, error=item)
    product = item
    photos: list[tuple[str, bytes, str]] = []  # ref, bytes, digest
    problems: list[RowError] = []
    for ref in product.images:
        try:
            data = read_image_bytes(ref, source.root, source.config, source.session)
            photos.append((ref, data, photo_digest(data)))
        except ImageError as error:
            problems.append(_failure(product, error))
    if not photos or photos[0][0] != product.image:
        return Prepared(product.sku, product.line, product, error=problems[0])
    if not wants_pixels(product.sku, vector_key([d for *_, d in photos], source.encoder_name)):
        return _prepared(product, photos, source, None, problems)
    kept: list[tuple[str, bytes, str]] = []
    images: list[Image.Image] = []
    for ref, data, digest in photos:
        try:
            images.append(decode_image(data, ref, source.config))
            kept.append((ref, data, digest))
        except ImageError as error:
            if ref == product.image:
                return Prepared(product.sku, product.line, product, error=_failure(product, error))
            problems.append(_failure(product, error))
    return _prepared(product, kept, source, images, problems)


def _prepared(
    product: Product,
    photos: list[tuple[str, bytes, str]],
    source: PhotoSource,
    images: list[Image.Image] | None,
    problems: list[RowError],
) -> Prepared:
    digests = tuple(digest for *_, digest in photos)
    key = vector_key(digests, source.encoder_name)
    refs = tuple(ref for ref, *_ in photos)
    return Prepared(product.sku, product.line, product, key, refs, digests, images, None, problems)


def prepare_chunk(
    items: Sequence[Product | RowError],
    source: PhotoSource,
    wants_pixels: Callable[[str, str], bool],
) -> list[Prepared]:
    """`prepare` each of `items`, then (`source.colour_features`) the colour features of all
    their decoded photos in one batch (numpy's per-call cost is paid once for the chunk), then
    (`source.fit`) fit the photos to the model. Never raises, like `prepare`."""
    chunk = [prepare(item, source, wants_pixels) for item in items]
    decoded = [p for p in chunk if p.images]
    if source.colour_features:
        _add_colours(decoded)
    if source.fit is not None:
        chunk = [_fitted(p, source.fit) if p.images else p for p in chunk]
    return chunk


def _add_colours(decoded: list[Prepared]) -> None:
    """Each photo's colour features, a batch for all; if the batch fails, product by product,
    and a product whose photos fail is stored without them (training reads them as unknown)."""
    try:
        features = colour_features_batch([image for p in decoded for image in p.images or ()])
    except Exception:  # noqa: BLE001 - one odd photo must not cost the others theirs
        for p in decoded:
            with contextlib.suppress(Exception):
                p.colours = list(colour_features_batch(p.images or []))
        return
    offset = 0
    for p in decoded:
        p.colours = list(features[offset : offset + len(p.images or ())])
        offset += len(p.images or ())


def _fitted(prepared: Prepared, fit: Callable[[Image.Image], Image.Image]) -> Prepared:
    """`prepared` with its photos fitted to the model, or failed if one cannot be."""
    try:
        return replace(prepared, images=[fit(image) for image in prepared.images or ()])
    except Exception as error:  # noqa: BLE001 - decoders and resizers raise anything
        reason = f"cannot fit the photo to the model: {error.__class__.__name__}"
        failure = RowError(prepared.sku, "image", reason, prepared.line)
        return Prepared(prepared.sku, prepared.line, prepared.product, error=failure)


def yield_to_model() -> None:
    """Lower the calling decode thread's scheduling priority (Linux: niceness is per thread)
    by WORKER_NICENESS. The model's thread is the pipeline's bottleneck and needs a core of
    its own; at equal priority the decode threads, the bulk writer and OpenSearch share the
    cores with it and it runs slower than alone. Niced, the decode threads still get every
    cycle the model leaves (they only ever run ahead of it). On 2 cores with the int8
    encoder: ~185 against ~155 photos/s (medians of 6 interleaved runs)."""
    if sys.platform != "linux":  # elsewhere the call would renice the whole process
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # a sandbox may forbid it: the usual priority, then
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + WORKER_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))


def _failure(product: Product, error: ImageError) -> RowError:
    return RowError(product.sku, "image", str(error), product.line)


def prepare_all(
    items: Iterable[Product | RowError],
    fn: Callable[[list[Product | RowError]], list[Prepared]],
    pool: ThreadPoolExecutor,
    window: int,
    summary: IngestSummary,
    chunk: int = 16,
) -> Iterator[Prepared]:
    """`fn` over `items` in the pool, `chunk` items a call (one hand-over per product cost
    more than reading its photo), results in catalog order, at most about `window` in flight
    (bounded memory). Time spent reading the catalog is `read`; time spent waiting for a
    worker is `prepare_wait`."""
    pending: deque[Future[list[Prepared]]] = deque()
    iterator = iter(items)
    clock = time.perf_counter
    batch: list[Product | RowError] = []
    while True:
        started = clock()
        item = next(iterator, None)
        summary.add_time("read", clock() - started)
        if item is not None:
            batch.append(item)
            if len(batch) < chunk:
                continue
        if batch:
            pending.append(pool.submit(fn, batch))
            batch = []
        if item is None:
            break
        if len(pending) * chunk >= window:
            yield from _results(pending.popleft(), summary)
    while pending:
        yield from _results(pending.popleft(), summary)


def _results(future: Future[list[Prepared]], summary: IngestSummary) -> list[Prepared]:
    started = time.perf_counter()
    results = future.result()
    summary.add_time("prepare_wait", time.perf_counter() - started)
    return results
