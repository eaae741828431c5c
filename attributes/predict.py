"""Predicted attribute values of products, and how much the model doubts the catalog's value.

A product with several photos gets the average of its photos' probabilities (a product whose
photos disagree is less sure, not more). `doubt` is 1 - the probability of the catalog's
value: near 1 when a confident prediction disagrees (a probable mislabel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visearch.attributes.model import AttributeModel
from visearch.attributes.neighbours import sku_key

# A prediction fills a missing value (filters, facets) at or above this confidence; chosen
# from bench/attributes.py (README, Attributes from photos).
FILL_THRESHOLD = 0.9
# A catalog value is listed as a probable mislabel at or above this doubt.
REVIEW_THRESHOLD = 0.95


@dataclass(frozen=True)
class Prediction:
    value: str
    confidence: float
    model: str
    doubt: float | None = None  # None: the product has no catalog value (or one never seen)

    def as_field(self) -> dict[str, Any]:
        field: dict[str, Any] = {
            "value": self.value,
            "confidence": round(float(self.confidence), 4),
            "model": self.model,
        }
        if self.doubt is not None:
            field["doubt"] = round(float(self.doubt), 4)
        return field


def product_probabilities(
    model: AttributeModel,
    rows: np.ndarray,
    owner: np.ndarray,
    products: np.ndarray,
    keys: np.ndarray | None = None,
) -> np.ndarray:
    """(len(products), classes): the mean of each chosen product's photo probabilities.
    `keys`: every product's sku key (attributes/neighbours.py), so that a product in the
    model's neighbour memory is not voted for by its own photos."""
    position = np.full(int(owner.max(initial=-1)) + 1, -1)
    position[products] = np.arange(len(products))
    chosen = position[owner] >= 0
    exclude = None if keys is None else keys[owner[chosen]]
    probs = model.probabilities(rows[chosen], exclude) if chosen.any() else np.zeros((0, 1))
    total = np.zeros((len(products), len(model.classes)))
    np.add.at(total, position[owner[chosen]], probs)
    counts = np.bincount(position[owner[chosen]], minlength=len(products))
    return total / np.maximum(counts, 1)[:, None]


def predictions(
    model: AttributeModel, probs: np.ndarray, catalog: Sequence[str | None]
) -> list[Prediction]:
    """One prediction per row of `probs`, with its doubt of the catalog value beside it."""
    index = {value: i for i, value in enumerate(model.classes)}
    best = probs.argmax(axis=1)
    found = []
    for row, value in enumerate(catalog):
        doubt = None
        if value is not None and value in index:
            doubt = 1.0 - float(probs[row, index[value]])
        found.append(
            Prediction(model.classes[best[row]], float(probs[row, best[row]]), model.id, doubt)
        )
    return found


def photo_probabilities(
    models: Mapping[str, AttributeModel], rows: np.ndarray, sku: str | None = None
) -> dict[str, np.ndarray]:
    """attribute -> (photos, classes) probabilities of one product's (or photo's) rows. The
    models of one training run share a neighbour memory: it is searched once, not per model;
    `sku`: the product's, whose own photos in the memory do not vote."""
    exclude = None if sku is None else np.full(len(rows), sku_key(sku), dtype=np.uint32)
    found: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    probs = {}
    for name, model in models.items():
        nearest = None
        if model.neighbours is not None:
            memory, k = model.neighbours.memory, model.neighbours.k
            if (memory.id, k) not in found:
                vectors = rows[:, : memory.centre.shape[0]]
                found[memory.id, k] = memory.nearest(vectors, exclude, k)
            nearest = found[memory.id, k]
        probs[name] = model.probabilities(rows, nearest=nearest)
    return probs


def predict_document(
    models: Mapping[str, AttributeModel],
    rows: np.ndarray,
    values: Mapping[str, Any],
    sku: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The `predicted` field of one product from its photo rows and its attribute values."""
    field = {}
    for name, photos in photo_probabilities(models, rows, sku).items():
        model = models[name]
        probs = photos.mean(axis=0, keepdims=True)
        raw = values.get(name)
        catalog = str(raw) if isinstance(raw, str) and raw.strip() else None
        field[name] = predictions(model, probs, [catalog])[0].as_field()
    return field
