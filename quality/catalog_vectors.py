"""Every stored photo vector of an alias, with its product, digest and image reference: what
exact (brute-force) ranking, leakage checks and contact sheets need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from opensearchpy import helpers

from visearch.mappings.fields import PHOTO_DIGEST, PHOTO_IMAGE, PHOTO_VECTOR, PHOTOS_FIELD

ATTRIBUTES = ("sku", "title", "colour", "category", "subcategory", "article_type", "image")


@dataclass(frozen=True)
class CatalogVectors:
    skus: list[str]  # one per product
    vectors: np.ndarray  # one row per photo
    owner: np.ndarray  # photo row -> index into skus
    refs: list[str]  # one per photo: where it was read from
    attributes: dict[str, dict[str, Any]]  # sku -> the fields above
    digests: dict[str, str]  # photo SHA-256 -> sku (photos ingested before digests: none)

    def exact_ranking(self, query: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
        """Products by their best photo's cosine (brute force), and every product's best."""
        per_photo = self.vectors @ query
        best = np.full(len(self.skus), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owner, per_photo)
        order = np.argsort(-best, kind="stable")[:k]
        return [self.skus[i] for i in order], best

    def photo_rows(self, sku: str) -> np.ndarray:
        return np.flatnonzero(self.owner == self.skus.index(sku))


def load_catalog_vectors(client: Any, alias: str) -> CatalogVectors:
    skus: list[str] = []
    rows: list[list[float]] = []
    owner: list[int] = []
    refs: list[str] = []
    attributes: dict[str, dict[str, Any]] = {}
    digests: dict[str, str] = {}
    query = {"_source": [*ATTRIBUTES, PHOTOS_FIELD]}
    for hit in helpers.scan(client, index=alias, query=query, size=500):
        source = hit["_source"]
        photos = source.pop(PHOTOS_FIELD, None) or []
        if not photos:
            continue
        for photo in photos:
            rows.append(photo[PHOTO_VECTOR])
            owner.append(len(skus))
            refs.append(str(photo.get(PHOTO_IMAGE, "")))
            if photo.get(PHOTO_DIGEST):
                digests[photo[PHOTO_DIGEST]] = hit["_id"]
        skus.append(hit["_id"])
        attributes[hit["_id"]] = source
    if not rows:
        raise ValueError(f"{alias!r} holds no product with a stored vector: nothing to evaluate")
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return CatalogVectors(skus, vectors, np.asarray(owner, dtype=np.int64), refs, attributes,
                          digests)  # fmt: skip
