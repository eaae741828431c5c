"""Product -> OpenSearch document fields, and the two hashes that make reruns cheap.

`vector_key` changes only when the image bytes or the encoder change: only then is the
product re-embedded. `doc_hash` covers every other field: when only it changes, the
document is updated in place and keeps its stored vector.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ingest.records import Product


def vector_key(photos: Sequence[bytes], encoder_name: str) -> str:
    """One key over every photo's bytes, in order, and the encoder (adapter included)."""
    digest = hashlib.sha256()
    for data in photos:
        digest.update(hashlib.sha256(data).digest())
    digest.update(b"\0" + encoder_name.encode())
    return digest.hexdigest()[:32]


def document_fields(product: Product) -> dict[str, Any]:
    """The searchable, filterable fields of a product (no vector, no bookkeeping)."""
    fields: dict[str, Any] = {
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "image": product.image,
        "images": list(product.images),
        **product.attributes,
    }
    for name in ("price", "in_stock", "popularity"):
        value = getattr(product, name)
        if value is not None:
            fields[name] = value
    return fields


def doc_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
