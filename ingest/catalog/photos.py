"""More photos per product from a separate file (rows of image, sku).

Stores often keep extra product shots apart from the catalog export. Each row adds a photo to
its product as the catalog streams past; photos whose sku no catalog product had are reported
once the catalog has been read, not indexed. Memory grows with the photos file only.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.records import Product, RowError


class PhotoFile:
    """The extra photos of a file, by sku; relative paths resolve against the file's folder."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise CatalogError(f"photos file {path} not found", "photos_not_found")
        self.path = path
        self.errors: list[RowError] = []
        self._by_sku: dict[str, list[tuple[str, int]]] = {}
        self._attached: set[str] = set()
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not {"image", "sku"} <= set(reader.fieldnames or ()):
                message = f"photos file {path} needs 'image' and 'sku' columns"
                raise CatalogError(message, "missing_column", field="image, sku")
            for row in reader:
                self._add(row, reader.line_num)

    def _add(self, row: dict[str, str | None], line: int) -> None:
        sku, image = (row["sku"] or "").strip(), (row["image"] or "").strip()
        if not sku or not image:
            reason = f"{self.path.name}: a photo row needs both sku and image"
            self.errors.append(RowError(sku or None, "validate", reason, line))
            return
        resolved = image if "://" in image else str((self.path.parent / image).resolve())
        self._by_sku.setdefault(sku, []).append((resolved, line))

    def attach(self, product: Product) -> Product:
        """`product` with this file's photos of it added after its own."""
        extra = self._by_sku.get(product.sku)
        if not extra:
            return product
        self._attached.add(product.sku)
        photos = dict.fromkeys([*product.extra_images, *(ref for ref, _ in extra)])
        return replace(product, extra_images=tuple(photos))

    def unmatched(self) -> list[RowError]:
        """Bad rows, and photos of skus that no catalog product had (call after the catalog)."""
        errors = list(self.errors)
        for sku in self._by_sku.keys() - self._attached:
            for image, line in self._by_sku[sku]:
                reason = f"{self.path.name}: photo {image} names sku {sku}, not in the catalog"
                errors.append(RowError(sku, "validate", reason, line))
        return errors
