"""What a run did: counters, per-stage seconds and row errors; printed, written as JSON, and
turned into the exit code by the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from visearch.ingest.plan import DeleteRefusal
from visearch.ingest.records import RowError

T = TypeVar("T")
_IMAGE_PREFIX = re.compile(r"^image \S+: ")  # ImageError: "image <ref>: <reason>"
_QUOTED = re.compile(r"'[^']*'")
_PARENTHESISED_PATH = re.compile(r" \((?:/|[A-Za-z]:\\)[^)]*\)")
_NUMBER = re.compile(r"\d+")


def failure_kind(error: RowError) -> str:
    """A row error's reason without the values that differ from row to row."""
    reason = _IMAGE_PREFIX.sub("", error.reason)
    reason = _PARENTHESISED_PATH.sub("", reason)
    reason = _QUOTED.sub("'…'", reason)
    return f"{error.stage}: {_NUMBER.sub('N', reason)}"


@dataclass
class IngestSummary:
    alias: str
    index: str = ""
    rebuild: bool = False
    dry_run: bool = False  # counters say what a real run would do; nothing was written
    read: int = 0  # catalog records
    embedded: int = 0  # products whose photos went through the model
    photos_embedded: int = 0  # their photos (several per product with extra photos)
    unchanged: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    copied: int = 0  # rebuild: products whose vectors were reused from the live index
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: read (catalog), load_state, prepare_wait (main thread waiting
    for image reads), plan, load_encoder, embed, copy, index (bulk writer thread, overlapping
    the others), finish (deletes, alias swap, refresh)."""
    deletions_refused: DeleteRefusal | None = None
    swapped_from: str | None = None
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("errors")
        data["deletions_refused"] = self.deletions_refused and self.deletions_refused.as_dict()
        data["top_failures"] = self.top_failures()
        return data

    def top_failures(self, limit: int = 5) -> list[dict[str, Any]]:
        """The commonest reasons records failed, with a count and one example each, so a
        summary says why without the report (names and paths are folded out of a reason)."""
        groups: dict[str, list[RowError]] = {}
        for error in self.errors:
            groups.setdefault(failure_kind(error), []).append(error)
        ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
        return [
            {"reason": kind, "count": len(errors), "example": errors[0].as_dict()}
            for kind, errors in ranked[:limit]
        ]

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add_time(stage, time.perf_counter() - started)

    def timed_iter(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """`items`, with the time spent producing each one added to `stage`."""
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add_time(stage, time.perf_counter() - started)
                return
            self.add_time(stage, time.perf_counter() - started)
            yield item

    def rounded(self) -> IngestSummary:
        self.stage_seconds = {name: round(value, 3) for name, value in self.stage_seconds.items()}
        self.seconds = round(self.seconds, 3)
        return self
