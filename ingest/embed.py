"""The model stage: batches of decoded photos in, one unit vector per photo out.

The encoder is loaded on first use, so a rerun with nothing to embed never pays for the model.
One bad batch fails its products (they keep what is stored) and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visearch.ingest.prepare import Prepared
from visearch.ingest.records import RowError
from visearch.ingest.summary import IngestSummary
from visearch.vectors.encoders import Encoder


class LazyEncoder:
    """The encoder from `load`, loaded once, when first asked for (the load is timed)."""

    def __init__(self, load: Callable[[], Encoder], summary: IngestSummary) -> None:
        self._load = load
        self._summary = summary
        self._encoder: Encoder | None = None

    def get(self) -> Encoder:
        if self._encoder is None:
            with self._summary.timed("load_encoder"):
                self._encoder = self._load()
        return self._encoder


@dataclass(frozen=True)
class Embedded:
    prepared: Prepared
    vectors: np.ndarray  # one row per photo in prepared.refs


class Embedder:
    """Collects products to embed; runs the model whenever `batch_size` photos are waiting."""

    def __init__(self, encoder: LazyEncoder, batch_size: int, summary: IngestSummary) -> None:
        self._encoder = encoder
        self._batch_size = batch_size
        self._summary = summary
        self._batch: list[Prepared] = []
        self._photos = 0

    def add(self, prepared: Prepared) -> list[Embedded | RowError]:
        """Queue `prepared`; the results of a batch when this one filled it, else []."""
        self._batch.append(prepared)
        self._photos += len(prepared.images or ())
        return self.flush() if self._photos >= self._batch_size else []

    def flush(self) -> list[Embedded | RowError]:
        batch, self._batch, self._photos = self._batch, [], 0
        if not batch:
            return []
        images = [image for item in batch for image in item.images or ()]
        encoder = self._encoder.get()
        try:
            with self._summary.timed("embed"):
                vectors = encoder.embed_images(images)
        except Exception as error:  # noqa: BLE001 - one bad batch must not sink the run
            reason = f"encoder failed on this batch: {error}"
            return [RowError(item.sku, "embed", reason, item.line) for item in batch]
        results: list[Embedded | RowError] = []
        offset = 0
        for item in batch:
            count = len(item.images or ())
            results.append(Embedded(item, vectors[offset : offset + count]))
            offset += count
            item.images = None  # free the pixels as soon as possible
        return results
