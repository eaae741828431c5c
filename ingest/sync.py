"""What the index already holds, compared with the catalog: the plan for a cheap rerun."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opensearchpy import helpers

from mappings.install import VECTOR_FIELD


class SyncError(RuntimeError):
    """The existing index cannot be synced as asked; the message says what to do."""


@dataclass(frozen=True)
class Stored:
    vector_key: str | None
    doc_hash: str | None


def stored_state(client: Any, index: str) -> dict[str, Stored]:
    """sku -> hashes for every document in `index`.

    The hashes come from doc values, so no `_source` (with its large vector) is ever parsed:
    this scan is most of what an unchanged rerun costs.
    """
    hits = helpers.scan(
        client,
        index=index,
        query={
            "_source": False,
            "docvalue_fields": ["vector_key", "doc_hash"],
            "query": {"match_all": {}},
        },
        size=5000,
        preserve_order=False,
    )
    return {hit["_id"]: _stored(hit.get("fields", {})) for hit in hits}


def _stored(fields: dict[str, list[str]]) -> Stored:
    return Stored((fields.get("vector_key") or [None])[0], (fields.get("doc_hash") or [None])[0])


def index_encoder(client: Any, index: str) -> str | None:
    """The encoder recorded in the index mapping's _meta."""
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]
    return (mapping.get("_meta") or {}).get("encoder")


def check_encoder(client: Any, index: str, encoder_name: str) -> None:
    built_with = index_encoder(client, index)
    if built_with is not None and built_with != encoder_name:
        raise SyncError(
            f"index {index} was built with encoder {built_with!r} but this run uses "
            f"{encoder_name!r}; vectors from different encoders cannot be mixed. "
            "Run with --rebuild to re-embed into a new index, or use the same encoder."
        )


def fetch_documents(
    client: Any, index: str, skus: Iterable[str], *, with_vector: bool = True, batch: int = 200
) -> Iterator[dict[str, Any]]:
    """Stored sources of `skus` (vector included unless asked not to), for copying on rebuild."""
    excludes = [] if with_vector else [VECTOR_FIELD]
    pending = list(skus)
    for start in range(0, len(pending), batch):
        ids = pending[start : start + batch]
        found = client.mget(index=index, body={"ids": ids}, _source_excludes=excludes or None)
        for doc in found["docs"]:
            if doc.get("found"):
                yield doc["_source"]


def to_delete(stored: Iterable[str], seen_skus: set[str]) -> list[str]:
    """SKUs in the index that no catalog record names any more (bad rows still count as seen)."""
    return sorted(set(stored) - seen_skus)


def check_delete_guard(
    deletes: int, stored: int, max_fraction: float, *, force: bool
) -> str | None:
    """A reason to refuse a mass delete, or None when it may go ahead."""
    if force or deletes == 0 or stored == 0:
        return None
    if deletes / stored > max_fraction:
        return (
            f"refusing to delete {deletes} of {stored} products ({deletes / stored:.0%} > "
            f"{max_fraction:.0%}); a truncated catalog looks like this. Check the catalog, "
            "then rerun with --force-delete (or raise --max-delete-fraction)"
        )
    return None
