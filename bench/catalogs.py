"""Catalogs made from the fashion catalog for benchmarks: its first N rows, or its rows
repeated under new skus up to any size. Image paths stay relative to the original folder
(pass it as `CatalogSource(images_dir=...)`)."""

from __future__ import annotations

import csv
from pathlib import Path


def head_catalog(catalog: Path, limit: int, out: Path) -> Path:
    """The header and the first `limit` rows of `catalog`, written to `out`."""
    with catalog.open(newline="") as source, out.open("w", newline="") as target:
        reader = csv.reader(source)
        writer = csv.writer(target)
        writer.writerow(next(reader))
        for _, row in zip(range(limit), reader, strict=False):
            writer.writerow(row)
    return out


def repeated_catalog(catalog: Path, rows: int, out: Path) -> Path:
    """`rows` rows: `catalog`'s rows over and over, the n-th repetition's skus suffixed `-n`."""
    with catalog.open(newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        original = list(reader)
    sku = header.index("sku")
    with out.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(header)
        for n in range(rows):
            round_, row = divmod(n, len(original))
            record = list(original[row])
            if round_:
                record[sku] = f"{record[sku]}-{round_}"
            writer.writerow(record)
    return out
