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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import requests
from PIL import Image, ImageOps

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_FORMATS",
    "BlockedURLError",
    "ImageError",
    "ImageLoaderConfig",
    "decode_image",
    "load_image",
    "load_image_safe",
    "read_image_bytes",
    "sniff_format",
]

# Formats product photos come in. Restricting Image.open keeps exotic decoders (EPS runs
# Ghostscript, for one) away from untrusted bytes.
DEFAULT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CHUNK = 64 * 1024


class ImageError(Exception):
    """An image that could not be used; names the image and the reason."""

    def __init__(self, ref: str, reason: str):
        # Both go to Exception so the error pickles across worker processes.
        super().__init__(ref, reason)
        self.ref = ref
        self.reason = reason

    def __str__(self) -> str:
        return f"image {self.ref}: {self.reason}"


class BlockedURLError(ImageError):
    """An http(s) URL whose host is not a public address, with ``public_urls_only`` set."""


@dataclass(frozen=True)
class ImageLoaderConfig:
    """Limits for one load; per call rather than global, so callers never interfere."""

    timeout_s: float = 10.0
    """Per HTTP attempt, connect plus the whole body."""
    max_bytes: int = 20 * 1024 * 1024
    """Size cap for any source, enforced while reading."""
    retries: int = 2
    """Extra attempts for URLs on connection errors, timeouts, 5xx and 429."""
    backoff_s: float = 0.5
    """Sleep before the first retry; doubles on each further one."""
    max_pixels: int = 40_000_000
    """Decompression-bomb guard on width*height, checked before decoding pixels."""
    user_agent: str = "visearch/0.1"
    formats: tuple[str, ...] = DEFAULT_FORMATS
    """PIL format names that may be decoded."""
    public_urls_only: bool = False
    """Refuse URLs whose host resolves to a loopback, private, link-local, multicast or
    reserved address (SSRF guard for URLs from untrusted callers; see ingest/netguard.py)."""

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("timeout_s, max_bytes and max_pixels must be positive")
        if self.retries < 0 or self.backoff_s < 0:
            raise ValueError("retries and backoff_s must not be negative")


DEFAULT_CONFIG = ImageLoaderConfig()


def read_image_bytes(
    ref: str,
    base_dir: Path | None = None,
    config: ImageLoaderConfig = DEFAULT_CONFIG,
    session: requests.Session | None = None,
) -> bytes:
    """Raw bytes of a local path (relative to ``base_dir`` if given), file:// or http(s) URL."""
    match = _URL_RE.match(ref)
    if match is None:
        path = Path(ref)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        return _read_file(ref, path, config)
    scheme = match.group(1).lower()
    if scheme in ("http", "https"):
        return _read_url(ref, config, session)
    if scheme == "file":
        parts = urlsplit(ref)
        if parts.netloc not in ("", "localhost"):
            raise ImageError(ref, f"file:// URL with remote host '{parts.netloc}' is not supported")
        return _read_file(ref, Path(url2pathname(parts.path)), config)
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
            im.load()
            return _to_rgb(_upright(im))
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


def _read_file(ref: str, path: Path, config: ImageLoaderConfig) -> bytes:
    where = "" if str(path) == ref else f" ({path})"
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > config.max_bytes:
                raise ImageError(ref, f"larger than {config.max_bytes} bytes ({size} bytes)")
            # Read one byte past the cap: special files and growing files lie about st_size.
            data = f.read(config.max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(ref, f"file not found{where}") from None
    except IsADirectoryError:
        raise ImageError(ref, f"is a directory, not a file{where}") from None
    except PermissionError:
        raise ImageError(ref, f"permission denied{where}") from None
    except OSError as e:
        raise ImageError(ref, f"cannot read file{where}: {e.strerror or e}") from None
    if len(data) > config.max_bytes:
        raise ImageError(ref, f"larger than {config.max_bytes} bytes")
    if not data:
        raise ImageError(ref, f"empty file (0 bytes){where}")
    return data


class _Retryable(Exception):
    """One failed HTTP attempt that another attempt might fix."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _read_url(ref: str, config: ImageLoaderConfig, session: requests.Session | None) -> bytes:
    owned = session is None
    if config.public_urls_only:
        if session is not None:
            raise ValueError("public_urls_only brings its own session; do not pass one")
        from visearch.vectors.netguard import guarded_session

        http = guarded_session()
    else:
        http = requests.Session() if session is None else session
    attempts = config.retries + 1
    last = ""
    try:
        for attempt in range(attempts):
            if attempt:
                time.sleep(config.backoff_s * 2 ** (attempt - 1))
            try:
                return _fetch_once(ref, config, http)
            except _Retryable as e:
                last = e.reason
        suffix = f" ({attempts} attempts)" if attempts > 1 else ""
        raise ImageError(ref, last + suffix)
    finally:
        if owned:
            http.close()


def _fetch_once(ref: str, config: ImageLoaderConfig, http: requests.Session) -> bytes:
    from visearch.vectors.netguard import BlockedAddress

    timed_out = f"timed out after {config.timeout_s:g}s"
    deadline = time.monotonic() + config.timeout_s
    try:
        with http.get(
            ref,
            stream=True,
            timeout=(config.timeout_s, config.timeout_s),
            headers={"User-Agent": config.user_agent},
        ) as resp:
            if resp.status_code >= 400:
                status = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                if resp.status_code in _RETRY_STATUS:
                    raise _Retryable(status)
                raise ImageError(ref, status)
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > config.max_bytes:
                raise ImageError(ref, f"larger than {config.max_bytes} bytes ({declared} bytes)")
            buf = bytearray()
            # iter_content undoes gzip, so the cap also bounds compressed responses.
            for chunk in resp.iter_content(_CHUNK):
                buf += chunk
                if len(buf) > config.max_bytes:
                    raise ImageError(ref, f"larger than {config.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise _Retryable(timed_out)
    except BlockedAddress as e:
        raise BlockedURLError(ref, str(e)) from None
    except requests.exceptions.SSLError as e:
        raise ImageError(ref, f"TLS error: {_short_reason(e)}") from None
    except requests.Timeout:
        raise _Retryable(timed_out) from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        # requests reports a read timeout while streaming the body as a ConnectionError.
        if _caused_by_timeout(e):
            raise _Retryable(timed_out) from None
        raise _Retryable(f"unreachable: {_short_reason(e)}") from None
    except requests.RequestException as e:
        raise ImageError(ref, f"request failed: {_short_reason(e)}") from None
    if not buf:
        raise ImageError(ref, "empty response (0 bytes)")
    return bytes(buf)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps, outermost first, through urllib3's layers."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        elif current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
        else:
            current = current.__cause__ or current.__context__
    return chain


def _caused_by_timeout(exc: BaseException) -> bool:
    # urllib3's ReadTimeoutError is not a builtin TimeoutError, hence the name check.
    return any(
        isinstance(e, TimeoutError) or "TimeoutError" in type(e).__name__ for e in _causes(exc)
    )


def _short_reason(exc: BaseException) -> str:
    """'connection refused' instead of three nested urllib3 reprs."""
    chain = _causes(exc)
    for e in reversed(chain):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    text = str(chain[-1]) or type(chain[-1]).__name__
    return text if len(text) <= 200 else text[:197] + "..."


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
