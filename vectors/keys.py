"""The identity of photos and of a product's stored vectors.

The vector is the expensive part of a product, so a key that changes only when the photos or
the encoder (adapter and runtime included in its name) change decides when to re-embed. Each
photo's own digest is stored beside its vector, so evaluation can tell a query photo that is
byte for byte a catalog photo.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def photo_digest(data: bytes) -> str:
    """The SHA-256 of a photo's bytes (hex)."""
    return hashlib.sha256(data).hexdigest()


def vector_key(digests: Sequence[str], encoder_name: str) -> str:
    """One key over every photo's digest, in order, and the encoder name."""
    digest = hashlib.sha256()
    for photo in digests:
        digest.update(bytes.fromhex(photo))
    digest.update(b"\0" + encoder_name.encode())
    return digest.hexdigest()[:32]
