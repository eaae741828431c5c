"""Worker threads for the blocking half of the API, in two pools.

- **Image work** (decoding and encoding uploads and image URLs) is bounded by a pixel budget:
  each job reserves the pixels its image decodes to (read from the header before any pixel
  is decoded; an image URL reserves the query pixel cap, as its size is not known yet).
  A job the budget cannot hold is answered 503 with Retry-After at once, so a burst of huge
  images cannot take the memory, while many ordinary photos run side by side. A reservation
  is held until the job's thread really ends, so work abandoned at the timeout still counts.
- **Cluster calls** (keyword and filter searches, facets, products) queue for a bounded
  number of threads of their own, so they never starve the rest (config and health need
  no thread at all).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio

from visearch.web.config import ServiceConfig
from visearch.web.errors import ApiError
from visearch.web.memory import TRIM_AFTER_PIXELS, trim_heap

T = TypeVar("T")


class PixelBudget:
    """At most `total` pixels of image work at once; `on_idle` when the last job of a burst
    that held at least `idle_after` pixels at once ends."""

    def __init__(
        self, total: int, on_idle: Callable[[], None] | None = None, idle_after: int = 0
    ) -> None:
        self.total = self._free = total
        self._on_idle = on_idle
        self._idle_after = idle_after
        self._peak = 0  # the most pixels held at once since the budget was last idle
        self._lock = threading.Lock()

    def take(self, pixels: int) -> bool:
        with self._lock:
            if pixels > self._free:
                return False
            self._free -= pixels
            self._peak = max(self._peak, self.total - self._free)
            return True

    def give_back(self, pixels: int) -> None:
        with self._lock:
            self._free += pixels
            idle = self._free == self.total and self._peak >= self._idle_after
            if self._free == self.total:
                self._peak = 0
        if idle and self._on_idle is not None:
            self._on_idle()


class Workers:
    def __init__(self, config: ServiceConfig) -> None:
        self.timeout_s = config.timeout_s
        self.images = PixelBudget(
            config.image_pixel_budget, on_idle=trim_heap, idle_after=TRIM_AFTER_PIXELS
        )
        self._image_threads = anyio.CapacityLimiter(config.image_workers)
        self._cluster_threads = anyio.CapacityLimiter(config.cluster_workers)

    async def image_work(self, pixels: int, work: Callable[[float], T]) -> T:
        """`work(deadline)` for an image of `pixels`, or 503 at once past the budget."""
        cost = max(pixels, 1)
        if not self.images.take(cost):
            message = "too much image work at once; retry shortly"
            raise ApiError(503, "busy", message, retry_after=1)

        def job(deadline: float) -> T:
            try:
                return work(deadline)
            finally:
                self.images.give_back(cost)

        return await self._run(job, self._image_threads)

    async def cluster_work(self, work: Callable[[float], T]) -> T:
        return await self._run(work, self._cluster_threads)

    async def _run(self, work: Callable[[float], T], threads: anyio.CapacityLimiter) -> T:
        """`work(deadline)` in a worker thread; 504 once the request's time is up (the work
        stops at its next stage boundary; its cluster calls have the same timeout)."""
        deadline = time.monotonic() + self.timeout_s
        try:
            with anyio.fail_after(self.timeout_s):
                return await anyio.to_thread.run_sync(
                    lambda: work(deadline), abandon_on_cancel=True, limiter=threads
                )
        except TimeoutError:
            message = f"the request took longer than {self.timeout_s:g}s"
            raise ApiError(504, "timeout", message) from None
