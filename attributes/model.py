"""One attribute's model: a softmax classifier on standardised photo features, either linear
(L2-regularised softmax regression, scipy's L-BFGS) or with one hidden ReLU layer (trained in
attributes/mlp.py), with a temperature fitted on held-back products so its confidence means
what it says.

Applying a model is numpy only, and the whole model is a few arrays that travel as one JSON
document (see attributes/store.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from visearch.attributes.neighbours import Memory, Neighbours

FORMAT = 3  # bumped when the stored layout changes (2: hidden layer; 3: clip, neighbours)
READABLE_FORMATS = (1, 2, 3)  # 1: linear models stored before the hidden layer existed
# Standardised features are clipped to +-CLIP: a colour feature that is nearly constant in
# training (scale ~0.001) gave |z| up to 270 on a few photos, logits in the thousands, and
# temperatures fitted to those few (article type's swung from 2.0 to 3.6 between splits,
# leaving 7% instead of 66% of the products above the fill threshold).
CLIP = 6.0


@dataclass(frozen=True)
class AttributeModel:
    attribute: str
    classes: tuple[str, ...]
    mean: np.ndarray  # (d,) feature standardisation
    scale: np.ndarray  # (d,)
    weight: np.ndarray  # (d, k), or (h, k) after a hidden layer
    bias: np.ndarray  # (k,)
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)  # encoder, trained_at, counts, ...
    hidden_weight: np.ndarray | None = None  # (d, h): the hidden ReLU layer, when there is one
    hidden_bias: np.ndarray | None = None  # (h,)
    clip: float | None = None  # |standardised feature| at most this (None: format 1-2 models)
    neighbours: Neighbours | None = None  # a nearest-neighbour vote blended into the scores

    @cached_property
    def id(self) -> str:
        """`<attribute>-<hash of the weights and classes>`: which model predicted a value.
        Cached: every prediction names it, and hashing a hidden layer's weights per product
        cost ingest more than the prediction itself."""
        digest = hashlib.sha256()
        for array in (self.mean, self.scale, self.weight, self.bias, *self._hidden_arrays()):
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        digest.update("\x1f".join(self.classes).encode())
        digest.update(repr(round(self.temperature, 6)).encode())
        if self.clip is not None:
            digest.update(f"clip:{self.clip!r}".encode())
        if self.neighbours is not None:
            digest.update(self.neighbours.digest())
        return f"{self.attribute}-{digest.hexdigest()[:12]}"

    @property
    def encoder(self) -> str:
        return str(self.meta.get("encoder", ""))

    @property
    def kind(self) -> str:
        """`trained` (learned from labelled products) or `zero-shot` (from value names)."""
        return str(self.meta.get("kind", "trained"))

    @property
    def dim(self) -> int:
        """The length of the feature rows the model reads."""
        return int(self.mean.shape[0])

    def _hidden_arrays(self) -> tuple[np.ndarray, ...]:
        if self.hidden_weight is None or self.hidden_bias is None:
            return ()
        return (self.hidden_weight, self.hidden_bias)

    def logits(self, features: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(features), self.mean, features)  # unknown: the mean
        z = (filled - self.mean) / self.scale
        if self.clip is not None:
            z = np.clip(z, -self.clip, self.clip)
        if self.hidden_weight is not None and self.hidden_bias is not None:
            z = np.maximum(z @ self.hidden_weight + self.hidden_bias, 0.0)
        return z @ self.weight + self.bias

    def scores(
        self,
        features: np.ndarray,
        exclude: np.ndarray | None = None,
        nearest: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(n, k) untempered scores: the logits, plus the weighted log-probabilities of the
        neighbours' vote when the model has one. `exclude`: each row's sku key (its own
        product's photos never vote); `nearest`: neighbours already found in the memory."""
        logits = self.logits(features)
        if self.neighbours is None:
            return logits
        k = len(self.classes)
        if nearest is None:
            vectors = features[:, : self.neighbours.memory.centre.shape[0]]
            votes = self.neighbours.log_votes(k, vectors, exclude)
        else:
            votes = self.neighbours.log_votes_of(k, *nearest)
        return log_softmax(logits) + self.neighbours.weight * votes

    def probabilities(
        self,
        features: np.ndarray,
        exclude: np.ndarray | None = None,
        nearest: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """(n, k) calibrated class probabilities of n feature rows."""
        rows = np.atleast_2d(features)
        return softmax(self.scores(rows, exclude, nearest) / self.temperature)

    def as_document(self) -> dict[str, Any]:
        hidden = 0 if self.hidden_weight is None else int(self.hidden_weight.shape[1])
        names = _ARRAYS + (_HIDDEN_ARRAYS if hidden else ())
        return {
            "format": FORMAT,
            "attribute": self.attribute,
            "model_id": self.id,
            "classes": list(self.classes),
            "temperature": self.temperature,
            "dim": self.dim,
            "hidden": hidden,
            "clip": self.clip,
            "neighbours": None if self.neighbours is None else self.neighbours.as_field(),
            "arrays": {name: _pack(getattr(self, name)) for name in names},
            "meta": self.meta,
        }

    @classmethod
    def from_document(
        cls, doc: dict[str, Any], memories: Mapping[str, Memory] | None = None
    ) -> AttributeModel:
        """The stored model; `memories` (memory id -> Memory) holds its vote's memory."""
        if doc.get("format") not in READABLE_FORMATS:
            raise ValueError(f"attribute model format {doc.get('format')} is not {FORMAT}")
        dim, k, hidden = int(doc["dim"]), len(doc["classes"]), int(doc.get("hidden") or 0)
        shapes = {
            "mean": (dim,),
            "scale": (dim,),
            "weight": (hidden or dim, k),
            "bias": (k,),
            "hidden_weight": (dim, hidden),
            "hidden_bias": (hidden,),
        }
        names = _ARRAYS + (_HIDDEN_ARRAYS if hidden else ())
        arrays = {name: _unpack(doc["arrays"][name], shapes[name]) for name in names}
        vote = doc.get("neighbours")
        if vote is not None:
            memory = (memories or {}).get(vote["memory_id"])
            if memory is None:
                raise ValueError(f"attribute model {doc.get('model_id')}: its memory is missing")
            vote = Neighbours.from_field(vote, memory)
        clip = doc.get("clip")
        model = cls(
            doc["attribute"],
            tuple(doc["classes"]),
            **arrays,
            temperature=float(doc["temperature"]),
            meta=dict(doc.get("meta") or {}),
            clip=None if clip is None else float(clip),
            neighbours=vote,
        )
        if model.id != doc.get("model_id"):
            raise ValueError(f"attribute model {doc.get('model_id')}: arrays do not match its id")
        return model


_ARRAYS = ("mean", "scale", "weight", "bias")
_HIDDEN_ARRAYS = ("hidden_weight", "hidden_bias")


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode()


def _unpack(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(shape).astype(np.float32)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class FeatureSpace:
    """Standardisation, and optionally a smaller basis to train in: fitted once per training
    run and shared by every attribute (the features are the same for all of them)."""

    mean: np.ndarray
    scale: np.ndarray
    basis: np.ndarray | None  # (d, r): train on x @ basis, fold the weight back with basis @ w
    clip: float | None = CLIP

    @classmethod
    def fit(
        cls, features: np.ndarray, reduce: tuple[int, int] | None, sample: int = 3000
    ) -> FeatureSpace:
        """`reduce=(n, r)`: the first n columns (the encoder's vector) are replaced by their
        top r principal components (from at most `sample` rows), the rest kept as they are."""
        x = np.asarray(features, dtype=np.float32)
        mean = np.nan_to_num(np.nanmean(x, axis=0)) if np.isnan(x).any() else x.mean(axis=0)
        x = np.where(np.isnan(x), mean, x)
        scale = np.maximum(x.std(axis=0), 1e-6).astype(np.float32)
        space = cls(mean.astype(np.float32), scale, None)
        if reduce is None or reduce[1] >= min(reduce[0], len(x)):
            return space
        n, r = reduce
        rows = np.random.default_rng(0).permutation(len(x))[:sample]
        head = space.standardise(x[rows])[:, :n]
        _, vectors = np.linalg.eigh(head.T @ head)  # ascending eigenvalues
        d = x.shape[1]
        basis = np.zeros((d, r + d - n), dtype=np.float32)
        basis[:n, :r] = vectors[:, ::-1][:, :r]
        basis[n:, r:] = np.eye(d - n, dtype=np.float32)
        return cls(space.mean, scale, basis)

    def standardise(self, features: np.ndarray) -> np.ndarray:
        x = np.where(np.isnan(features), self.mean, features)
        z = ((x - self.mean) / self.scale).astype(np.float32)
        return z if self.clip is None else np.clip(z, -self.clip, self.clip)

    def project(self, features: np.ndarray) -> np.ndarray:
        z = self.standardise(features)
        return z @ self.basis if self.basis is not None else z

    def fold(self, weight: np.ndarray) -> np.ndarray:
        return self.basis @ weight if self.basis is not None else weight


def fit_softmax(
    z: np.ndarray, labels: np.ndarray, k: int, *, l2: float, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """weight, bias of a softmax regression of `labels` (0..k-1) on the projected features `z`,
    minimising mean cross-entropy + l2/2 * |weight|^2 with L-BFGS."""
    from scipy.optimize import minimize  # here: searches apply models and never need scipy

    n, d = z.shape
    onehot = np.zeros((n, k), dtype=np.float32)
    onehot[np.arange(n), labels] = 1.0

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w = params[: d * k].reshape(d, k).astype(np.float32)
        b = params[d * k :].astype(np.float32)
        logits = z @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        value = -float((onehot * log_p).sum()) / n + 0.5 * l2 * float((w * w).sum())
        residual = (np.exp(log_p) - onehot) / n
        grad_w = z.T @ residual + l2 * w
        grad = np.concatenate([grad_w.ravel(), residual.sum(axis=0)])
        return value, grad.astype(np.float64)

    start = np.zeros(d * k + k)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    weight = result.x[: d * k].reshape(d, k).astype(np.float32)
    return weight, result.x[d * k :].astype(np.float32)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of held-back `labels`."""
    if len(labels) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_p = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(labels)), labels].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            total += chosen.mean() * abs(confidence[chosen].mean() - correct[chosen].mean())
    return float(total)
