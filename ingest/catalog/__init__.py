"""Read a product catalog (CSV, TSV or JSONL) as a stream of Products and per-row errors.

A broken row never stops the nightly run: it becomes a RowError with its line number and
reading goes on. Only a catalog that is unusable as a whole (missing, unknown format, no sku
or image column, a mapping naming a column that does not exist, no records) raises
CatalogError, which carries the problem as data. Every sku seen, even on a broken row, is
reported, so a sync never deletes a product only because its row is broken today.
"""

from visearch.ingest.catalog.columns import load_mapping_file, safe_field_name
from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.catalog.source import (
    CatalogRead,
    CatalogSource,
    CatalogStream,
    open_catalog,
    read_catalog,
)

__all__ = [
    "CatalogError",
    "CatalogRead",
    "CatalogSource",
    "CatalogStream",
    "load_mapping_file",
    "open_catalog",
    "read_catalog",
    "safe_field_name",
]
