"""What training and re-predicting read from an alias: every product's photo feature rows
(stored vectors + stored colour features) and its attribute values, in one scan."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opensearchpy import helpers

from visearch.attributes.errors import UnknownAttributeError
from visearch.attributes.features import product_rows
from visearch.mappings.fields import (
    INTERNAL_FIELDS,
    PHOTO_COLOUR,
    PHOTO_VECTOR,
    PHOTOS_FIELD,
    PREDICTED,
    SKU,
)

_NOT_ATTRIBUTES = frozenset(INTERNAL_FIELDS) | {SKU}


@dataclass(frozen=True)
class Products:
    skus: list[str]
    rows: np.ndarray  # (photos, features): one row per stored photo
    owner: np.ndarray  # photo row -> index into skus
    values: dict[str, list[str | None]]  # attribute -> each product's value (None: missing)
    predicted: list[dict[str, Any]]  # each product's stored predictions

    def labelled(self, attribute: str) -> np.ndarray:
        """Indices of the products with a value of `attribute`."""
        return np.flatnonzero([value is not None for value in self.values[attribute]])


def keyword_attributes(client: Any, alias: str) -> list[str]:
    """The alias's keyword attributes (what can be learned, filtered and corrected), sorted."""
    mapping = client.indices.get_mapping(index=alias)
    names: set[str] = set()
    for body in mapping.values():
        for name, spec in body.get("mappings", {}).get("properties", {}).items():
            if spec.get("type") == "keyword" and name not in _NOT_ATTRIBUTES:
                names.add(name)
    return sorted(names)


def check_attributes(client: Any, alias: str, attributes: Iterable[str]) -> list[str]:
    """`attributes` if every one is a keyword attribute of the alias; UnknownAttributeError."""
    known = keyword_attributes(client, alias)
    chosen = list(dict.fromkeys(attributes))
    for name in chosen:
        if not isinstance(name, str) or name not in known:
            raise UnknownAttributeError(str(name), known)
    return chosen


def load_products(client: Any, alias: str, attributes: Sequence[str]) -> Products:
    """Every product of `alias` with at least one stored photo vector."""
    skus: list[str] = []
    blocks: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    values: dict[str, list[str | None]] = {name: [] for name in attributes}
    predicted: list[dict[str, Any]] = []
    fields = [f"{PHOTOS_FIELD}.{PHOTO_VECTOR}", f"{PHOTOS_FIELD}.{PHOTO_COLOUR}", PREDICTED]
    query = {"_source": [*fields, *attributes]}
    for hit in helpers.scan(client, index=alias, query=query, size=500):
        source = hit["_source"]
        photos = [p for p in source.get(PHOTOS_FIELD) or [] if p.get(PHOTO_VECTOR)]
        if not photos:
            continue
        blocks.append(product_rows(photos))
        owner.append(np.full(len(photos), len(skus)))
        skus.append(hit["_id"])
        for name in attributes:
            values[name].append(_value(source.get(name)))
        predicted.append(source.get(PREDICTED) or {})
    rows = np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
    joined = np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64)
    return Products(skus, rows, joined, values, predicted)


def _value(raw: Any) -> str | None:
    if isinstance(raw, list):  # a keyword field may hold several values: the first one counts
        raw = raw[0] if raw else None
    if raw is None or str(raw).strip() == "":
        return None
    return str(raw)
