"""What the index already holds: per-product hashes, stored documents, the recorded encoder.

Reading the hashes is most of what an unchanged rerun costs, so they come from doc values:
no `_source` (with its large vectors) is parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opensearchpy import helpers

from visearch.ingest.aliases import current_index
from visearch.ingest.errors import EncoderMismatchError
from visearch.mappings.fields import DOC_HASH, VECTOR_FIELD, VECTOR_KEY


@dataclass(frozen=True)
class Stored:
    vector_key: str | None
    doc_hash: str | None


def load_stored(client: Any, index: str) -> dict[str, Stored]:
    """sku -> hashes for every document in `index`."""
    hits = helpers.scan(
        client,
        index=index,
        query={
            "_source": False,
            "docvalue_fields": [VECTOR_KEY, DOC_HASH],
            "query": {"match_all": {}},
        },
        size=5000,
        preserve_order=False,
    )
    return {hit["_id"]: _stored(hit.get("fields", {})) for hit in hits}


def _stored(fields: dict[str, list[str]]) -> Stored:
    return Stored((fields.get(VECTOR_KEY) or [None])[0], (fields.get(DOC_HASH) or [None])[0])


def recorded_encoder(client: Any, index: str) -> str | None:
    """The encoder recorded in the index mapping's _meta."""
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]
    return (mapping.get("_meta") or {}).get("encoder")


def fetch_documents(
    client: Any, index: str, skus: Iterable[str], *, with_vector: bool = True, batch: int = 200
) -> Iterator[dict[str, Any]]:
    """Stored sources of `skus` (vectors included unless asked not to), for rebuild copies."""
    excludes = [] if with_vector else [VECTOR_FIELD]
    pending = list(skus)
    for start in range(0, len(pending), batch):
        ids = pending[start : start + batch]
        found = client.mget(index=index, body={"ids": ids}, _source_excludes=excludes or None)
        for doc in found["docs"]:
            if doc.get("found"):
                yield doc["_source"]


def alias_encoder(client: Any, alias: str) -> str | None:
    """The encoder the index behind `alias` records; None when there is no index yet."""
    live = current_index(client, alias)
    return recorded_encoder(client, live) if live is not None else None


def check_recorded_encoder(client: Any, index: str, encoder_name: str) -> None:
    """Vectors of two encoders cannot share an index: refuse another one than it records."""
    recorded = recorded_encoder(client, index)
    if recorded is not None and recorded != encoder_name:
        raise EncoderMismatchError(index, recorded, encoder_name)
