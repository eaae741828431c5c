"""One ingest at a time per cluster and alias: an advisory file lock.

The kernel drops an flock when its process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockedError(RuntimeError):
    """Another ingest holds the lock."""


def default_lock_path(opensearch_url: str, alias: str) -> Path:
    digest = hashlib.sha256(f"{opensearch_url}|{alias}".encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"visearch-ingest-{alias}-{digest}.lock"


@contextmanager
def ingest_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise LockedError(
                f"another ingest is running (lock {path}, held by pid {holder}); "
                "wait for it to finish"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
