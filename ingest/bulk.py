"""Bulk writes as a stream, in a background thread, with one retry layer that gives up honestly.

Items that failed on a connection error, a timeout, 429 or a 5xx are sent again with capped
exponential backoff, `max_retries` times at most (opensearch-py's own 429 retries are off, so
an item is tried `max_retries + 1` times in all). Every action ends either written or as a
failure naming its sku and the reason.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import helpers

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
UNANSWERED = {"N/A", "TIMEOUT"}
"""opensearch-py's status for a connection error and for a read timeout: no answer came, so
the chunk may or may not have been written; sending it again is safe (actions are keyed)."""


@dataclass(frozen=True)
class BulkFailure:
    sku: str
    op: str  # index | update | delete
    reason: str
    line: int | None = None  # the catalog line the action came from, when it came from one


@dataclass
class BulkReport:
    written: int = 0
    failures: list[BulkFailure] = field(default_factory=list)
    seconds: float = 0.0
    attempts: int = 0  # bulk requests sent


@dataclass(frozen=True)
class BulkConfig:
    chunk_size: int = 200
    max_chunk_bytes: int = 50 * 1024 * 1024
    max_retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    queue_chunks: int = 4  # chunks buffered ahead of the writer thread


Key = tuple[str, str]  # (op, document id)


def write_chunk(
    client: Any,
    actions: list[dict[str, Any]],
    config: BulkConfig,
    lines: dict[Key, int] | None = None,
) -> BulkReport:
    """Write one chunk; retry what failed for transient reasons; report the rest."""
    report = BulkReport()
    pending = {_key(action): action for action in actions}
    last_reason: dict[Key, str] = {}
    for attempt in range(config.max_retries + 1):
        if attempt:
            time.sleep(min(config.max_backoff_s, config.backoff_s * 2 ** (attempt - 1)))
        report.attempts += 1
        for ok, item in helpers.streaming_bulk(
            client,
            list(pending.values()),
            chunk_size=max(1, len(pending)),
            max_chunk_bytes=config.max_chunk_bytes,
            max_retries=0,  # this loop is the only retry layer
            raise_on_error=False,
            raise_on_exception=False,
            yield_ok=True,
        ):
            op, result = next(iter(item.items()))
            key = (op, str(result.get("_id")))
            status = result.get("status")
            if ok or (op == "delete" and status == 404):  # deleting what is gone is fine
                report.written += 1
                pending.pop(key, None)
            elif status in UNANSWERED or status in RETRYABLE_STATUS:
                last_reason[key] = _reason(result)
            else:
                failure = BulkFailure(key[1], op, _reason(result), (lines or {}).get(key))
                report.failures.append(failure)
                pending.pop(key, None)
        if not pending:
            return report
    for key in pending:
        reason = f"gave up after {report.attempts} attempts: {last_reason.get(key)}"
        report.failures.append(BulkFailure(key[1], key[0], reason, (lines or {}).get(key)))
    return report


def _key(action: dict[str, Any]) -> Key:
    return (action.get("_op_type", "index"), str(action["_id"]))


def _reason(result: dict[str, Any]) -> str:
    error = result.get("error")
    if isinstance(error, dict):
        text = f"{error.get('type')}: {error.get('reason')}"
        if cause := error.get("caused_by"):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return f"HTTP {result.get('status')} {text}"
    return f"{result.get('status')} {error}"


class BulkWriter:
    """Buffers actions and flushes full chunks on a background thread, so the model never waits."""

    def __init__(self, client: Any, config: BulkConfig | None = None) -> None:
        self._client = client
        self._config = config or BulkConfig()
        self._buffer: list[dict[str, Any]] = []
        self._lines: dict[Key, int] = {}
        self._queue: queue.Queue[tuple[list[dict[str, Any]], dict[Key, int]] | None] = queue.Queue(
            maxsize=self._config.queue_chunks
        )
        self.report = BulkReport()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bulk-writer", daemon=True)
        self._thread.start()

    def add(self, action: dict[str, Any], line: int | None = None) -> None:
        """Queue one action; `line` (the catalog line) goes with its failure, if it fails."""
        if self._error is not None:
            raise RuntimeError("bulk writer stopped") from self._error
        self._buffer.append(action)
        if line is not None:
            self._lines[_key(action)] = line
        if len(self._buffer) >= self._config.chunk_size:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._queue.put((self._buffer, self._lines))
            self._buffer, self._lines = [], {}

    def close(self) -> BulkReport:
        """Send what is buffered, wait for the thread, and return the report."""
        self.flush()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise RuntimeError("bulk writer failed") from self._error
        return self.report

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain so producers never block
            started = time.perf_counter()
            try:
                result = write_chunk(self._client, chunk[0], self._config, chunk[1])
            except BaseException as error:  # noqa: BLE001 - surfaced to the producer
                self._error = error
                continue
            self.report.written += result.written
            self.report.failures.extend(result.failures)
            self.report.attempts += result.attempts
            self.report.seconds += time.perf_counter() - started
