"""A catalog source, opened for one streaming pass.

`open_catalog` checks what can be checked at once (the file, its format, a CSV header) and
returns a stream of `Product | RowError`, one record at a time, so memory stays flat in the
number of rows. `read_catalog` keeps the whole stream in lists, for small catalogs and tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from visearch.ingest.catalog.columns import checked_mapping
from visearch.ingest.catalog.csv_format import CsvCatalog
from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.catalog.jsonl_format import JsonlCatalog
from visearch.ingest.catalog.lines import Lines
from visearch.ingest.catalog.photos import PhotoFile
from visearch.ingest.catalog.records import RecordChecker
from visearch.ingest.records import Product, RowError

_FORMATS = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl", "ndjson": "jsonl"}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class CatalogSource:
    """Where a catalog is and how to read it."""

    path: Path
    mapping: Mapping[str, str] = field(default_factory=dict)
    """our field -> the catalog's column"""
    fmt: str | None = None
    """csv, tsv or jsonl; None: from the file extension"""
    photos: Path | None = None
    """A CSV of extra photos (image, sku)."""
    images_dir: Path | None = None
    """Where relative image paths start; None: the catalog's folder."""

    @property
    def image_root(self) -> Path:
        return Path(self.images_dir or Path(self.path).parent).resolve()


class CatalogStream:
    """One pass over a catalog: iterate for `Product | RowError`; counters fill as it goes."""

    def __init__(self, source: CatalogSource) -> None:
        path = Path(source.path)
        if not path.exists():
            raise CatalogError(f"catalog not found: {path}", "not_found")
        if path.is_dir():
            raise CatalogError(f"catalog {path} is a directory, not a file", "not_found")
        kind = _format(path, source.fmt)
        mapping = checked_mapping(source.mapping)
        self.source = source
        self.photos = PhotoFile(source.photos) if source.photos is not None else None
        self.rows = 0
        self.malformed = False  # a line that could not be parsed: its sku may be unknown
        self._file: BinaryIO = _open(path)
        lines = Lines(self._file)
        try:
            if kind == "jsonl":
                self._format: CsvCatalog | JsonlCatalog = JsonlCatalog(lines, mapping)
            else:
                self._format = CsvCatalog(lines, mapping, "\t" if kind == "tsv" else ",")
        except BaseException:
            self._file.close()
            raise

    @property
    def extra_attributes(self) -> tuple[str, ...]:
        return self._format.extras

    def __iter__(self) -> Iterator[Product | RowError]:
        checker = RecordChecker()
        try:
            for item in self._format.records(checker):
                self.rows = checker.rows
                if isinstance(item, RowError):
                    self.malformed = self.malformed or item.stage == "read"
                elif self.photos is not None:
                    item = self.photos.attach(item)
                yield item
        except OSError as exc:
            message = f"cannot read catalog: {exc.strerror or exc}"
            raise CatalogError(message, "unreadable") from None
        finally:
            self._file.close()
        if self.rows == 0:
            # Far likelier a broken export than an empty shop: never delete everything for it.
            message = "catalog has no records; refusing to treat it as an empty catalog"
            raise CatalogError(message, "no_records")
        if self.photos is not None:
            yield from self.photos.unmatched()


def open_catalog(source: CatalogSource) -> CatalogStream:
    return CatalogStream(source)


@dataclass
class CatalogRead:
    """A whole catalog in memory: what `read_catalog` returns."""

    products: list[Product]
    errors: list[RowError]
    seen_skus: set[str]
    rows: int
    extra_attributes: tuple[str, ...]


def read_catalog(
    path: Path, mapping: Mapping[str, str] | None = None, fmt: str | None = None
) -> CatalogRead:
    """Read and validate a whole catalog; row problems are in `.errors`, never raised."""
    stream = open_catalog(CatalogSource(Path(path), mapping or {}, fmt))
    products: list[Product] = []
    errors: list[RowError] = []
    for item in stream:
        (products if isinstance(item, Product) else errors).append(item)  # type: ignore[arg-type]
    seen = {item.sku for item in [*products, *errors] if item.sku}
    return CatalogRead(products, errors, seen, stream.rows, stream.extra_attributes)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise CatalogError(
            f"cannot read catalog {path}: {exc.strerror or exc}", "unreadable"
        ) from None


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt.lower() not in _FORMATS:
            message = f"unknown catalog format {fmt!r}; use csv, tsv or jsonl"
            raise CatalogError(message, "unknown_format")
        return _FORMATS[fmt.lower()]
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        message = (
            f"cannot tell the format of {path.name!r} from its extension "
            "(.csv, .tsv, .jsonl or .ndjson); name the format"
        )
        raise CatalogError(message, "unknown_format")
    return kind
