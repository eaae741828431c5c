"""Learn one model per attribute from the catalog's own labelled products.

Every photo of a labelled product is a training row (features: its stored vector and colour
features). A share of the labelled products, chosen by sku hash, is held back to fit the
temperature that calibrates confidence (temperature scaling: the model's probabilities are
`softmax(logits / T)`, T minimising the held-back products' log-loss). The same held-back
products choose how much a nearest-neighbour vote over the labelled photos
(attributes/neighbours.py) weighs in, 0 included: the weight with the lowest held-back
log-loss wins, each product's own photos left out of its vote. `train_for_review` also
cross-fits the doubt written for the products the weights were fitted on. Values with fewer
than `min_per_value` products are not learned; too few labels in all is an error, raised
for every attribute before anything is trained.
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
    log_softmax,
    softmax,
)
from visearch.attributes.neighbours import Memory, Neighbours, memory_labels, sku_key
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
    # Principal components of the vector trained on (colour kept); None: the whole vector.
    reduced_dim: int | None = 256
    # Also train on the whole vector; per attribute, the lower held-back log-loss wins (on a
    # validation split of fashion the whole vector raised article type 0.876 -> 0.885 and
    # lowered colour group 0.750 -> 0.741). Twice the training time.
    whole_vector: bool = True
    min_labelled: int = 20
    min_per_value: int = 3
    validation_share: float = 0.15
    max_iter: int = 150  # L-BFGS iterations of a linear model
    hidden: int = 256  # units of the hidden layer (attributes/mlp.py); 0: a linear model
    # Fewer training products than this: a linear model (a hidden layer overfits a small
    # catalog: on 70 products it was less sure and less right than the linear model).
    hidden_from: int = 1000
    # Weights of the neighbours' vote tried on the held-back products (0: no vote), and the
    # training products needed to try them (a small held-back share chooses by chance).
    neighbour_weights: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0)
    neighbours_from: int = 1000
    # Fitted products needed to cross-fit the doubt `train` writes (train_for_review): on a
    # 90-product catalog, colour weights fitted on one half confidently contradicted 20 of
    # the other half's correct colours; with fewer, the model's own doubt is written.
    cross_fit_from: int = 1000


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
    return {name: model for name, (model, _) in _train(products, attributes, encoder, config)}


def train_for_review(
    products: Products,
    attributes: Sequence[str],
    encoder: str,
    config: TrainConfig = TrainConfig(),
) -> tuple[dict[str, AttributeModel], dict[str, np.ndarray]]:
    """The models of `train_models`, and per attribute every product's probabilities from
    weights that never fitted its label (cross-fitting): a model predicting the products it
    was fitted on mostly repeats their catalog values, wrong ones included, so `review`
    would miss the mislabels among them. The fitted products are split in two by sku hash;
    weights fitted on each half (same feature space, hidden layer and vote; a temperature of
    their own) predict the other half. Held-back and unlabelled products, and every product
    of a catalog below `cross_fit_from` fitted products, get the model itself."""
    trained = _train(products, attributes, encoder, config, cross_fit=True)
    models = {name: model for name, (model, _) in trained}
    unseen = {name: probs for name, (_, probs) in trained if probs is not None}
    return models, unseen


def _train(
    products: Products,
    attributes: Sequence[str],
    encoder: str,
    config: TrainConfig,
    cross_fit: bool = False,
) -> list[tuple[str, tuple[AttributeModel, np.ndarray | None]]]:
    classes = {name: learnable_values(products.values[name], name, config) for name in attributes}
    share = config.validation_share
    calibration = np.array([in_share(sku, share, "calibrate") for sku in products.skus])
    train_rows = ~calibration[products.owner]
    vector_dim = products.rows.shape[1] - COLOUR_DIM
    dims = [config.reduced_dim]
    if config.whole_vector and config.reduced_dim is not None:
        dims.append(None)
    spaces = []
    for dim in dims:
        reduce = None if dim is None else (vector_dim, dim)
        space = FeatureSpace.fit(products.rows[train_rows], reduce)
        spaces.append((space, space.project(products.rows)))
    keys = np.array([sku_key(sku) for sku in products.skus], dtype=np.uint32)
    memory = None
    if len(products.skus) - int(calibration.sum()) >= config.neighbours_from and any(
        config.neighbour_weights
    ):
        memory = Memory.build(products.rows[:, :vector_dim], keys[products.owner])
    meta = {
        "encoder": encoder,
        "kind": "trained",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "colour_version": COLOUR_VERSION,
    }
    split = Split(calibration, (memory, keys), cross_fit)
    return [
        (name, _train_one(products, name, classes[name], spaces, split, config, meta))
        for name in attributes
    ]


@dataclass(frozen=True)
class Split:
    """What every attribute's training shares: which products are held back (calibration),
    the neighbour memory with every product's sku key, and whether to cross-fit."""

    calibration: np.ndarray
    memory: tuple[Memory | None, np.ndarray]
    cross_fit: bool = False


def _train_one(
    products: Products,
    attribute: str,
    classes: list[str],
    spaces: list[tuple[FeatureSpace, np.ndarray]],
    split: Split,
    config: TrainConfig,
    meta: dict[str, str],
) -> tuple[AttributeModel, np.ndarray | None]:
    """The model of the feature space (`spaces`: each with its projected rows) whose
    calibrated model has the lowest held-back log-loss; with `split.cross_fit`, also every
    product's probabilities from weights that never fitted it (see train_for_review)."""
    calibration, memory = split.calibration, split.memory
    index = {value: i for i, value in enumerate(classes)}
    labels = np.array([index.get(v, -1) if v else -1 for v in products.values[attribute]])
    photo_labels = labels[products.owner]
    fit_rows = (photo_labels >= 0) & ~calibration[products.owner]
    layer = config.hidden if len(np.unique(products.owner[fit_rows])) >= config.hidden_from else 0
    held = (photo_labels >= 0) & calibration[products.owner]
    trained = []
    for space, z in spaces:
        arrays = _fit(z[fit_rows], photo_labels[fit_rows], len(classes), space, config, layer)
        untempered = AttributeModel(
            attribute, tuple(classes), space.mean, space.scale, **arrays, clip=space.clip
        )
        loss, model = _calibrate(untempered, products, photo_labels, held, memory, config)
        reduced = None if space.basis is None else space.basis.shape[1] - COLOUR_DIM
        trained.append((loss, len(trained), model, reduced, space, z))
    _, _, model, reduced, space, z = min(trained, key=lambda found: found[:2])
    meta = {**meta, "reduced_dim": reduced}
    stats = _held_back_stats(model, products, labels, calibration, memory[1])
    weight = model.neighbours.weight if model.neighbours is not None else 0.0
    model = replace(model, meta={**meta, **stats, "hidden": layer, "neighbour_weight": weight})
    if not split.cross_fit or len(np.unique(products.owner[fit_rows])) < config.cross_fit_from:
        return model, None
    fitted = Fitted(space, z, photo_labels, fit_rows, layer)
    return model, _cross_fitted(model, products, fitted, memory[1], config)


@dataclass(frozen=True)
class Fitted:
    """What a model's weights were fitted on: the space, its projected rows (all photos), the
    photos' labels (-1: none) and which photos were fitted, and the hidden layer's units."""

    space: FeatureSpace
    z: np.ndarray
    photo_labels: np.ndarray
    rows: np.ndarray
    layer: int


def _cross_fitted(
    model: AttributeModel,
    products: Products,
    fitted: Fitted,
    keys: np.ndarray,
    config: TrainConfig,
) -> np.ndarray:
    """(products, classes): `model`'s probabilities, except for each product `model` was
    fitted on, which gets weights fitted on the other fold's products instead, unless that
    fold holds fewer than `min_per_value` products of its value (weights that barely saw a
    rare value would doubt every product of it; such products keep the model's own). The
    fold weights are less sure of themselves than the model (half the products): their
    temperature is fitted on their own predictions of the fitted products' labels."""
    everything = np.arange(len(products.skus))
    probs = product_probabilities(model, products.rows, products.owner, everything, keys)
    fold = np.array([in_share(sku, 0.5, "review-fold") for sku in products.skus])
    fold = fold[products.owner]
    product_labels = np.full(len(products.skus), -1)
    product_labels[products.owner] = fitted.photo_labels
    k = len(model.classes)
    predicted: list[tuple[np.ndarray, np.ndarray]] = []
    for side in (False, True):
        fit = fitted.rows & (fold != side)
        seen = np.bincount(product_labels[np.unique(products.owner[fit])], minlength=k)
        chosen = np.unique(products.owner[fitted.rows & (fold == side)])
        chosen = chosen[seen[product_labels[chosen]] >= config.min_per_value]
        if not fit.any() or len(chosen) == 0:
            continue
        arrays = _fit(
            fitted.z[fit], fitted.photo_labels[fit], k, fitted.space, config, fitted.layer
        )
        other = replace(model, temperature=1.0, **arrays)
        found = product_probabilities(other, products.rows, products.owner, chosen, keys)
        predicted.append((chosen, found))
    if not predicted:
        return probs
    chosen = np.concatenate([c for c, _ in predicted])
    scores = np.log(np.maximum(np.concatenate([p for _, p in predicted]), 1e-12))
    temperature = fit_temperature(scores, product_labels[chosen])
    probs[chosen] = softmax(scores / temperature)
    return probs


def _calibrate(
    model: AttributeModel,
    products: Products,
    photo_labels: np.ndarray,
    held: np.ndarray,
    memory: tuple[Memory | None, np.ndarray],
    config: TrainConfig,
) -> tuple[float, AttributeModel]:
    """`model` with its temperature, and its neighbours' vote when a weight above 0 gives the
    held-back photos a lower log-loss (their own products' photos left out of the vote); and
    that log-loss."""
    rows, labels = products.rows[held], photo_labels[held]
    logits = model.logits(rows)
    found, keys = memory
    weights = config.neighbour_weights if found is not None else (0.0,)
    if found is None or len(labels) == 0 or weights == (0.0,):
        temperature = fit_temperature(logits, labels)
        loss = _log_loss(logits / temperature, labels) if len(labels) else 0.0
        return loss, replace(model, temperature=temperature)
    product_labels = np.full(len(products.skus), -1)
    product_labels[products.owner] = photo_labels
    vote = Neighbours(found, memory_labels(found, keys, product_labels), 0.0)
    exclude = keys[products.owner[held]]
    votes = vote.log_votes(len(model.classes), rows[:, : found.centre.shape[0]], exclude)
    best = (np.inf, 0.0, 1.0)
    for weight in weights:
        scores = log_softmax(logits) + weight * votes if weight else logits
        temperature = fit_temperature(scores, labels)
        best = min(best, (_log_loss(scores / temperature, labels), weight, temperature))
    loss, weight, temperature = best
    chosen = replace(vote, weight=weight) if weight else None
    return loss, replace(model, temperature=temperature, neighbours=chosen)


def _log_loss(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(-log_softmax(scores)[np.arange(len(labels)), labels].mean())


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
    model: AttributeModel,
    products: Products,
    labels: np.ndarray,
    calibration: np.ndarray,
    keys: np.ndarray,
) -> dict[str, float | int]:
    """Accuracy and calibration error on the held-back products, and the training counts."""
    chosen = np.flatnonzero(calibration & (labels >= 0))
    counts = {"products": int((labels >= 0).sum()), "held_back": int(len(chosen))}
    if len(chosen) == 0:
        return counts
    probs = product_probabilities(model, products.rows, products.owner, chosen, keys)
    correct = probs.argmax(axis=1) == labels[chosen]
    return {
        **counts,
        "held_back_accuracy": round(float(correct.mean()), 4),
        "held_back_ece": round(expected_calibration_error(probs.max(axis=1), correct), 4),
    }
