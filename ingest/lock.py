"""One ingest at a time per alias, across every host: a lock document in the cluster.

The lock is a document in the `visearch-locks` index whose id is the alias. Taking it is an
atomic create; the holder renews it (a heartbeat) while it runs; a run that dies stops
renewing, so its lock expires and the next run takes it over with a compare-and-set (the
sequence number it read), which two waiting runs cannot both win. However the cluster is
spelled (127.0.0.1 or localhost) and whichever host runs the job, there is one lock.

Expiry is judged by the clock of the host that wants the lock, so hosts should keep their
clocks in step (NTP) to well within the lock's time to live.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opensearchpy.exceptions import ConflictError, NotFoundError, RequestError

from visearch.ingest.errors import IngestError

LOCK_INDEX = "visearch-locks"
DEFAULT_TTL_S = 60.0


class LockedError(IngestError):
    """Another ingest holds the alias's lock; `holder` says who and until when."""

    def __init__(self, alias: str, holder: dict[str, Any]) -> None:
        self.alias, self.holder = alias, holder
        super().__init__(
            f"another ingest into {alias!r} is running (held by {holder.get('owner')}, "
            f"since {holder.get('acquired_at')}; it expires at {holder.get('expires_at')} "
            "unless renewed)"
        )


class LockLostError(IngestError):
    """This run's lock was taken over (it was not renewed in time): stop writing."""


@dataclass(frozen=True)
class LockSettings:
    ttl_s: float = DEFAULT_TTL_S
    """A holder that has not renewed for this long is taken to be dead."""
    owner: str = ""
    """Who holds it, for the message another run shows; default host:pid:random."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def cluster_lock(
    client: Any, alias: str, settings: LockSettings | None = None
) -> Iterator[ClusterLock]:
    """Hold the alias's lock for the duration of the block, renewing it in the background."""
    settings = settings or LockSettings()
    lock = ClusterLock(client, alias, settings.owner or default_owner(), settings.ttl_s)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


class ClusterLock:
    def __init__(self, client: Any, alias: str, owner: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("the lock's time to live must be positive")
        self.client, self.alias, self.owner, self.ttl_s = client, alias, owner, ttl_s
        self._version: tuple[int, int] | None = None  # (seq_no, primary_term) we wrote
        self._acquired_at = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost: BaseException | None = None

    def acquire(self) -> None:
        ensure_lock_index(self.client)
        try:
            self._write(op_type="create")
        except ConflictError:
            self._take_over_if_expired()
        self._renewer = threading.Thread(target=self._renew, name="ingest-lock", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        if self._version is None:
            return
        seq_no, term = self._version
        # Only our own lock: one someone took over after ours expired stays theirs.
        with suppress(ConflictError, NotFoundError):
            self.client.delete(
                index=LOCK_INDEX, id=self.alias, if_seq_no=seq_no, if_primary_term=term,
                refresh=True,
            )  # fmt: skip

    def check(self) -> None:
        """Raise LockLostError if renewing failed (another run may now hold the lock)."""
        if self.lost is not None:
            raise LockLostError(f"the ingest lock on {self.alias!r} was lost: {self.lost}")

    def _take_over_if_expired(self) -> None:
        found = self.client.get(index=LOCK_INDEX, id=self.alias)
        holder = found["_source"]
        if float(holder.get("expires_epoch", 0)) > time.time():
            raise LockedError(self.alias, holder)
        try:  # compare-and-set on the version we read: one of several waiting runs wins
            self._write(if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"])
        except ConflictError:
            current = self.client.get(index=LOCK_INDEX, id=self.alias)["_source"]
            raise LockedError(self.alias, current) from None

    def _write(self, **conditions: Any) -> None:
        now = time.time()
        body = {
            "alias": self.alias,
            "owner": self.owner,
            "acquired_at": _iso(now),
            "heartbeat_at": _iso(now),
            "expires_at": _iso(now + self.ttl_s),
            "expires_epoch": now + self.ttl_s,
        }
        if self._version is not None:
            seq_no, term = self._version
            conditions = {"if_seq_no": seq_no, "if_primary_term": term}
            body["acquired_at"] = self._acquired_at
        response = self.client.index(
            index=LOCK_INDEX, id=self.alias, body=body, refresh=True, **conditions
        )
        self._acquired_at = body["acquired_at"]
        self._version = (response["_seq_no"], response["_primary_term"])

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self._write()
            except Exception as error:  # noqa: BLE001 - reported through check()
                self.lost = error
                return


def ensure_lock_index(client: Any) -> None:
    """The locks index, created on first use (clusters may forbid automatic creation)."""
    if client.indices.exists(index=LOCK_INDEX):
        return
    body = {
        "settings": {"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}},
        "mappings": {"dynamic": False, "properties": {"alias": {"type": "keyword"}}},
    }
    try:
        client.indices.create(index=LOCK_INDEX, body=body)
    except RequestError as error:
        if error.error != "resource_already_exists_exception":
            raise


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
