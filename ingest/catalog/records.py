"""One catalog record (field -> text) -> a Product, or a RowError with every reason at once.

The first record of a sku wins; later ones are reported as duplicates. Which skus were seen
is kept compactly (`SkuRegistry`: about 12 bytes a sku), so memory stays nearly flat however
long the catalog is.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from visearch.ingest.records import Product, RowError
from visearch.mappings.fields import CORE_FIELDS, EXTRA_IMAGE_COLUMN

MAX_SKU_BYTES = 512  # OpenSearch rejects longer document ids
_IN_STOCK = {"true": True, "yes": True, "1": True, "in stock": True}
_OUT_OF_STOCK = {"false": False, "no": False, "0": False, "out of stock": False}
_STOCK_WORDS = "true/false/yes/no/1/0/in stock/out of stock"


class SkuRegistry:
    """The line each sku was first seen on, in about 12 bytes a sku: the latest skus sit in a
    dict; every `flush` of them are merged, as 64-bit hashes with their lines, into sorted
    arrays. (Two skus with the same 64-bit hash would be taken for a duplicate: about one
    chance in 10^7 for a million skus.)"""

    def __init__(self, flush: int = 65_536) -> None:
        self._flush = flush
        self._recent: dict[str, int] = {}
        self._hashes = np.empty(0, dtype=np.uint64)
        self._lines = np.empty(0, dtype=np.uint32)

    def first_seen(self, sku: str, line: int) -> int | None:
        """Record `sku` at `line`; if it was seen before, the line it was first seen on."""
        if (first := self._recent.get(sku)) is not None:
            return first
        if self._hashes.size:
            wanted = np.uint64(_hash(sku))
            at = int(np.searchsorted(self._hashes, wanted))
            if at < self._hashes.size and self._hashes[at] == wanted:
                return int(self._lines[at])
        self._recent[sku] = line
        if len(self._recent) >= self._flush:
            self._merge()
        return None

    def _merge(self) -> None:
        count = len(self._recent)
        hashes = np.fromiter(map(_hash, self._recent), dtype=np.uint64, count=count)
        lines = np.fromiter(self._recent.values(), dtype=np.uint32, count=count)
        hashes = np.concatenate([self._hashes, hashes])
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._lines = np.concatenate([self._lines, lines])[order]
        self._recent.clear()


def _hash(sku: str) -> int:
    return int.from_bytes(hashlib.blake2b(sku.encode(), digest_size=8).digest(), "little")


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
