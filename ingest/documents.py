"""The one document builder: every product document ingest writes comes from here.

A full document holds the product's fields, its photos with their vectors, and the
bookkeeping (`vector_key`, `doc_hash`, timestamps). `doc_hash` covers every field but the
vectors: when only it changes, the document is updated in place and keeps its vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from visearch.ingest.records import Product
from visearch.mappings.fields import (
    DOC_HASH,
    EMBEDDED_AT,
    ENCODER,
    INDEXED_AT,
    PHOTO_CENTROID,
    PHOTO_COLOUR,
    PHOTO_COUNT,
    PHOTO_DIGEST,
    PHOTO_IMAGE,
    PHOTO_VECTOR,
    PHOTOS_FIELD,
    VECTOR_KEY,
)


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


def photos_field(
    refs: Sequence[str],
    digests: Sequence[str],
    vectors: Sequence[Any],
    colours: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """One nested entry per photo; vectors stay float32 (the client's serializer writes them).
    `colours`: each photo's colour features (attributes/colour.py), stored unindexed."""
    photos = [
        {PHOTO_IMAGE: ref, PHOTO_DIGEST: digest, PHOTO_VECTOR: vector}
        for ref, digest, vector in zip(refs, digests, vectors, strict=True)
    ]
    for photo, colour in zip(photos, colours or (), strict=False):
        photo[PHOTO_COLOUR] = colour
    return photos


def full_document(
    product: Product,
    photos: list[dict[str, Any]],
    *,
    vector_key: str,
    encoder: str,
    embedded_at: str,
    centroid: bool = True,
) -> dict[str, Any]:
    """Everything a product document holds: fields, photos with vectors, their centroid
    (unless the index predates it), bookkeeping."""
    fields = document_fields(product)
    return {
        **fields,
        PHOTOS_FIELD: photos,
        **({PHOTO_CENTROID: photo_centroid(photos)} if centroid and photos else {}),
        PHOTO_COUNT: len(photos),
        ENCODER: encoder,
        VECTOR_KEY: vector_key,
        DOC_HASH: doc_hash(fields),
        INDEXED_AT: now_iso(),
        EMBEDDED_AT: embedded_at,
    }


def photo_centroid(photos: Sequence[dict[str, Any]]) -> np.ndarray:
    """The unit-length mean of a product's photo vectors: cosine to it is the product's
    overall look, which ranks a product by all its photos, not only its best one."""
    vectors = [photo[PHOTO_VECTOR] for photo in photos]
    mean = np.mean(np.asarray(vectors, dtype=np.float32), axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def field_update(product: Product) -> dict[str, Any]:
    """The partial update for a product whose text or attributes changed: vectors stay."""
    fields = document_fields(product)
    return {**fields, DOC_HASH: doc_hash(fields), INDEXED_AT: now_iso()}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
