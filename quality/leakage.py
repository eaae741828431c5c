"""Leakage: query photos that are catalog photos, which flatter every metric.

Two rules, and the report says which fired: **exact**, the query's bytes are a catalog
photo's (its SHA-256 is stored beside each vector); **near-duplicate**, cosine >= 0.98 in the
base encoder's space. The threshold means the same only there: in an adapter's space
unrelated photos can pass it, so with an adapter the best catalog candidate's photos are
embedded again by the base encoder (from `images_base`), or the rule is reported as not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visearch.quality.catalog_vectors import CatalogVectors
from visearch.quality.diagnostics import NEAR_DUPLICATE, Leak
from visearch.vectors.adapter import AdaptedEncoder
from visearch.vectors.images import ImageError, load_image


class LeakageCheck:
    def __init__(self, encoder: Any, catalog: CatalogVectors, images_base: Path | None) -> None:
        self._catalog = catalog
        self._images_base = images_base
        self._base = encoder.base if isinstance(encoder, AdaptedEncoder) else None
        self.rules = {
            "exact": "same bytes as a catalog photo (SHA-256)"
            if catalog.digests
            else "not run: the index stores no photo digests (rebuild it to record them)",
            "near-duplicate": self._near_rule(),
        }

    def _near_rule(self) -> str:
        rule = f"cosine >= {NEAR_DUPLICATE} in the base encoder's space"
        if self._base is None:
            return rule
        if self._images_base is None:
            return "not run: the index is in an adapter's space; give the catalog's images folder"
        return f"{rule} (the best candidate's photos embedded again by {self._base.name})"

    def check(
        self,
        query_id: str,
        digest: str | None,
        image: Any,
        best: np.ndarray,
    ) -> Leak | None:
        """`best`: each product's best cosine to the query in the index's space."""
        if digest is not None and digest in self._catalog.digests:
            return Leak(query_id, "exact", self._catalog.digests[digest])
        if image is None or not len(best):
            return None
        top = int(np.argmax(best))
        sku = self._catalog.skus[top]
        if self._base is None:
            cosine = float(best[top])
        elif self._images_base is not None:
            cosine = self._base_cosine(image, sku)
        else:
            return None
        return Leak(query_id, "near-duplicate", sku, cosine) if cosine >= NEAR_DUPLICATE else None

    def _base_cosine(self, image: Any, sku: str) -> float:
        assert self._base is not None and self._images_base is not None
        photos = []
        for row in self._catalog.photo_rows(sku):
            try:
                photos.append(load_image(self._catalog.refs[row], self._images_base))
            except ImageError:
                continue
        if not photos:
            return -1.0
        vectors = self._base.embed_images([image, *photos])
        return float(np.max(vectors[1:] @ vectors[0]))
