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
    max_query_pixels: int = 16_000_000
    """Decompression guard for query images, below ingest's 40 Mpx: the model sees 224x224."""
    image_pixel_budget: int = 48_000_000
    """Pixels of image work in flight at once (each job reserves what its image decodes to);
    a job past it gets 503 with Retry-After at once. Three photos at the query cap, or
    hundreds of ordinary ones."""
    image_workers: int = 16
    """Threads for image work (jobs the budget admits beyond this wait for a thread)."""
    cluster_workers: int = 16
    """Threads for requests that only call the cluster (facets, products, keyword searches)."""
    body_timeout_s: float = 10.0
    """A request body must arrive within this (408 past it)."""
    header_timeout_s: float = 10.0
    """A connection must finish sending its request headers within this (closed past it)."""
    max_connections: int = 256
    """Open connections beyond this are answered 503 and closed."""
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
        sizes = (self.max_upload_bytes, self.max_query_pixels, self.image_pixel_budget,
                 self.image_workers, self.cluster_workers, self.max_connections)  # fmt: skip
        times = (self.timeout_s, self.body_timeout_s, self.header_timeout_s)
        if min(sizes) < 1 or min(times) <= 0:
            raise ValueError("limits, worker counts and timeouts must be positive")

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
