"""The identity of a product's stored vectors: its photos' bytes and the encoder that made them.

The vector is the expensive part of a product, so a key that changes only when the photos or
the encoder (adapter and runtime included in its name) change decides when to re-embed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def vector_key(photos: Sequence[bytes], encoder_name: str) -> str:
    """One key over every photo's bytes, in order, and the encoder name."""
    digest = hashlib.sha256()
    for data in photos:
        digest.update(hashlib.sha256(data).digest())
    digest.update(b"\0" + encoder_name.encode())
    return digest.hexdigest()[:32]
