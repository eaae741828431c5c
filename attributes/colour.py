"""Colour features of a product photo's foreground: what pooled CNN vectors barely keep.

The foreground is every pixel that differs clearly from the border colour (product shots sit
on a plain background). Its colours are counted in HSV: a joint hue x saturation x value
histogram for chromatic pixels plus value bins for greys, then a few summary statistics.
Then where the colours sit (attributes/colour_regions.py: Lab colour names per region).
Cheap on purpose (a 64-pixel thumbnail, numpy only): ingest computes it from the image it
already decoded, and stores it beside the photo's vector so training never re-reads photos.
Photos are computed in batches (`colour_features_batch`): every numpy call then covers a
whole batch of thumbnails of one size, so the per-call cost is paid once, not once a photo
(ingest computes it beside the model, on the same two cores; a photo alone took 1.4 ms).

The features' length is their version (COLOUR_VERSION): stored features of another length
were computed by older code and read as unknown (attributes/features.py), never mixed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from visearch.attributes.colour_regions import REGION_DIM, Pixels, region_features

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
_BINS = HUE_BINS * SAT_BINS * VAL_BINS + GREY_BINS
REGION_OFFSET = _BINS + STATS  # where region_features start
# 1: the HSV histogram and statistics (84 numbers); 2: + colour names per region (417).
COLOUR_VERSION = 2
DECIMALS = 4
COLOUR_DIM = REGION_OFFSET + REGION_DIM


def colour_features(image: Image.Image) -> np.ndarray:
    """COLOUR_DIM float32 numbers describing the colours of the photo's foreground."""
    return colour_features_batch([image])[0]


def colour_features_batch(images: Sequence[Image.Image]) -> np.ndarray:
    """(len(images), COLOUR_DIM): each photo's features, as `colour_features` gives them."""
    out = np.empty((len(images), COLOUR_DIM), dtype=np.float32)
    thumbs = [_thumbnail(image) for image in images]
    for shape in {thumb.shape for thumb in thumbs}:
        rows = [i for i, thumb in enumerate(thumbs) if thumb.shape == shape]
        out[rows] = _same_size(np.stack([thumbs[i] for i in rows]))
    return out


def _same_size(rgb: np.ndarray) -> np.ndarray:
    """The features of a stack of thumbnails of one size (b, h, w, 3)."""
    mask = _foreground(rgb)
    pixels = Pixels.of(rgb, mask)
    scaled = pixels.rgb / 255.0
    hsv = _hsv(scaled)
    features = [_histogram(pixels, hsv), _stats(pixels, scaled, hsv), region_features(pixels)]
    # 4 decimals: what the models can use, and half the bytes each photo stores.
    return np.round(np.concatenate(features, axis=1), DECIMALS).astype(np.float32)


def _thumbnail(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((THUMB, THUMB), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.float32)


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """The foreground masks (b, h, w); every pixel of a photo where too few differ from its
    border. Channel by channel: numpy reduces a length-3 last axis fifty times slower."""
    border = np.concatenate([rgb[:, 0], rgb[:, -1], rgb[:, :, 0], rgb[:, :, -1]], axis=1)
    background = np.median(border, axis=1)  # (b, 3)
    distance = sum((rgb[..., c] - background[:, c, None, None]) ** 2 for c in range(3))
    mask = distance > BORDER_DISTANCE**2  # exact: integer pixel values, halves at most
    mask[mask.mean(axis=(1, 2)) < MIN_FOREGROUND] = True
    return mask


def _hsv(rgb: np.ndarray) -> np.ndarray:
    """(3, n) RGB in 0..1 -> (3, n) hue, saturation, value in 0..1."""
    r, g, b = rgb
    high = np.maximum(np.maximum(r, g), b)
    span = high - np.minimum(np.minimum(r, g), b)
    safe = np.where(span > 0, span, 1.0)
    red = (g - b) / safe
    red = np.where(red < 0, red + 6, red)  # numpy's % 6 on [-1, 1], without its slow fmod
    hue = np.where(high == r, red, np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = np.where(span > 0, hue / 6.0, 0.0)
    sat = np.where(high > 0, span / np.where(high > 0, high, 1.0), 0.0)
    return np.stack([hue, sat, high])


def _histogram(pixels: Pixels, hsv: np.ndarray) -> np.ndarray:
    """Shares of each photo's foreground per colour bin, square-rooted (Hellinger: linear
    models like it better than raw shares)."""
    hue, sat, val = hsv
    chromatic = (sat >= CHROMATIC_SAT) & (val >= DARK)
    h = np.minimum((hue * HUE_BINS).astype(np.int64), HUE_BINS - 1)
    s = np.minimum(
        ((sat - CHROMATIC_SAT) / (1 - CHROMATIC_SAT) * SAT_BINS).astype(np.int64), SAT_BINS - 1
    )
    v = np.minimum(((val - DARK) / (1 - DARK) * VAL_BINS).astype(np.int64), VAL_BINS - 1)
    colour_bins = (h * SAT_BINS + s) * VAL_BINS + v
    grey_bins = np.minimum((val * GREY_BINS).astype(np.int64), GREY_BINS - 1)
    bins = np.where(chromatic, colour_bins, HUE_BINS * SAT_BINS * VAL_BINS + grey_bins)
    return np.sqrt(pixels.count_per(bins, _BINS) / pixels.counts[:, None])


def _stats(pixels: Pixels, scaled: np.ndarray, hsv: np.ndarray) -> np.ndarray:
    """Mean colour, circular mean hue weighted by saturation, spread of brightness, the
    foreground's share of the photo."""
    hue, sat, val = hsv
    weight = sat * val
    angle = hue * 2 * np.pi
    total = np.maximum(pixels.sum(weight), 1e-6)
    val_spread = np.sqrt(pixels.mean((val - pixels.mean(val)[pixels.owner]) ** 2))
    return np.column_stack(
        [
            pixels.mean(scaled).T,
            pixels.sum(weight * np.cos(angle)) / total,
            pixels.sum(weight * np.sin(angle)) / total,
            pixels.mean(sat),
            val_spread,
            pixels.counts / pixels.size,
        ]
    ).astype(np.float32)
