"""More photos per product from a separate file (`--photos FILE`: rows of image, sku).

Stores often keep extra product shots apart from the catalog export. Each row adds a photo
to its product; photos of SKUs the catalog does not have are reported, not indexed.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from ingest.catalog import CatalogError, CatalogRead
from ingest.records import RowError


def attach_photos(catalog: CatalogRead, photos_file: Path) -> CatalogRead:
    """A copy of `catalog` whose products carry the extra photos listed in `photos_file`.

    Relative image paths in the photos file are resolved against that file's folder."""
    if not photos_file.is_file():
        raise CatalogError(f"photos file {photos_file} not found")
    extra: dict[str, list[str]] = {}
    errors: list[RowError] = []
    known = {product.sku for product in catalog.products}
    with photos_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not {"image", "sku"} <= set(reader.fieldnames or ()):
            raise CatalogError(f"photos file {photos_file} needs 'image' and 'sku' columns")
        for row in reader:
            sku, image = (row["sku"] or "").strip(), (row["image"] or "").strip()
            if not sku or not image:
                reason = f"{photos_file.name}: a photo row needs both sku and image"
                errors.append(RowError(sku or None, "validate", reason, reader.line_num))
            elif sku not in known:
                reason = f"{photos_file.name}: photo {image} names sku {sku}, not in the catalog"
                errors.append(RowError(sku, "validate", reason, reader.line_num))
            else:
                resolved = image if "://" in image else str((photos_file.parent / image).resolve())
                extra.setdefault(sku, []).append(resolved)
    products = [
        replace(p, extra_images=tuple(dict.fromkeys([*p.extra_images, *extra.get(p.sku, [])])))
        for p in catalog.products
    ]
    return replace(catalog, products=products, errors=[*catalog.errors, *errors])
