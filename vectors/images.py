"""The one image loader shared by ingest, query, eval and the HTTP service.

Every caller gets the same pixels for the same reference, so embeddings computed at ingest and
at query time agree, and every failure is an :class:`ImageError` naming the image and the reason.
Catalog images are untrusted: sizes are capped while streaming and pixel counts are checked from
the header before any pixel data is decoded.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import requests
from PIL import Image, ImageOps

from visearch.vectors.http_fetch import read_url
from visearch.vectors.image_limits import (
    DEFAULT_CONFIG,
    DEFAULT_FORMATS,
    BlockedURLError,
    ImageError,
    ImageLoaderConfig,
)
from visearch.vectors.local_files import allowed_path, read_file

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_FORMATS",
    "BlockedURLError",
    "ImageError",
    "ImageLoaderConfig",
    "decode_image",
    "header_pixels",
    "load_image",
    "load_image_safe",
    "read_image_bytes",
    "sniff_format",
]

_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def read_image_bytes(
    ref: str,
    base_dir: Path | None = None,
    config: ImageLoaderConfig = DEFAULT_CONFIG,
    session: requests.Session | None = None,
) -> bytes:
    """Raw bytes of a local path (relative to ``base_dir`` if given), file:// or http(s) URL."""
    match = _URL_RE.match(ref)
    if match is None:  # plain strings, not Path objects: this runs once per catalog photo
        path = os.path.join(base_dir, ref) if base_dir is not None else ref
        return read_file(ref, allowed_path(ref, path, config), config)
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return read_url(ref, config, session)
    if scheme == "file":
        parts = urlsplit(ref)
        if parts.netloc not in ("", "localhost"):
            raise ImageError(ref, f"file:// URL with remote host '{parts.netloc}' is not supported")
        return read_file(ref, allowed_path(ref, url2pathname(parts.path), config), config)
    raise ImageError(ref, f"unsupported URL scheme '{scheme}'")


def decode_image(data: bytes, ref: str, config: ImageLoaderConfig = DEFAULT_CONFIG) -> Image.Image:
    """Fully loaded RGB image, upright, transparency flattened on white like a product page."""
    if not data:
        raise ImageError(ref, "cannot decode: no data (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=list(config.formats)) as im:
            width, height = im.size  # header only; no pixel data read yet
            if width * height > config.max_pixels:
                raise _bomb(ref, width, height, config)
            if config.reduce_to and min(width, height) > 2 * config.reduce_to:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale (DCT scaling): the full-size pixels
                # are never in memory. Other formats ignore this.
                im.draft(im.mode, (config.reduce_to, config.reduce_to))
            im.load()
            return _to_rgb(_reduced(_upright(im), config.reduce_to))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL's own global limit fired inside Image.open, before we saw the size.
        width, height = _header_size(data, config) or (0, 0)
        raise _bomb(ref, width, height, config) from None
    except Image.UnidentifiedImageError:
        raise ImageError(ref, f"cannot decode: {_not_an_image(data, config)}") from None
    except Exception as e:  # decoders raise anything on hostile input
        raise ImageError(ref, f"cannot decode: {_describe(e)}") from e


def load_image(
    ref: str,
    base_dir: Path | None = None,
    config: ImageLoaderConfig = DEFAULT_CONFIG,
    session: requests.Session | None = None,
) -> Image.Image:
    """Read and decode ``ref``; see :func:`read_image_bytes` and :func:`decode_image`."""
    return decode_image(read_image_bytes(ref, base_dir, config, session), ref, config)


def load_image_safe(
    ref: str,
    base_dir: Path | None = None,
    config: ImageLoaderConfig = DEFAULT_CONFIG,
    session: requests.Session | None = None,
) -> Image.Image | ImageError:
    """Like :func:`load_image` but returns the error, so one bad image cannot stop a pool."""
    try:
        return load_image(ref, base_dir, config, session)
    except ImageError as e:
        return e


def _bomb(ref: str, width: int, height: int, config: ImageLoaderConfig) -> ImageError:
    size = f"{width}x{height} = {width * height}" if width and height else "too many"
    return ImageError(ref, f"decompression bomb: {size} pixels exceeds limit {config.max_pixels}")


def _claimed_formats(data: bytes, config: ImageLoaderConfig) -> list[tuple[str, Callable]]:
    """Allowed formats whose magic bytes ``data`` starts with, with their PIL factories."""
    Image.init()  # registers plugins once; touches no setting
    claimed = []
    for fmt in config.formats:
        factory, accept = Image.OPEN.get(fmt.upper(), (None, None))
        verdict = True if accept is None else accept(data[:16])
        if factory is not None and verdict and not isinstance(verdict, str):
            claimed.append((fmt, factory))  # a str verdict is PIL's "looks like, but" warning
    return claimed


def header_pixels(data: bytes, config: ImageLoaderConfig = DEFAULT_CONFIG) -> int | None:
    """width * height from the header alone (no pixel is decoded), or None if unknown."""
    size = _header_size(data, config)
    return size[0] * size[1] if size else None


def sniff_format(data: bytes, config: ImageLoaderConfig = DEFAULT_CONFIG) -> str | None:
    """The allowed format whose magic bytes ``data`` starts with, or None: the type comes from
    the bytes, never from a file name or a declared content type."""
    claimed = _claimed_formats(data, config)
    return claimed[0][0] if claimed else None


def _header_size(data: bytes, config: ImageLoaderConfig) -> tuple[int, int] | None:
    """Width and height from the header alone, bypassing PIL's global pixel limit."""
    for _, factory in _claimed_formats(data, config):
        try:
            return factory(io.BytesIO(data), "").size
        except Exception:  # not this format after all; try the next one
            continue
    return None


_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "CMYK", "I", "F", "I;16"})


def _reduced(im: Image.Image, reduce_to: int | None) -> Image.Image:
    """A large image shrunk by a whole factor (box filter, cheap) while its shorter side stays
    at least `reduce_to`, before any conversion copies it (bilevel and palette images, which
    cannot be box-filtered, are converted first)."""
    factor = min(im.size) // reduce_to if reduce_to else 1
    if factor < 2:
        return im
    if im.mode not in _REDUCIBLE:
        im = _to_rgb(im)
    return im.reduce(factor)


def _upright(im: Image.Image) -> Image.Image:
    """Apply EXIF orientation; a malformed EXIF block should not cost us the picture."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        return flat.convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit and float grey to 0..255; PIL's own convert clips, giving white images."""
    if im.mode.startswith("I;16"):
        scale, offset = 1 / 257, 0.0
        im = im.convert("I")
    else:
        lo, hi = im.getextrema()
        if im.mode == "F" and lo >= 0 and hi <= 1:
            scale, offset = 255.0, 0.0
        elif lo >= 0 and hi <= 255:
            scale, offset = 1.0, 0.0
        elif lo >= 0 and hi <= 65535:
            scale, offset = 1 / 257, 0.0
        else:
            scale = 255 / (hi - lo) if hi > lo else 0.0
            offset = -lo * scale
    out = im.point(lambda v: v * scale + (offset + 0.5)).convert("L")
    # A tRNS colour is in the original bit depth and would now match the wrong pixels.
    out.info.pop("transparency", None)
    return out


def _not_an_image(data: bytes, config: ImageLoaderConfig) -> str:
    claimed = [fmt for fmt, _ in _claimed_formats(data, config)]
    if claimed:
        return f"corrupt {claimed[0]} data (header is broken)"
    head = data[:512].lstrip()
    if head.startswith(b"<"):
        return "not an image (looks like HTML/XML)"
    if all(b >= 0x20 or b in b"\t\r\n" for b in head):
        return "not an image (looks like text)"
    return f"not a recognised image format (supported: {', '.join(config.formats)})"


def _describe(e: Exception) -> str:
    text = str(e)
    return text if text and type(e) in (OSError, ValueError) else f"{type(e).__name__}: {text}"
