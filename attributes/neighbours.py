"""A nearest-neighbour vote over the labelled training photos, blended into a model's scores.

Why: fine-grained values (article types such as Tops vs Tshirts, Flats vs Heels) are often
told apart better by the labels of the most similar catalog photos than by one classifier over
the pooled vector; on the fashion catalog the blend raised article type accuracy by about
1.5 points on a validation split of the training products (README, Attributes from photos).

The memory is shared by every model of one training run (one `Memory`, stored once beside
the models: attributes/store.py); each model keeps only its labels of the memory's photos
(`Neighbours`). The memory holds each photo's unit vector projected on its top principal
components and quantised to int8, and a hash of its product's sku, so a product already in
the memory is never voted for by its own photos (its catalog value would otherwise vouch for
itself, and the mislabel list would go blind).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

MEMORY_DIM = 128  # principal components of the unit vector the memory keeps
MEMORY_CAP = 20000  # photos at most (chosen by sku hash): the document stays a few MB
K = 25  # neighbours that vote
TAU = 0.02  # cosine-similarity scale of a vote's weight, exp((sim - best) / TAU)
SMOOTH = 1e-3  # added to every value's votes: an unseen value is unlikely, not impossible
BLOCK = 1024  # query rows per similarity block (bounds memory on a whole catalog)


def sku_key(sku: str) -> int:
    """A 32-bit hash of `sku`: which memory photos belong to a product."""
    return int.from_bytes(hashlib.sha256(f"memory:{sku}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Memory:
    centre: np.ndarray  # (v,) mean unit vector
    basis: np.ndarray  # (v, r) principal directions
    codes: np.ndarray  # (n, r) int8 projections
    step: float  # code -> projection scale
    keys: np.ndarray  # (n,) uint32 sku keys

    @classmethod
    def build(
        cls, vectors: np.ndarray, keys: np.ndarray, dim: int = MEMORY_DIM, cap: int = MEMORY_CAP
    ) -> Memory:
        """The memory of `vectors` (unit, one per photo) and their products' `keys`."""
        keep = np.flatnonzero(keys.astype(np.float64) / 2**32 < cap / max(len(keys), cap))
        x = np.asarray(vectors[keep], dtype=np.float32)
        centre = x.mean(axis=0)
        centred = x - centre
        _, directions = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
        basis = directions[:, ::-1][:, : min(dim, x.shape[1])]
        basis = basis.astype(np.float16).astype(np.float32)  # as stored: half precision
        projected = _unit(centred @ basis)
        step = float(np.abs(projected).max()) / 127.0 or 1.0
        codes = np.round(projected / step).astype(np.int8)
        return cls(centre, basis, codes, step, keys[keep].astype(np.uint32))

    @cached_property
    def id(self) -> str:
        digest = hashlib.sha256()
        for array in (self.centre, self.basis, self.codes, self.keys):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr(round(self.step, 9)).encode())
        return f"memory-{digest.hexdigest()[:12]}"

    @cached_property
    def _points(self) -> np.ndarray:
        """(n, r) the photos' unit projections."""
        return _unit(self.codes.astype(np.float32) * self.step)

    def _similarities(self, query: np.ndarray) -> np.ndarray:
        """(m, n) cosine similarities of m projected unit queries to the memory's photos. A
        few queries (ingest, a shopper's photo) without BLAS: its threads turned a (1, 128) x
        (128, 7400) product into 2-6 ms on a busy 2-core machine, einsum's loop takes 0.3."""
        if len(query) > 8:
            return query @ self._points.T
        return np.einsum("nr,mr->mn", self._points, query)

    @cached_property
    def _photos_of(self) -> dict[int, list[int]]:
        """sku key -> the indices of its product's photos."""
        photos: dict[int, list[int]] = {}
        for index, key in enumerate(self.keys.tolist()):
            photos.setdefault(key, []).append(index)
        return photos

    def nearest(
        self, vectors: np.ndarray, exclude: np.ndarray | None = None, k: int = K
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities (m, k) of each unit vector's nearest memory photos,
        best first; photos whose key is the row's `exclude` key are skipped."""
        k = min(k, len(self.keys))
        found, sims = [], []
        for start in range(0, len(vectors), BLOCK):
            block = vectors[start : start + BLOCK]
            query = _unit((np.asarray(block, dtype=np.float32) - self.centre) @ self.basis)
            scores = self._similarities(query)
            if exclude is not None:
                for row, key in enumerate(exclude[start : start + BLOCK].tolist()):
                    scores[row, self._photos_of.get(key, [])] = -np.inf
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            found.append(top)
            sims.append(np.take_along_axis(scores, top, axis=1))
        if not found:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        return np.concatenate(found), np.concatenate(sims)

    def as_document(self) -> dict[str, Any]:
        return {
            "memory_id": self.id,
            "step": self.step,
            "shape": list(self.codes.shape),
            "vector_dim": int(self.centre.shape[0]),
            "arrays": {
                "centre": _pack(self.centre, "<f4"),
                "basis": _pack(self.basis, "<f2"),  # half precision: half the bytes, same votes
                "codes": _pack(self.codes, "i1"),
                "keys": _pack(self.keys, "<u4"),
            },
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Memory:
        (n, r), v = doc["shape"], int(doc["vector_dim"])
        arrays = doc["arrays"]
        memory = cls(
            _unpack(arrays["centre"], "<f4", (v,)).astype(np.float32),
            _unpack(arrays["basis"], "<f2", (v, r)).astype(np.float32),
            _unpack(arrays["codes"], "i1", (n, r)),
            float(doc["step"]),
            _unpack(arrays["keys"], "<u4", (n,)),
        )
        if memory.id != doc.get("memory_id"):
            raise ValueError(f"attribute memory {doc.get('memory_id')}: arrays do not match")
        return memory


@dataclass(frozen=True)
class Neighbours:
    """One model's vote: its labels of the memory's photos (-1: unlabelled) and the weight of
    the vote's log-probabilities in the model's scores (chosen on held-back products)."""

    memory: Memory
    labels: np.ndarray  # (n,) int16
    weight: float
    k: int = K
    tau: float = TAU

    def log_votes(
        self, classes: int, vectors: np.ndarray, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """(m, classes) log-probabilities of the distance-weighted vote of the neighbours."""
        found, sims = self.memory.nearest(vectors, exclude, self.k)
        return self.log_votes_of(classes, found, sims)

    def log_votes_of(self, classes: int, found: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """log_votes from already found neighbours (shared by the models of one memory)."""
        best = sims.max(axis=1, keepdims=True, initial=-np.inf)
        best = np.where(np.isfinite(best), best, 0.0)  # every neighbour skipped: no votes
        weights = np.exp((sims - best) / self.tau)  # a skipped one (-inf) weighs 0
        labels = self.labels[found]
        counted = labels >= 0
        cells = (np.arange(len(found))[:, None] * classes + labels)[counted]
        votes = np.bincount(cells, weights[counted], minlength=len(found) * classes)
        votes = votes.reshape(len(found), classes)
        total = votes.sum(axis=1, keepdims=True)
        return np.log((votes + SMOOTH) / (total + SMOOTH * classes))

    def as_field(self) -> dict[str, Any]:
        return {
            "memory_id": self.memory.id,
            "weight": self.weight,
            "k": self.k,
            "tau": self.tau,
            "labels": _pack(self.labels, "<i2"),
        }

    @classmethod
    def from_field(cls, field: dict[str, Any], memory: Memory) -> Neighbours:
        labels = _unpack(field["labels"], "<i2", (len(memory.keys),))
        return cls(memory, labels, float(field["weight"]), int(field["k"]), float(field["tau"]))

    def digest(self) -> bytes:
        """What a model id covers of its vote: the memory, the labels and the weights."""
        text = f"{self.memory.id}:{self.weight!r}:{self.k}:{self.tau!r}"
        return text.encode() + np.ascontiguousarray(self.labels, dtype="<i2").tobytes()


def memory_labels(
    memory: Memory, keys: np.ndarray, labels: Sequence[int] | np.ndarray
) -> np.ndarray:
    """Each memory photo's label from its product's (`keys` -> `labels`; -1 when unknown)."""
    by_key = dict(zip(np.asarray(keys).tolist(), np.asarray(labels).tolist(), strict=True))
    return np.array([by_key.get(key, -1) for key in memory.keys.tolist()], dtype=np.int16)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _pack(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode()


def _unpack(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).reshape(shape).copy()
