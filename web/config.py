"""What the HTTP service is allowed to do; plain values that `visearch serve` fills from flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024
# Room for the params part and multipart framing on top of the image itself.
BODY_OVERHEAD = 256 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    images_base: str | None = None
    """Where catalog images live: a local directory (served under /images/), a base URL
    (hits link there), or None (hits carry no image URL unless the catalog has absolute ones)."""
    max_upload_bytes: int = 10 * MB
    """Largest query image, uploaded or fetched from image_url (413 above it)."""
    timeout_s: float = 10.0
    """Per request: fetching, decoding, encoding and OpenSearch together (504 past it)."""
    allow_private_urls: bool = False
    """Let image_url reach loopback and private addresses (off: SSRF guard)."""
    default_facets: tuple[str, ...] = (
        "category",
        "article_type",
        "colour_group",
        "gender",
        "brand",
        "season",
        "usage",
    )
    """Facets /v1/facets and the page ask for when none are named, in this order (those the
    index has); when the index has none of them, every keyword attribute."""

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.timeout_s <= 0:
            raise ValueError("max_upload_bytes and timeout_s must be positive")

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + BODY_OVERHEAD

    @property
    def images_dir(self) -> Path | None:
        """The local directory behind /images/, when images_base is one."""
        if self.images_base is None or "://" in self.images_base:
            return None
        return Path(self.images_base).resolve()

    @property
    def images_url(self) -> str | None:
        """The base URL hits link to, when images_base is one."""
        if self.images_base is None or "://" not in self.images_base:
            return None
        return self.images_base.rstrip("/") + "/"
