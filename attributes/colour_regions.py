"""Where the colours sit: soft basic-colour-name shares of the foreground, overall and per
cell of a grid laid over the foreground's bounding box, in CIE Lab.

Why: a catalog photo of a shirt often shows a model too (skin, hair, jeans). One histogram of
the whole foreground mixes them; per-region shares let the model learn that a shirt's colour
is in the upper-middle cells and a pair of jeans' in the lower ones. Basic colour names (21
Lab prototypes, soft-assigned) keep dark shades apart (navy vs black) better than HSV bins.
numpy only, on the same 64-pixel thumbnail as attributes/colour.py: a few ms a photo.
"""

from __future__ import annotations

import numpy as np

GRID = (4, 3)  # rows x columns over the foreground's bounding box
SOFTNESS = 12.0  # Lab distance scale of the soft assignment to the prototypes
# Basic colour prototypes (sRGB): greys, then reds/pinks, oranges/yellows, greens, blues,
# purples, browns/beiges.
_PALETTE_RGB = np.array(
    [
        (0, 0, 0), (64, 64, 64), (128, 128, 128), (192, 192, 192), (255, 255, 255),
        (200, 30, 40), (120, 20, 40), (240, 120, 160), (250, 140, 40), (250, 220, 40),
        (40, 150, 60), (90, 100, 40), (40, 80, 200), (20, 30, 80), (70, 150, 210),
        (40, 160, 160), (120, 50, 160), (180, 140, 200), (120, 70, 30), (200, 170, 120),
        (210, 180, 60),
    ],
    dtype=np.float32,
)  # fmt: skip
# The prototypes' names, in order: region_features starts with the foreground's share of each.
PALETTE_NAMES = (
    "black", "dark grey", "grey", "light grey", "white",
    "red", "maroon", "pink", "orange", "yellow",
    "green", "olive", "blue", "navy", "sky blue",
    "teal", "purple", "lavender", "brown", "beige",
    "mustard",
)  # fmt: skip
_CELLS = GRID[0] * GRID[1]
_NAMES = len(_PALETTE_RGB)
PERCENTILES = (10, 50, 90)
REGION_DIM = _NAMES + 3 * len(PERCENTILES) + _CELLS * (_NAMES + 3 + 1) + 3


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in 0..255 -> CIE Lab (D65)."""
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    ).astype(np.float32)


_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
_PALETTE = lab(_PALETTE_RGB)
_PALETTE_NORMS = (_PALETTE**2).sum(axis=1)[None, :]


def region_features(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """REGION_DIM numbers from a thumbnail (h, w, 3) and its foreground mask (h, w), which
    must hold at least one pixel: colour-name shares and Lab percentiles of the foreground,
    each grid cell's name shares, mean Lab and share of the foreground, and the bounding
    box's size."""
    h, w = mask.shape
    picked = lab(rgb[mask])
    names = _soft_names(picked)
    overall = names.mean(axis=0)
    spread = np.percentile(picked, PERCENTILES, axis=0).ravel() / 100.0
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cell = _bands(h, top, bottom, GRID[0])[:, None] * GRID[1] + _bands(w, left, right, GRID[1])
    cell = cell[mask]
    counts = np.bincount(cell, minlength=_CELLS).astype(np.float32)
    filled = counts[:, None] > 0
    per = np.maximum(counts, 1.0)[:, None]
    shares = _cell_sums(cell, names) / per
    shares = np.where(filled, shares, overall[None, :])
    means = np.where(filled, _cell_sums(cell, picked) / per, picked.mean(axis=0)) / 100.0
    box = [len(picked) / mask.size, (bottom - top) / h, (right - left) / w]
    return np.concatenate(
        [
            np.sqrt(overall),
            spread,
            np.sqrt(shares).ravel(),
            means.ravel(),
            counts / len(picked),
            box,
        ]
    ).astype(np.float32)


def _soft_names(colours: np.ndarray) -> np.ndarray:
    """(n, names) soft assignment of Lab colours to the prototypes (rows sum to 1)."""
    d2 = (colours**2).sum(axis=1, keepdims=True) - 2 * colours @ _PALETTE.T + _PALETTE_NORMS
    weights = np.exp(-(d2 - d2.min(axis=1, keepdims=True)) / (2 * SOFTNESS**2))
    return weights / weights.sum(axis=1, keepdims=True)


def _bands(size: int, start: int, stop: int, bands: int) -> np.ndarray:
    """Which of `bands` equal bands of [start, stop) each of `size` positions falls in."""
    positions = (np.arange(size) - start) * bands // max(stop - start, 1)
    return np.clip(positions, 0, bands - 1)


def _cell_sums(cell: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(cells, columns) sums of `values` rows per cell."""
    return np.stack(
        [np.bincount(cell, weights=values[:, j], minlength=_CELLS) for j in range(values.shape[1])],
        axis=1,
    )
