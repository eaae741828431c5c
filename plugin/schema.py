"""What an alias's mapping allows a search to do: its filterable fields, encoder and vector.

Pure: it reads a `get_mapping` response that `plugin.search` fetched (once per Searcher), so
field checks work in tests without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from visearch.attributes.predict import FILL_THRESHOLD
from visearch.mappings.fields import (
    FOLDED,
    INTERNAL_FIELDS,
    PHOTO_CENTROID,
    PHOTO_VECTOR,
    PHOTOS_FIELD,
    PREDICTED,
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
    predicted_fields: tuple[str, ...] = ()
    """Attributes with photo predictions (`predicted.<name>.value`, mapping version 7, after
    `visearch attributes train`): filters and facets on them may count confident predictions
    where the catalog has no value (see `serving`)."""
    fill_threshold: float = FILL_THRESHOLD
    """The confidence at or above which a prediction fills a missing value."""
    quantized: bool = False
    """Some index behind the alias keeps its photo vectors scalar-quantized (`encoder: sq`):
    searches rescore a wider candidate list with the float vectors (plugin/knn.py)."""

    @classmethod
    def from_mapping(cls, alias: str, response: Mapping[str, Any]) -> IndexSchema:
        """Parse `indices.get_mapping(index=alias)`; every index behind the alias must agree."""
        fields: set[str] = set()
        folded: set[str] = set()
        encoders: set[str | None] = set()
        vectors: set[tuple[int | None, str | None]] = set()
        centroids: list[bool] = []
        predicted: list[set[str]] = []
        quantized = False
        for body in response.values():
            mappings = body.get("mappings", {})
            properties = mappings.get("properties", {})
            fields.update(_keyword_fields(properties))
            folded.update(
                n for n in _keyword_fields(properties) if FOLDED in properties[n].get("fields", {})
            )
            encoders.add((mappings.get("_meta") or {}).get("encoder"))
            centroids.append(properties.get(PHOTO_CENTROID, {}).get("type") == "knn_vector")
            predicted.append(_predicted_fields(properties))
            photos = properties.get(PHOTOS_FIELD, {}).get("properties", {})
            vector = photos.get(PHOTO_VECTOR, {})
            method = vector.get("method") or {}
            encoder_name = ((method.get("parameters") or {}).get("encoder") or {}).get("name")
            quantized = quantized or encoder_name == "sq"
            vectors.add(
                (vector.get("dimension"), method.get("space_type", vector.get("space_type")))
            )
        if len(encoders) > 1:
            names = sorted(str(name) for name in encoders)
            raise EncoderMismatchError(alias, names[0], names[1], " (the alias mixes indices)")
        (encoder,) = encoders or {None}
        (dim, space_type) = next(iter(vectors)) if len(vectors) == 1 else (None, None)
        filled = set.intersection(*predicted) & fields if predicted else set()
        return cls(alias, tuple(sorted(response)), tuple(sorted(fields)), encoder, dim, space_type,
                   tuple(sorted(folded & fields)), bool(centroids) and all(centroids),
                   tuple(sorted(filled)), quantized=quantized)  # fmt: skip

    def serving(self, predicted: bool) -> IndexSchema:
        """The schema one search sees: without prediction fields when the caller turned
        predicted values off (its filters, facets and hits are then the catalog's alone)."""
        if predicted or not self.predicted_fields:
            return self
        return replace(self, predicted_fields=())

    def fills(self, name: str) -> bool:
        """Whether filters and facets on attribute `name` count confident predictions."""
        return name in self.predicted_fields

    def filter_field(self, name: str) -> str:
        """The field a filter on attribute `name` matches: its folded sub-field if it has one."""
        return f"{name}.{FOLDED}" if name in self.folded_fields else name


def _predicted_fields(properties: Mapping[str, Any]) -> set[str]:
    """Attributes whose prediction has a keyword value and a confidence in this mapping."""
    found = properties.get(PREDICTED, {}).get("properties", {})
    return {
        name
        for name, spec in found.items()
        if spec.get("properties", {}).get("value", {}).get("type") == "keyword"
        and "confidence" in spec.get("properties", {})
    }


def _keyword_fields(properties: Mapping[str, Any]) -> list[str]:
    return [
        name
        for name, spec in properties.items()
        if spec.get("type") == "keyword"
        and spec.get("index", True) is not False
        and name not in _NOT_ATTRIBUTES
    ]
