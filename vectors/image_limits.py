"""The image loader's settings and errors, shared by its parts (local files, URLs, decoding)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Formats product photos come in. Restricting Image.open keeps exotic decoders (EPS runs
# Ghostscript, for one) away from untrusted bytes.
DEFAULT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
CHUNK = 64 * 1024


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
    reduce_to: int | None = 448
    """Photos whose shorter side is over twice this are decoded smaller (JPEG at a DCT scale)
    and reduced by a whole factor, keeping that side at least this long: encoders see
    224x224, and a 6000x4000 upload need not take 70 MB. The same for ingest and queries, so
    both see the same pixels. None: always full size."""
    user_agent: str = "visearch/0.1"
    formats: tuple[str, ...] = DEFAULT_FORMATS
    """PIL format names that may be decoded."""
    public_urls_only: bool = False
    """Refuse URLs whose host resolves to a loopback, private, link-local, multicast or
    reserved address (SSRF guard for URLs from untrusted callers; see vectors/netguard.py)."""
    allowed_hosts: tuple[str, ...] = ()
    """With public_urls_only: host names (or name:port) trusted anyway, e.g. an internal
    image server the operator names."""
    local_roots: tuple[Path, ...] | None = None
    """Folders local images must lie in, after following symlinks (a catalog names its own
    photos, not /etc/passwd); None: any path (the operator's own command line)."""

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("timeout_s, max_bytes and max_pixels must be positive")
        if self.reduce_to is not None and self.reduce_to < 1:
            raise ValueError("reduce_to must be positive (or None)")
        if self.retries < 0 or self.backoff_s < 0:
            raise ValueError("retries and backoff_s must not be negative")


DEFAULT_CONFIG = ImageLoaderConfig()
