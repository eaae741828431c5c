"""Turn mappings/products.json into the index template for one alias, and install it.

The template matches `<alias>-v*`, so every versioned index a rebuild creates gets the same
mapping; the vector's dimension and HNSW parameters come from the encoder and flags.

`knn.derived_source.enabled: false`: k-NN 3.x leaves vectors out of the stored `_source` and
rebuilds them on read, but a search that filters `_source` to nested photos gets `"vector": 1`
back (3.5.0). Ingest (rebuild copies) and evaluation read stored vectors that way, so the
vectors stay in `_source`; searches never load it (`stored_fields: _none_`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from visearch.mappings.fields import PHOTO_CENTROID, PHOTO_VECTOR, PHOTOS_FIELD

TEMPLATE_FILE = Path(__file__).with_name("products.json")


@dataclass(frozen=True)
class IndexSpec:
    """Everything that decides an index's mapping."""

    alias: str
    encoder: str
    dim: int
    m: int = 16
    ef_construction: int = 128
    shards: int = 1
    replicas: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"vector dimension must be positive, got {self.dim}")
        if not 2 <= self.m <= 100 or not 2 <= self.ef_construction <= 4096:
            raise ValueError("HNSW m must be in 2..100 and ef_construction in 2..4096")


@cache
def _base_template() -> dict[str, Any]:
    return json.loads(TEMPLATE_FILE.read_text())


def mapping_version() -> int:
    return int(_base_template()["_meta"]["mapping_version"])


def template_name(alias: str) -> str:
    return f"{alias}-products"


def template_body(spec: IndexSpec) -> dict[str, Any]:
    """The composable index template for `spec` (a new dict each call)."""
    body = copy.deepcopy(_base_template())
    body["index_patterns"] = [f"{spec.alias}-v*"]
    settings = body["template"]["settings"]["index"]
    settings["number_of_shards"] = spec.shards
    settings["number_of_replicas"] = spec.replicas
    mappings = body["template"]["mappings"]
    properties = mappings["properties"]
    vector = properties[PHOTOS_FIELD]["properties"][PHOTO_VECTOR]
    centroid = properties[PHOTO_CENTROID]
    for field in (vector, centroid):
        field["dimension"] = spec.dim
        field["method"]["parameters"] = {"m": spec.m, "ef_construction": spec.ef_construction}
    mappings["_meta"] = {
        "mapping_version": mapping_version(),
        "encoder": spec.encoder,
        "dim": spec.dim,
    }
    body["_meta"] = {**body["_meta"], "alias": spec.alias, "encoder": spec.encoder}
    return body


def put_template(client: Any, spec: IndexSpec) -> None:
    client.indices.put_index_template(name=template_name(spec.alias), body=template_body(spec))
