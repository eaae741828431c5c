"""Learn one model per attribute from the catalog's own labelled products.

Every photo of a labelled product is a training row (features: its stored vector and colour
features). A share of the labelled products, chosen by sku hash, is held back to fit the
temperature that calibrates confidence (temperature scaling: the model's probabilities are
`softmax(logits / T)`, T minimising the held-back products' log-loss). Values with fewer than
`min_per_value` products are not learned; too few labels in all is an error, raised for
every attribute before anything is trained.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from visearch.attributes.colour import COLOUR_DIM, COLOUR_VERSION
from visearch.attributes.dataset import Products
from visearch.attributes.errors import TooFewLabelsError
from visearch.attributes.mlp import MlpConfig, fit_mlp
from visearch.attributes.model import (
    AttributeModel,
    FeatureSpace,
    expected_calibration_error,
    fit_softmax,
    fit_temperature,
)
from visearch.attributes.predict import product_probabilities

DEFAULT_ATTRIBUTES = (
    "category",
    "subcategory",
    "article_type",
    "colour_group",
    "gender",
    "usage",
    "season",
)


@dataclass(frozen=True)
class TrainConfig:
    l2: float = 0.003
    reduced_dim: int = 256  # principal components of the vector trained on (colour kept)
    min_labelled: int = 20
    min_per_value: int = 3
    validation_share: float = 0.15
    max_iter: int = 150  # L-BFGS iterations of a linear model
    hidden: int = 256  # units of the hidden layer (attributes/mlp.py); 0: a linear model
    # Fewer training products than this: a linear model (a hidden layer overfits a small
    # catalog: on 70 products it was less sure and less right than the linear model).
    hidden_from: int = 1000


def in_share(sku: str, share: float, salt: str) -> bool:
    """Whether `sku` falls in a `share` of all skus, the same on every run and host."""
    digest = hashlib.sha256(f"{salt}:{sku}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def learnable_values(
    values: Sequence[str | None], attribute: str, config: TrainConfig
) -> list[str]:
    """The values a model of `attribute` can learn; TooFewLabelsError when that is not two."""
    counts = Counter(value for value in values if value is not None)
    kept = sorted(value for value, n in counts.items() if n >= config.min_per_value)
    labelled = sum(counts.values())
    if labelled < config.min_labelled or len(kept) < 2:
        needed = (
            f"need at least {config.min_labelled} labelled products and two values with "
            f"{config.min_per_value} or more products each"
        )
        raise TooFewLabelsError(attribute, labelled, len(counts), needed)
    return kept


def train_models(
    products: Products,
    attributes: Sequence[str],
    encoder: str,
    config: TrainConfig = TrainConfig(),
) -> dict[str, AttributeModel]:
    """One calibrated model per attribute; errors for any attribute come before any training."""
    classes = {name: learnable_values(products.values[name], name, config) for name in attributes}
    share = config.validation_share
    calibration = np.array([in_share(sku, share, "calibrate") for sku in products.skus])
    train_rows = ~calibration[products.owner]
    vector_dim = products.rows.shape[1] - COLOUR_DIM
    space = FeatureSpace.fit(products.rows[train_rows], (vector_dim, config.reduced_dim))
    z = space.project(products.rows)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        name: _train_one(
            products,
            name,
            classes[name],
            z,
            space,
            calibration,
            config,
            {
                "encoder": encoder,
                "kind": "trained",
                "trained_at": stamp,
                "colour_version": COLOUR_VERSION,
            },
        )
        for name in attributes
    }


def _train_one(
    products: Products,
    attribute: str,
    classes: list[str],
    z: np.ndarray,
    space: FeatureSpace,
    calibration: np.ndarray,
    config: TrainConfig,
    meta: dict[str, str],
) -> AttributeModel:
    index = {value: i for i, value in enumerate(classes)}
    labels = np.array([index.get(v, -1) if v else -1 for v in products.values[attribute]])
    photo_labels = labels[products.owner]
    fit_rows = (photo_labels >= 0) & ~calibration[products.owner]
    layer = config.hidden if len(np.unique(products.owner[fit_rows])) >= config.hidden_from else 0
    arrays = _fit(z[fit_rows], photo_labels[fit_rows], len(classes), space, config, layer)
    untempered = AttributeModel(attribute, tuple(classes), space.mean, space.scale, **arrays)
    held = (photo_labels >= 0) & calibration[products.owner]
    temperature = fit_temperature(untempered.logits(products.rows[held]), photo_labels[held])
    model = replace(untempered, temperature=temperature)
    stats = _held_back_stats(model, products, labels, calibration)
    return replace(model, meta={**meta, **stats, "hidden": layer})


def _fit(
    z: np.ndarray, labels: np.ndarray, k: int, space: FeatureSpace, config: TrainConfig, layer: int
) -> dict[str, np.ndarray]:
    """The model's arrays in the full feature space: a hidden layer of `layer` units, or a
    linear model when `layer` is 0."""
    if layer > 0:
        first, first_bias, weight, bias = fit_mlp(z, labels, k, MlpConfig(hidden=layer))
        return {
            "weight": weight,
            "bias": bias,
            "hidden_weight": space.fold(first),
            "hidden_bias": first_bias,
        }
    weight, bias = fit_softmax(z, labels, k, l2=config.l2, max_iter=config.max_iter)
    return {"weight": space.fold(weight), "bias": bias}


def _held_back_stats(
    model: AttributeModel, products: Products, labels: np.ndarray, calibration: np.ndarray
) -> dict[str, float | int]:
    """Accuracy and calibration error on the held-back products, and the training counts."""
    chosen = np.flatnonzero(calibration & (labels >= 0))
    counts = {"products": int((labels >= 0).sum()), "held_back": int(len(chosen))}
    if len(chosen) == 0:
        return counts
    probs = product_probabilities(model, products.rows, products.owner, chosen)
    correct = probs.argmax(axis=1) == labels[chosen]
    return {
        **counts,
        "held_back_accuracy": round(float(correct.mean()), 4),
        "held_back_ece": round(expected_calibration_error(probs.max(axis=1), correct), 4),
    }
