"""The service's hold on the cluster: the Searcher once it can be had, and health checked in
the background, so that no request waits on a cluster that does not answer.

`visearch serve` starts even while OpenSearch is down: a background thread keeps trying to
open the Searcher (reading the index's encoder and loading it), then keeps checking the
cluster, the alias and the encoder every `interval_s`. `/healthz` answers from the last check
at once; searches are refused with 503 while there is no Searcher or the cluster is known to
be down, instead of tying up a worker thread until a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from visearch.plugin.errors import InvalidParamsError
from visearch.plugin.rerank import RerankerError
from visearch.plugin.search import Searcher
from visearch.vectors.encoders import EncoderError

log = logging.getLogger("visearch.health")


@dataclass(frozen=True)
class Health:
    """One check's outcome: per-check `ok` and a short `problem` code, never raw errors or
    internal names (those go to the log)."""

    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked_at: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check["ok"] for check in self.checks.values())

    def cluster_down(self) -> bool:
        return bool(self.checks) and not self.checks.get("opensearch", {}).get("ok", False)


class Backend:
    def __init__(
        self,
        connect: Callable[[], Searcher],
        client: Any,
        *,
        interval_s: float = 2.0,
        check_timeout_s: float = 1.0,
    ) -> None:
        self._connect = connect
        self._client = client
        self._interval_s = interval_s
        self._timeout_s = check_timeout_s
        self._searcher: Searcher | None = None
        self.fatal: Exception | None = None
        """A configuration error opening the Searcher (a bad encoder spec): not retried."""
        self.waiting_for: Exception | None = None
        """Why the Searcher could not be opened yet (the cluster or the index is missing)."""
        self._health = Health()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="health", daemon=True)

    @classmethod
    def of(cls, searcher: Searcher, **kwargs: Any) -> Backend:
        """A backend whose Searcher is already open."""
        backend = cls(lambda: searcher, searcher.client, **kwargs)
        backend._searcher = searcher
        return backend

    @property
    def searcher(self) -> Searcher | None:
        return self._searcher

    @property
    def health(self) -> Health:
        return self._health

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def check_now(self) -> Health:
        """Run one check in the caller's thread (at start-up, and in tests)."""
        self._health = self._check()
        return self._health

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._health = self._check()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one failure
                log.exception("health check failed")
            self._wake.wait(self._interval_s)
            self._wake.clear()

    def _check(self) -> Health:
        checks: dict[str, dict[str, Any]] = {"opensearch": self._cluster()}
        if checks["opensearch"]["ok"] and self._searcher is None:
            self._open()
        checks["index"], index_encoder = self._index()
        encoder = self._searcher.encoder if self._searcher is not None else None
        matches = encoder is not None and index_encoder in (None, encoder.name)
        checks["encoder"] = {"ok": matches, **_encoder_info(encoder)}
        if encoder is not None and not matches:
            checks["encoder"]["problem"] = "encoder_mismatch"
        return Health(checks, time.time())

    def _cluster(self) -> dict[str, Any]:
        try:
            health = self._client.cluster.health(request_timeout=self._timeout_s)
        except Exception as error:  # noqa: BLE001 - any failure means "not reachable"
            log.warning("opensearch health check failed: %s", error)
            if self._searcher is None:
                self.waiting_for = error
            return {"ok": False, "problem": "unreachable"}
        status = health.get("status")
        return {"ok": status in ("green", "yellow"), "status": status}

    def _open(self) -> None:
        if self.fatal is not None:
            return
        try:
            self._searcher = self._connect()
            self.waiting_for = None
            log.info("searcher ready for alias %s", self._searcher.alias)
        except (EncoderError, InvalidParamsError, RerankerError) as error:  # configuration
            log.error("cannot serve: %s", error)
            self.fatal = error
        except Exception as error:  # noqa: BLE001 - the cluster or index may come: retried
            self.waiting_for = error
            log.warning("cannot open the searcher yet: %s", error)

    def _index(self) -> tuple[dict[str, Any], str | None]:
        if self._searcher is None:
            return {"ok": False, "problem": "not_connected"}, None
        try:
            schema = self._searcher.refresh_schema()  # also picks up an alias swap
        except Exception as error:  # noqa: BLE001 - reported as data, logged in full
            log.warning("index check failed: %s", error)
            return {"ok": False, "problem": "index_unavailable"}, None
        if len(schema.indices) > 1:
            log.error("alias %s points to several indices: %s", schema.alias, schema.indices)
            return {"ok": False, "problem": "alias_on_several_indices"}, schema.encoder
        return {"ok": True}, schema.encoder


def _encoder_info(encoder: Any) -> dict[str, Any]:
    if encoder is None:
        return {"problem": "not_loaded"}
    info = encoder_info(encoder)
    if hasattr(encoder, "batches"):  # the micro-batcher's counters
        info["micro_batches"] = {"calls": encoder.batches, "images": encoder.images}
    return info


def encoder_info(encoder: Any) -> dict[str, Any]:
    """The served encoder: its name, dimension, text tower and the runtime it runs on
    (`openvino/int8 x1`; torch models say `torch`), seen through the micro-batcher."""
    inner = getattr(encoder, "encoder", encoder)  # BatchingEncoder wraps the model
    return {
        "name": encoder.name,
        "dim": encoder.dim,
        "supports_text": encoder.supports_text,
        "runtime": str(getattr(inner, "runtime", "torch")),
    }
