"""An encoder run by an exported model: the `Encoder` interface over one session per tower."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from visearch.vectors.encoders import EncoderError, empty_embeddings, unit_rows

if TYPE_CHECKING:
    from visearch.vectors.runtimes.families import Family
    from visearch.vectors.runtimes.sessions import Session


class ExportedEncoder:
    """Same inputs, batching and unit float32 rows as the torch encoders; `name` says the
    precision when it changes the vectors (fp32 keeps the torch encoder's name)."""

    device = "cpu"

    def __init__(
        self,
        name: str,
        dim: int,
        family: Family,
        sessions: dict[str, Session],
        *,
        batch_size: int = 32,
        artifact: str = "",
    ) -> None:
        self.name, self.dim, self.batch_size = name, dim, batch_size
        self.family, self.sessions, self.artifact = family, sessions, artifact
        first = next(iter(sessions.values()))
        self.engine, self.precision, self.threads = first.engine, first.precision, first.threads
        self.supports_text = "text" in sessions

    @property
    def runtime(self) -> str:
        """`openvino/int8 x1 thread`: what runs, for logs and benchmarks."""
        return f"{self.engine}/{self.precision} x{self.threads}"

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return self._embed("image", images)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not self.supports_text:
            raise EncoderError(
                f"encoder {self.name} has no text tower; text queries need a CLIP encoder "
                f"(spec 'clip:<model>'), or search by image instead"
            )
        return self._embed("text", texts)

    def _embed(self, tower: str, items: Sequence[Any]) -> np.ndarray:
        if len(items) == 0:
            return empty_embeddings(self.dim)
        session = self.sessions[tower]
        chunks = [
            session.run(self.family.feeds(tower, items[start : start + self.batch_size]))
            for start in range(0, len(items), self.batch_size)
        ]
        return unit_rows(np.concatenate(chunks))
