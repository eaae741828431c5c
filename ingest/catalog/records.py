"""One catalog record (field -> text) -> a Product, or a RowError with every reason at once.

The first record of a sku wins; later ones are reported as duplicates. Which skus were seen
lives in a temporary on-disk SQLite table, so memory stays flat however long the catalog is.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence

from visearch.ingest.records import Product, RowError
from visearch.mappings.fields import CORE_FIELDS, EXTRA_IMAGE_COLUMN

MAX_SKU_BYTES = 512  # OpenSearch rejects longer document ids
_IN_STOCK = {"true": True, "yes": True, "1": True, "in stock": True}
_OUT_OF_STOCK = {"false": False, "no": False, "0": False, "out of stock": False}
_STOCK_WORDS = "true/false/yes/no/1/0/in stock/out of stock"


class SkuRegistry:
    """The line each sku was first seen on; SQLite's page cache bounds the memory it takes."""

    def __init__(self) -> None:
        # "" opens a private temporary database that SQLite keeps on disk and deletes on close.
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA cache_size = -4096")  # KiB
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE seen (sku TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._db.execute("BEGIN")  # one transaction for the whole read: nothing is kept

    def first_seen(self, sku: str, line: int) -> int | None:
        """Record `sku` at `line`; if it was seen before, the line it was first seen on."""
        try:
            self._db.execute("INSERT INTO seen VALUES (?, ?)", (sku, line))
        except sqlite3.IntegrityError:
            return self._db.execute("SELECT line FROM seen WHERE sku = ?", (sku,)).fetchone()[0]
        return None

    def close(self) -> None:
        self._db.close()


class RecordChecker:
    """Turns records into Products and RowErrors, counting rows as it goes."""

    def __init__(self) -> None:
        self.rows = 0
        self._registry = SkuRegistry()

    def unreadable(self, line: int, reason: str, sku_guess: str | None) -> RowError:
        """A record that could not be parsed; its sku, if one can be guessed, still counts."""
        self.rows += 1
        return RowError(sku=sku_guess or None, stage="read", reason=reason, line=line)

    def unusable(self, line: int, reason: str, sku: str | None) -> RowError:
        """A record that parsed but cannot be used as a whole (its keys clash)."""
        self.rows += 1
        return RowError(sku=sku, stage="validate", reason=reason, line=line)

    def check(
        self, values: dict[str, str], line: int, problems: Sequence[str] = ()
    ) -> Product | RowError:
        self.rows += 1
        sku = values.get("sku", "")
        if sku and (first := self._registry.first_seen(sku, line)) is not None:
            reason = f"duplicate sku, first seen on line {first}"
            return RowError(sku=sku, stage="validate", reason=reason, line=line)
        result = _validate(values, line, list(problems))
        if isinstance(result, Product):
            return result
        return RowError(sku=sku or None, stage="validate", reason="; ".join(result), line=line)

    def close(self) -> None:
        self._registry.close()


def _validate(values: dict[str, str], line: int, problems: list[str]) -> Product | list[str]:
    """A Product, or every reason the record is unusable (so one fix pass suffices)."""
    sku, image = values.get("sku", ""), values.get("image", "")
    if not sku:
        problems.append("missing sku")
    elif len(sku.encode()) > MAX_SKU_BYTES:
        problems.append(f"sku is longer than {MAX_SKU_BYTES} bytes")
    if not image:
        problems.append("missing image")
    price = _number("price", values.get("price", ""), problems)
    popularity = _number("popularity", values.get("popularity", ""), problems)
    in_stock = _stock(values.get("in_stock", ""), problems)
    if problems:
        return problems
    attributes = {
        name: value
        for name, value in values.items()
        if name not in CORE_FIELDS and not EXTRA_IMAGE_COLUMN.fullmatch(name) and value
    }
    return Product(
        sku=sku,
        image=image,
        title=values.get("title", ""),
        description=values.get("description", ""),
        price=price,
        in_stock=in_stock,
        popularity=popularity,
        attributes=attributes,
        line=line,
        extra_images=_extra_images(values, image),
    )


def _extra_images(values: dict[str, str], image: str) -> tuple[str, ...]:
    """More photos: the `images` field (| separated), then image_2, image_3, ... in order."""
    numbered = sorted(
        (int(match.group(1)), value)
        for name, value in values.items()
        if (match := EXTRA_IMAGE_COLUMN.fullmatch(name)) and value
    )
    found = [ref.strip() for ref in values.get("images", "").split("|")]
    found += [value for _, value in numbered]
    unique = dict.fromkeys(ref for ref in found if ref and ref != image)
    return tuple(unique)


def _number(name: str, text: str, problems: list[str]) -> float | None:
    """A finite, non-negative float; blank means unknown."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{name} {text!r} is not a number")
        return None
    if not math.isfinite(value):
        problems.append(f"{name} {text!r} is not a finite number")
    elif value < 0:
        problems.append(f"{name} {text!r} is negative")
    return value


def _stock(text: str, problems: list[str]) -> bool | None:
    if not text:
        return None
    word = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
    if word in _IN_STOCK:
        return True
    if word in _OUT_OF_STOCK:
        return False
    problems.append(f"in_stock {text!r} is not one of {_STOCK_WORDS}")
    return None
