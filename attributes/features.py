"""A photo's feature row for the attribute models: its stored vector, then its colour features.

Both come from the index (`photos.vector`, `photos.colour_features`), so training and
re-predicting never re-read a photo. A photo stored before colour features existed, or with
features of an older version (another length: attributes/colour.py COLOUR_VERSION), gets NaNs
there, which the model replaces by the training mean (no evidence either way). Such photos get
the current features only when they are embedded again (new photos, another encoder, a fresh
index): a `--rebuild` copies stored vectors and features as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visearch.attributes.colour import COLOUR_DIM
from visearch.mappings.fields import PHOTO_COLOUR, PHOTO_VECTOR


def photo_row(vector: Sequence[float] | np.ndarray, colour: Sequence[float] | None) -> np.ndarray:
    """One feature row: the unit vector, then the colour features (NaN when unknown)."""
    vec = np.asarray(vector, dtype=np.float32)
    vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
    if colour is None or len(colour) != COLOUR_DIM:
        tail = np.full(COLOUR_DIM, np.nan, dtype=np.float32)
    else:
        tail = np.asarray(colour, dtype=np.float32)
    return np.concatenate([vec, tail])


def product_rows(photos: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(photos, dim + COLOUR_DIM) rows of one product's stored photos."""
    return np.stack([photo_row(p[PHOTO_VECTOR], p.get(PHOTO_COLOUR)) for p in photos])


def fill_missing(rows: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """`rows` with NaNs replaced by `mean` (the feature's training mean)."""
    missing = np.isnan(rows)
    if not missing.any():
        return rows
    return np.where(missing, mean[None, :], rows)
