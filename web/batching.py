"""A micro-batcher in front of an encoder: concurrent image queries share one model call.

Request threads call `embed_images` as usual and block; one batcher thread takes the first
waiting request, gathers more for up to `window_s` (or until `max_batch` images), runs
`encoder.embed_images` once and hands each caller its rows. With `window_s = 0` it only
takes what is already queued, which batches under load and adds no wait when idle.
It is an `Encoder` itself, so `Searcher` does not know it is there.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from visearch.vectors.encoders import Encoder

if TYPE_CHECKING:
    from PIL import Image

_Job = tuple[list["Image.Image"], "Future[np.ndarray]"]


class BatchingEncoder:
    def __init__(self, encoder: Encoder, *, max_batch: int = 16, window_s: float = 0.0) -> None:
        if max_batch < 1 or window_s < 0:
            raise ValueError("max_batch must be >= 1 and window_s >= 0")
        self.encoder = encoder
        self.name, self.dim, self.supports_text = encoder.name, encoder.dim, encoder.supports_text
        self.max_batch, self.window_s = max_batch, window_s
        self.batches = 0
        self.images = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="encoder-batcher", daemon=True)
        self._thread.start()

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        future: Future[np.ndarray] = Future()
        self._jobs.put((list(images), future))
        return future.result()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.embed_texts(texts)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            batch = [job]
            count = len(job[0])
            deadline = time.monotonic() + self.window_s
            while count < self.max_batch:
                try:
                    wait = deadline - time.monotonic()
                    more = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
                count += len(more[0])
            self._embed(batch)

    def _embed(self, batch: list[_Job]) -> None:
        images = [image for job_images, _ in batch for image in job_images]
        try:
            vectors = self.encoder.embed_images(images)
        except BaseException as error:  # noqa: BLE001 - every waiting caller gets the error
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        self.images += len(images)
        start = 0
        for job_images, future in batch:
            future.set_result(vectors[start : start + len(job_images)])
            start += len(job_images)
