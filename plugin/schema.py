"""What an alias's mapping allows a search to do: its filterable fields, encoder and vector.

Pure: it reads a `get_mapping` response that `plugin.search` fetched (once per Searcher), so
field checks work in tests without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from visearch.mappings.fields import (
    FOLDED,
    INTERNAL_FIELDS,
    PHOTO_CENTROID,
    PHOTO_VECTOR,
    PHOTOS_FIELD,
)
from visearch.plugin.errors import EncoderMismatchError

# Keyword fields that identify a product rather than describe it: never filters or facets.
_NOT_ATTRIBUTES = frozenset(INTERNAL_FIELDS) | {"sku"}


@dataclass(frozen=True)
class IndexSchema:
    alias: str
    indices: tuple[str, ...]
    keyword_fields: tuple[str, ...]
    """Filterable and facetable attributes, sorted (the list an unknown-field error shows)."""
    encoder: str | None
    """`_meta.encoder` of the mapping: the model that made the stored vectors."""
    dim: int | None
    space_type: str | None
    folded_fields: tuple[str, ...] = ()
    """Keyword fields with a case- and accent-folded `.ci` sub-field (mapping version 5+):
    filters on them forgive case."""
    centroid: bool = False
    """Every index has the products' photo centroid (mapping version 6+): searches report
    each hit's overall look and can be re-ranked (plugin/rerank.py)."""

    @classmethod
    def from_mapping(cls, alias: str, response: Mapping[str, Any]) -> IndexSchema:
        """Parse `indices.get_mapping(index=alias)`; every index behind the alias must agree."""
        fields: set[str] = set()
        folded: set[str] = set()
        encoders: set[str | None] = set()
        vectors: set[tuple[int | None, str | None]] = set()
        centroids: list[bool] = []
        for body in response.values():
            mappings = body.get("mappings", {})
            properties = mappings.get("properties", {})
            fields.update(_keyword_fields(properties))
            folded.update(
                n for n in _keyword_fields(properties) if FOLDED in properties[n].get("fields", {})
            )
            encoders.add((mappings.get("_meta") or {}).get("encoder"))
            centroids.append(properties.get(PHOTO_CENTROID, {}).get("type") == "knn_vector")
            photos = properties.get(PHOTOS_FIELD, {}).get("properties", {})
            vector = photos.get(PHOTO_VECTOR, {})
            method = vector.get("method") or {}
            vectors.add(
                (vector.get("dimension"), method.get("space_type", vector.get("space_type")))
            )
        if len(encoders) > 1:
            names = sorted(str(name) for name in encoders)
            raise EncoderMismatchError(alias, names[0], names[1], " (the alias mixes indices)")
        (encoder,) = encoders or {None}
        (dim, space_type) = next(iter(vectors)) if len(vectors) == 1 else (None, None)
        return cls(alias, tuple(sorted(response)), tuple(sorted(fields)), encoder, dim, space_type,
                   tuple(sorted(folded & fields)), bool(centroids) and all(centroids))  # fmt: skip

    def filter_field(self, name: str) -> str:
        """The field a filter on attribute `name` matches: its folded sub-field if it has one."""
        return f"{name}.{FOLDED}" if name in self.folded_fields else name


def _keyword_fields(properties: Mapping[str, Any]) -> list[str]:
    return [
        name
        for name, spec in properties.items()
        if spec.get("type") == "keyword"
        and spec.get("index", True) is not False
        and name not in _NOT_ATTRIBUTES
    ]
