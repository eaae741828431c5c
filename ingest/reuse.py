"""Rebuild: stored documents of the live index, fetched in batches of `batch` products, so
unchanged photos keep their vectors (copy) and broken rows keep their document (carry over)."""

from __future__ import annotations

from typing import Any

from visearch.ingest.prepare import Prepared
from visearch.ingest.stored import fetch_documents
from visearch.ingest.summary import IngestSummary


class StoredDocuments:
    def __init__(self, client: Any, index: str, summary: IngestSummary, batch: int = 200) -> None:
        self.index = index
        self._client = client
        self._summary = summary
        self._batch_size = batch
        self._batch: list[Prepared] = []

    def add(self, prepared: Prepared) -> list[tuple[Prepared, dict[str, Any] | None]]:
        """Queue `prepared`; when the batch is full, each queued product with its stored
        source (None when it vanished from the live index meanwhile)."""
        self._batch.append(prepared)
        return self.flush() if len(self._batch) >= self._batch_size else []

    def flush(self) -> list[tuple[Prepared, dict[str, Any] | None]]:
        batch, self._batch = self._batch, []
        if not batch:
            return []
        with self._summary.timed("copy"):
            skus = [str(item.sku) for item in batch]
            found = {doc["sku"]: doc for doc in fetch_documents(self._client, self.index, skus)}
        return [(item, found.get(str(item.sku))) for item in batch]
