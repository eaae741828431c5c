"""A shopper's photo read by the index's attribute models: what it shows, and how sure.

Pure (numpy only), so the search layer applies the models it loaded without training code.
The feature row is the one the models learned from: the query's unit vector, then the colour
features of the decoded photo (NaN when the photo was not decoded here, which the model
replaces by the training mean: no colour evidence either way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from visearch.attributes.colour import colour_features
from visearch.attributes.features import photo_row
from visearch.attributes.model import AttributeModel
from visearch.attributes.predict import photo_probabilities


def detect_attributes(
    models: Mapping[str, AttributeModel],
    vector: Sequence[float] | np.ndarray,
    image: Image.Image | None = None,
) -> dict[str, dict[str, Any]]:
    """attribute -> {value, confidence} for every model that fits the vector's size, sorted
    by attribute."""
    colour = None if image is None else colour_features(image)
    row = photo_row(vector, colour)[None, :]
    # trained on another vector size: stale until trained again
    fitting = {name: model for name, model in models.items() if model.dim == row.shape[1]}
    found = {}
    for name, photos in sorted(photo_probabilities(fitting, row).items()):
        model = models[name]
        probs = photos[0]
        best = int(probs.argmax())
        found[name] = {"value": model.classes[best], "confidence": round(float(probs[best]), 4)}
    return found
