"""The sync plan as data: what each product needs, and which stored products to delete.

Pure decisions over what the index holds (`Stored`) and what the catalog says now; the
runner carries them out (or, in a dry run, only counts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from visearch.ingest.documents import doc_hash, document_fields
from visearch.ingest.prepare import Prepared
from visearch.ingest.stored import Stored


class Action(Enum):
    EMBED = "embed"  # new photos (or a new encoder): decode and run the model
    UPDATE = "update"  # same photos, other fields changed: a partial update keeps the vectors
    COPY = "copy"  # rebuild: same photos, so the stored vectors move to the new index
    UNCHANGED = "unchanged"
    KEEP = "keep"  # the row is broken today: the stored document stays as it is


@dataclass(frozen=True)
class Decision:
    action: Action
    prepared: Prepared


def needs_embedding(stored: Stored | None, key: str) -> bool:
    """Only new photos, or photos the stored vectors were not made from, go through the model."""
    return stored is None or stored.vector_key != key


def decide(prepared: Prepared, stored: Stored | None, *, rebuild: bool) -> Decision:
    """What `prepared` needs, given what the index holds for its sku."""
    if prepared.error is not None or prepared.key is None:
        return Decision(Action.KEEP, prepared)
    if needs_embedding(stored, prepared.key):
        return Decision(Action.EMBED, prepared)
    if rebuild:
        return Decision(Action.COPY, prepared)
    assert stored is not None
    if stored.doc_hash != doc_hash(document_fields(prepared.product)):
        return Decision(Action.UPDATE, prepared)
    return Decision(Action.UNCHANGED, prepared)


@dataclass(frozen=True)
class DeleteRefusal:
    """Why the guard refused to delete: a catalog with malformed lines (whose skus may be
    unknown), or more than `max_fraction` of the stored products."""

    reason: Literal["malformed_catalog", "too_many"]
    deletes: int
    stored: int
    max_fraction: float

    def as_dict(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "deletes": self.deletes,
            "stored": self.stored,
            "max_fraction": self.max_fraction,
        }


@dataclass(frozen=True)
class DeletePlan:
    skus: tuple[str, ...]  # stored products no catalog record names any more
    refused: DeleteRefusal | None


def plan_deletes(
    stored: set[str] | dict[str, Stored],
    seen: set[str],
    *,
    malformed: bool,
    max_fraction: float,
    force: bool,
) -> DeletePlan:
    """Stored skus the catalog no longer names (broken rows still count as named), and the
    guard's verdict on deleting them."""
    vanished = tuple(sorted(set(stored) - seen))
    deletes, total = len(vanished), len(stored)
    refusal = None
    if vanished and not force:
        if malformed:
            refusal = DeleteRefusal("malformed_catalog", deletes, total, max_fraction)
        elif total and deletes / total > max_fraction:
            refusal = DeleteRefusal("too_many", deletes, total, max_fraction)
    return DeletePlan(vanished, refusal)
