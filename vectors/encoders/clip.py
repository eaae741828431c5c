"""CLIP encoder via sentence-transformers: images and texts share one vector space.

This is what real users run (``clip:clip-ViT-B-32`` from the hub); offline tests and benches
point it at a local directory with random weights built by ``scripts/random_clip.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from visearch.vectors.encoders import CLIP_PREFIX, EncoderError, empty_embeddings, unit_rows

if TYPE_CHECKING:
    from PIL import Image


class ClipEncoder:
    """Wraps ``SentenceTransformer(model_id_or_path)`` for CLIP-style image+text models."""

    supports_text = True

    def __init__(self, model_id_or_path: str, *, device: str = "cpu", batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = CLIP_PREFIX + model_id_or_path
        self.device = device
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(model_id_or_path, device=device)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"cannot load CLIP model {model_id_or_path!r}: {exc}") from exc
        self._model.eval()
        self.dim = _embedding_dim(self._model)

    def torch_parts(self) -> tuple[Any, Any]:
        """The transformers CLIP model and its processor (what an ONNX export is made from)."""
        first = self._model[0]
        return first.model, first.processor

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB PIL images; sentence-transformers routes PIL inputs to the vision tower."""
        return self._encode(list(images))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed query texts into the same space as the images."""
        return self._encode(list(texts))

    def _encode(self, inputs: list[Any]) -> np.ndarray:
        if not inputs:
            return empty_embeddings(self.dim)
        import torch

        with torch.inference_mode():
            vectors = self._model.encode(
                inputs,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return unit_rows(vectors)


def _embedding_dim(model: Any) -> int:
    """Output width; CLIP models may report None, so fall back to the CLIP projection size."""
    # get_sentence_embedding_dimension() was renamed get_embedding_dimension() in ST 5.4+.
    getter = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    dim = getter() if getter is not None else None
    if dim:
        return int(dim)
    for module in model.modules():
        config = getattr(module, "config", None)
        projection_dim = getattr(config, "projection_dim", None)
        if projection_dim:
            return int(projection_dim)
    raise EncoderError("cannot tell the embedding size of this CLIP model")
