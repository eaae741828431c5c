"""Zero-shot attribute models for a CLIP index: an attribute with too few labels to learn is
read from its value names alone.

Each value becomes a prompt ("a photo of a {value} product") embedded by the encoder's text
tower, in the same space as the stored image vectors. The model scores a photo by its cosine
similarity to each prompt, times CLIP's logit scale (100), and a softmax with a temperature
gives the probabilities. That is a linear model of the photo's unit vector, so it is stored
as an AttributeModel like the trained ones (weights = the prompts' embeddings, colour features
ignored) and every later step (several photos averaged, predictions, doubt, fill threshold,
detection in a shopper's photo) is the same code. The temperature is fitted, as for trained
models, on the products the catalog does label (when there are at least
MIN_CALIBRATION_PRODUCTS of them with a listed value); otherwise it stays 1 (CLIP's own scale).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from visearch.attributes.colour import COLOUR_DIM
from visearch.attributes.dataset import Products
from visearch.attributes.errors import ZeroShotError
from visearch.attributes.model import AttributeModel, fit_temperature

ZERO_SHOT = "zero-shot"
PROMPT = "a photo of a {value} product"
CLIP_LOGIT_SCALE = 100.0  # what a trained CLIP multiplies its cosine similarities by
MIN_CALIBRATION_PRODUCTS = 10


def value_names(attribute: str, names: Sequence[Any]) -> list[str]:
    """The distinct, stripped value names (order kept); ZeroShotError unless two or more."""
    if any(not isinstance(name, str) for name in names):
        raise ZeroShotError("value names must be strings", attribute)
    kept = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if len(kept) < 2:
        shown = ", ".join(kept) or "none"
        raise ZeroShotError(
            f"it needs at least two value names to choose between (got {shown}); name them, "
            f"e.g. --zero-shot {attribute}=striped,plain",
            attribute,
        )
    return kept


def check_text_tower(encoder: Any, recorded: str | None) -> None:
    """ZeroShotError unless `encoder` embeds texts in the space of the index's vectors."""
    if not getattr(encoder, "supports_text", False):
        raise ZeroShotError(
            f"the index's encoder {encoder.name!r} has no text tower (value names cannot be "
            "embedded); zero-shot needs a CLIP encoder (clip:<model>). Train the attribute from "
            "labelled products instead"
        )
    if recorded is not None and encoder.name != recorded:
        raise ZeroShotError(
            f"the encoder given is {encoder.name!r} but the index holds {recorded!r} vectors; "
            "use the index's encoder"
        )


def zero_shot_model(
    attribute: str,
    values: Sequence[str],
    encoder: Any,
    products: Products | None = None,
    prompt: str = PROMPT,
) -> AttributeModel:
    """The zero-shot model of `attribute` over `values` (already checked by value_names),
    calibrated on the labelled `products` where there are enough."""
    texts = np.asarray(encoder.embed_texts([prompt.format(value=v) for v in values]))
    dim = texts.shape[1] + COLOUR_DIM
    weight = np.zeros((dim, len(values)), dtype=np.float32)
    weight[: texts.shape[1]] = CLIP_LOGIT_SCALE * texts.T
    mean, scale = np.zeros(dim, dtype=np.float32), np.ones(dim, dtype=np.float32)
    bias = np.zeros(len(values), dtype=np.float32)
    model = AttributeModel(attribute, tuple(values), mean, scale, weight, bias)
    temperature, calibrated = _temperature(model, products)
    meta = {
        "encoder": encoder.name,
        "kind": ZERO_SHOT,
        "prompt": prompt,
        "value_names": list(values),
        "calibration_products": calibrated,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return AttributeModel(attribute, model.classes, mean, scale, weight, bias, temperature, meta)


def _temperature(model: AttributeModel, products: Products | None) -> tuple[float, int]:
    """(temperature, labelled products it was fitted on); (1.0, n) when n is too few."""
    if products is None or model.attribute not in products.values:
        return 1.0, 0
    index = {value: i for i, value in enumerate(model.classes)}
    labels = np.array([index.get(v, -1) if v else -1 for v in products.values[model.attribute]])
    labelled = int((labels >= 0).sum())
    if labelled < MIN_CALIBRATION_PRODUCTS or len(model.classes) < 2:
        return 1.0, labelled
    rows = labels[products.owner] >= 0
    logits = model.logits(products.rows[rows])
    temperature = fit_temperature(logits, labels[products.owner][rows])
    return temperature, labelled
