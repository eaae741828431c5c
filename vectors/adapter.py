"""A catalog-tuned adapter: a linear projection on frozen encoder features.

The adapter is a versioned artifact (a folder with `adapter.npz` and `adapter.json`); its id
is a hash of its weights. An adapted encoder's name is `<base>+<adapter id>`, and that name is
what ingest records in the index and hashes into every vector key, so an index built with one
adapter refuses queries with another (or none), and switching adapters re-embeds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.encoders import Encoder, EncoderError, unit_rows
from visearch.vectors.runtimes import split_precision

WEIGHTS_FILE = "adapter.npz"
META_FILE = "adapter.json"


@dataclass(frozen=True)
class Adapter:
    weight: np.ndarray  # (input dim, output dim)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.weight, dtype=np.float32).tobytes())
        return f"adapter-{digest.hexdigest()[:12]}"

    @property
    def base_encoder(self) -> str:
        return str(self.meta.get("base_encoder", ""))

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return unit_rows(np.asarray(vectors, dtype=np.float32) @ self.weight)

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / WEIGHTS_FILE, weight=self.weight.astype(np.float32))
        meta = {**self.meta, "id": self.id, "input_dim": int(self.weight.shape[0])}
        meta["output_dim"] = int(self.weight.shape[1])
        (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> Adapter:
        weights, meta_file = folder / WEIGHTS_FILE, folder / META_FILE
        if not weights.is_file() or not meta_file.is_file():
            raise EncoderError(f"{folder} is not an adapter (no {WEIGHTS_FILE} / {META_FILE})")
        with np.load(weights) as data:
            adapter = cls(
                np.asarray(data["weight"], dtype=np.float32), json.loads(meta_file.read_text())
            )
        if adapter.meta.get("id") not in (None, adapter.id):
            raise EncoderError(f"adapter {folder}: weights do not match the id in {META_FILE}")
        return adapter


def same_model(name: str) -> str:
    """`efficientnet-lite0@int8` -> `efficientnet-lite0`: the model, whatever its precision."""
    return split_precision(name)[0]


class AdaptedEncoder:
    """A base encoder followed by an adapter; image only (the adapter saw no text)."""

    supports_text = False

    def __init__(self, base: Encoder, adapter: Adapter) -> None:
        # An adapter maps a model's feature space; gated precisions of the model share it.
        if adapter.base_encoder and same_model(adapter.base_encoder) != same_model(base.name):
            raise EncoderError(
                f"adapter {adapter.id} was trained on {adapter.base_encoder!r} features, "
                f"not {base.name!r}"
            )
        if adapter.weight.shape[0] != base.dim:
            raise EncoderError(
                f"adapter {adapter.id} expects {adapter.weight.shape[0]}-d input; "
                f"{base.name} gives {base.dim}"
            )
        self.base = base
        self.adapter = adapter
        self.name = f"{base.name}+{adapter.id}"
        self.dim = int(adapter.weight.shape[1])

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return self.adapter.apply(self.base.embed_images(images))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise EncoderError(
            f"encoder {self.name} is adapted on image features only; it cannot embed text"
        )
