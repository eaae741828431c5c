"""One embedding interface shared by ingest and query, so both sides agree on vectors.

Heavy libraries (torch, transformers, sentence-transformers) are imported only when an
encoder is loaded, which keeps ``import ingest.encoders`` cheap for the CLI and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CLIP_PREFIX",
    "DEFAULT_CLIP_MODEL",
    "EFFICIENTNET_LITE0",
    "Encoder",
    "EncoderError",
    "empty_embeddings",
    "unit_rows",
]

CLIP_PREFIX = "clip:"
DEFAULT_CLIP_MODEL = "clip-ViT-B-32"
EFFICIENTNET_LITE0 = "efficientnet-lite0"

VALID_SPECS = (
    f"'{CLIP_PREFIX}<sentence-transformers model id or local path>' "
    f"(e.g. '{CLIP_PREFIX}{DEFAULT_CLIP_MODEL}'), or '{EFFICIENTNET_LITE0}', "
    "optionally with a precision: '@int8', '@bf16' or '@auto'"
)


class EncoderError(Exception):
    """Raised for a bad encoder spec or an operation the encoder cannot do."""


@runtime_checkable
class Encoder(Protocol):
    """Maps images (and, if ``supports_text``, texts) into one L2-normalised vector space."""

    name: str
    """Stable identifier recorded in the index, so queries use the same model as ingest."""
    dim: int
    supports_text: bool

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Return a contiguous ``(n, dim)`` float32 array of unit rows for RGB PIL images."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Return a contiguous ``(n, dim)`` float32 array of unit rows for texts."""
        ...


def empty_embeddings(dim: int) -> np.ndarray:
    """Result for zero inputs, shape ``(0, dim)``, so callers can always ``vstack``."""
    return np.zeros((0, dim), dtype=np.float32)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Contiguous float32 with unit L2 rows; a zero row stays zero instead of becoming NaN."""
    out = np.asarray(vectors, dtype=np.float32)
    out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(out, dtype=np.float32)
