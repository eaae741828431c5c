"""Colour features of a product photo's foreground: what pooled CNN vectors barely keep.

The foreground is every pixel that differs clearly from the border colour (product shots sit
on a plain background). Its colours are counted in HSV: a joint hue x saturation x value
histogram for chromatic pixels plus value bins for greys, then a few summary statistics.
Then where the colours sit (attributes/colour_regions.py: Lab colour names per region).
Cheap on purpose (a 64-pixel thumbnail, numpy only): ingest computes it from the image it
already decoded, and stores it beside the photo's vector so training never re-reads photos.

The features' length is their version (COLOUR_VERSION): stored features of another length
were computed by older code and read as unknown (attributes/features.py), never mixed in.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from visearch.attributes.colour_regions import REGION_DIM, region_features

THUMB = 64  # longest side of the thumbnail the features are computed on
HUE_BINS = 12
SAT_BINS = 2
VAL_BINS = 3
GREY_BINS = 4
BORDER_DISTANCE = 40.0  # RGB distance from the border colour that makes a pixel foreground
MIN_FOREGROUND = 0.05  # below this share of pixels, the whole photo counts as foreground
CHROMATIC_SAT = 0.2  # below this saturation (or a dark pixel) a pixel counts as grey
DARK = 0.15
STATS = 8
REGION_OFFSET = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS + STATS  # where region_features start
# 1: the HSV histogram and statistics (84 numbers); 2: + colour names per region (417).
COLOUR_VERSION = 2
DECIMALS = 4
COLOUR_DIM = REGION_OFFSET + REGION_DIM


def colour_features(image: Image.Image) -> np.ndarray:
    """COLOUR_DIM float32 numbers describing the colours of the photo's foreground."""
    rgb = _thumbnail(image)
    mask = _foreground(rgb)
    pixels = rgb[mask] / 255.0
    hsv = _hsv(pixels)
    share = len(pixels) / mask.size
    features = [_histogram(hsv), _stats(pixels, hsv, share), region_features(rgb, mask)]
    # 4 decimals: what the models can use, and half the bytes each photo stores.
    return np.round(np.concatenate(features), DECIMALS).astype(np.float32)


def _thumbnail(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.float32)


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """The foreground mask (h, w); every pixel when too few differ from the border."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    background = np.median(border, axis=0)
    mask = np.linalg.norm(rgb - background, axis=2) > BORDER_DISTANCE
    return mask if mask.mean() >= MIN_FOREGROUND else np.ones_like(mask)


def _hsv(pixels: np.ndarray) -> np.ndarray:
    high, low = pixels.max(axis=1), pixels.min(axis=1)
    span = high - low
    safe = np.where(span > 0, span, 1.0)
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    hue = np.where(
        high == r, ((g - b) / safe) % 6, np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    hue = np.where(span > 0, hue / 6.0, 0.0)
    sat = np.where(high > 0, span / np.where(high > 0, high, 1.0), 0.0)
    return np.stack([hue, sat, high], axis=1)


def _histogram(hsv: np.ndarray) -> np.ndarray:
    """Shares of the foreground per colour bin, square-rooted (Hellinger: linear models like
    it better than raw shares)."""
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    chromatic = (sat >= CHROMATIC_SAT) & (val >= DARK)
    h = np.minimum((hue * HUE_BINS).astype(np.int64), HUE_BINS - 1)
    s = np.minimum(
        ((sat - CHROMATIC_SAT) / (1 - CHROMATIC_SAT) * SAT_BINS).astype(np.int64), SAT_BINS - 1
    )
    v = np.minimum(((val - DARK) / (1 - DARK) * VAL_BINS).astype(np.int64), VAL_BINS - 1)
    colour_bins = (h * SAT_BINS + s) * VAL_BINS + v
    grey_bins = np.minimum((val * GREY_BINS).astype(np.int64), GREY_BINS - 1)
    counts = np.bincount(
        np.where(chromatic, colour_bins, HUE_BINS * SAT_BINS * VAL_BINS + grey_bins),
        minlength=HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS,
    ).astype(np.float32)
    return np.sqrt(counts / max(len(hsv), 1))


def _stats(pixels: np.ndarray, hsv: np.ndarray, share: float) -> np.ndarray:
    """Mean colour, circular mean hue weighted by saturation, spread of brightness, the
    foreground's share of the photo."""
    weight = hsv[:, 1] * hsv[:, 2]
    angle = hsv[:, 0] * 2 * np.pi
    total = max(float(weight.sum()), 1e-6)
    return np.array(
        [
            *pixels.mean(axis=0),
            float((weight * np.cos(angle)).sum() / total),
            float((weight * np.sin(angle)).sum() / total),
            float(hsv[:, 1].mean()),
            float(hsv[:, 2].std()),
            share,
        ],
        dtype=np.float32,
    )
