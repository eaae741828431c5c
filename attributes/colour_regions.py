"""Where the colours sit: soft basic-colour-name shares of the foreground, overall and per
cell of a grid laid over the foreground's bounding box, in CIE Lab.

Why: a catalog photo of a shirt often shows a model too (skin, hair, jeans). One histogram of
the whole foreground mixes them; per-region shares let the model learn that a shirt's colour
is in the upper-middle cells and a pair of jeans' in the lower ones. Basic colour names (21
Lab prototypes, soft-assigned) keep dark shades apart (navy vs black) better than HSV bins.
numpy only, on the same 64-pixel thumbnails as attributes/colour.py, a batch at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Pixels:
    """The foreground pixels of a stack of same-size thumbnails, photo after photo, channel
    first (numpy reduces a short last axis fifty times slower than it adds rows), and
    per-photo reductions over them (every photo holds at least one pixel)."""

    rgb: np.ndarray  # (3, n) in 0..255
    owner: np.ndarray  # (n,) which photo each pixel is from
    rows: np.ndarray  # (n,) where it sits in its thumbnail
    cols: np.ndarray
    counts: np.ndarray  # (photos,) pixels per photo
    starts: np.ndarray  # (photos,) where each photo's pixels start
    shape: tuple[int, int]  # the thumbnails' (h, w)

    @classmethod
    def of(cls, rgb: np.ndarray, mask: np.ndarray) -> Pixels:
        """From thumbnails (b, h, w, 3) and foreground masks (b, h, w)."""
        owner, rows, cols = np.nonzero(mask)
        counts = mask.sum(axis=(1, 2))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        picked = np.moveaxis(rgb, 3, 0)[:, mask]
        return cls(picked, owner, rows, cols, counts, starts, mask.shape[1:])

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-photo sums of `values` (..., n), in float64: (..., photos)."""
        return np.add.reduceat(values.astype(np.float64), self.starts, axis=-1)

    def mean(self, values: np.ndarray) -> np.ndarray:
        return self.sum(values) / self.counts

    def count_per(self, keys: np.ndarray, kinds: int) -> np.ndarray:
        """(photos, kinds): how many of each photo's pixels have each key in [0, kinds)."""
        flat = np.bincount(self.owner * kinds + keys, minlength=len(self.counts) * kinds)
        return flat.reshape(-1, kinds).astype(np.float64)


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (3, ...) in 0..255 -> CIE Lab (D65), channel first."""
    c = rgb.astype(np.float32) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.tensordot(_RGB_TO_XYZ / _WHITE[:, None], c, axes=1)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])]).astype(np.float32)


_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)
_PALETTE = lab(_PALETTE_RGB.T).T  # (names, 3)


def region_features(pixels: Pixels) -> np.ndarray:
    """(photos, REGION_DIM): colour-name shares and Lab percentiles of each foreground, each
    grid cell's name shares, mean Lab and share of the foreground, and the bounding box's
    size."""
    photos = len(pixels.counts)
    picked = lab(pixels.rgb)
    names = _soft_names(picked)
    overall = pixels.mean(names).T
    cell, box = _cells(pixels)
    counts = pixels.count_per(cell, _CELLS)
    filled = counts[:, :, None] > 0
    per = np.maximum(counts, 1.0)[:, :, None]
    sums = _cell_sums(pixels, cell, np.concatenate([names, picked])) / per
    shares = np.where(filled, sums[:, :, :_NAMES], overall[:, None, :])
    means = np.where(filled, sums[:, :, _NAMES:], pixels.mean(picked).T[:, None, :]) / 100.0
    return np.concatenate(
        [
            np.sqrt(overall),
            _percentiles(pixels, picked) / 100.0,
            np.sqrt(shares).reshape(photos, -1),
            means.reshape(photos, -1),
            counts / pixels.counts[:, None],
            box,
        ],
        axis=1,
    ).astype(np.float32)


def _soft_names(colours: np.ndarray) -> np.ndarray:
    """(names, n) soft assignment of Lab colours (3, n) to the prototypes (columns sum to 1)."""
    d2 = sum((colours[c] - _PALETTE[:, c, None]) ** 2 for c in range(3))
    weights = np.exp(-(d2 - d2.min(axis=0)) / (2 * SOFTNESS**2))
    return weights / weights.sum(axis=0)


def _cells(pixels: Pixels) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's grid cell over its photo's foreground bounding box, and each box's share
    of the foreground, height and width (photos, 3)."""
    h, w = pixels.shape
    top = np.minimum.reduceat(pixels.rows, pixels.starts)
    bottom = np.maximum.reduceat(pixels.rows, pixels.starts) + 1
    left = np.minimum.reduceat(pixels.cols, pixels.starts)
    right = np.maximum.reduceat(pixels.cols, pixels.starts) + 1
    row = _bands(pixels.rows, top[pixels.owner], bottom[pixels.owner], GRID[0])
    col = _bands(pixels.cols, left[pixels.owner], right[pixels.owner], GRID[1])
    box = np.column_stack([pixels.counts / pixels.size, (bottom - top) / h, (right - left) / w])
    return row * GRID[1] + col, box


def _bands(positions: np.ndarray, start: np.ndarray, stop: np.ndarray, bands: int) -> np.ndarray:
    """Which of `bands` equal bands of [start, stop) each position falls in."""
    band = (positions - start) * bands // np.maximum(stop - start, 1)
    return np.clip(band, 0, bands - 1)


def _cell_sums(pixels: Pixels, cell: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(photos, cells, rows of `values`) sums of `values` (k, n) per photo and cell."""
    key = pixels.owner * _CELLS + cell
    length = len(pixels.counts) * _CELLS
    sums = np.stack([np.bincount(key, weights=row, minlength=length) for row in values])
    return sums.reshape(len(values), -1, _CELLS).transpose(1, 2, 0)


def _percentiles(pixels: Pixels, values: np.ndarray) -> np.ndarray:
    """(photos, percentiles x rows of `values`): numpy's linear percentiles of each photo's
    values (k, n)."""
    photos = len(pixels.counts)
    padded = np.full((len(values), photos, pixels.size), np.inf, dtype=values.dtype)
    padded[:, pixels.owner, np.arange(values.shape[1]) - pixels.starts[pixels.owner]] = values
    padded.sort(axis=2)
    at = (np.asarray(PERCENTILES) / 100.0)[None, :] * (pixels.counts[:, None] - 1)
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, pixels.counts[:, None] - 1)
    index = np.arange(photos)[:, None]
    below, above = padded[:, index, low], padded[:, index, high]  # (k, photos, percentiles)
    value = below + (above - below) * (at - low)
    return value.transpose(1, 2, 0).reshape(photos, -1)
