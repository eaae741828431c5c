"""Merchandisers' corrections: kept in `<alias>-attribute-overrides` (sku, attribute, the
catalog value it replaced, the new value, who, when), applied to the live document at once,
and re-applied by every ingest and rebuild (attributes/stage.py).

Which wins when the catalog changes later: the catalog. A correction records the catalog
value it replaced; while the catalog still says that, the correction holds; once the catalog
says something else, the feed was fixed upstream and the catalog value is used (the
correction is listed as `superseded`). A revert marks the correction reverted (the history
stays) and puts the catalog value back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from opensearchpy import NotFoundError, helpers

from visearch.attributes.dataset import check_attributes
from visearch.attributes.errors import BadValueError, UnknownProductError
from visearch.mappings.fields import OVERRIDES

MAX_VALUE_CHARS = 256  # keyword attributes ignore longer values


@dataclass(frozen=True)
class Override:
    sku: str
    attribute: str
    value: str
    catalog: str | None  # the catalog value it replaced (None: the catalog had none)
    by: str
    at: str
    status: str = "active"  # active | reverted

    def holds_over(self, catalog: str | None) -> bool:
        """Whether this correction still applies over the catalog's current value."""
        return self.status == "active" and (catalog or None) == self.catalog

    def as_field(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "value": self.value, "catalog": self.catalog,
                "by": self.by, "at": self.at}  # fmt: skip


_MAPPING = {
    "dynamic": False,
    "properties": {
        name: {"type": "keyword"} for name in ("sku", "attribute", "value", "catalog", "by")
    }
    | {"at": {"type": "date"}, "status": {"type": "keyword"}},
}


def overrides_index(alias: str) -> str:
    return f"{alias}-attribute-overrides"


def _id(sku: str, attribute: str) -> str:
    return f"{attribute}:{sku}"  # attribute names hold no ':'


def check_value(attribute: str, value: object) -> str:
    if not isinstance(value, str):
        raise BadValueError(attribute, value, "a value must be a string")
    if not value.strip():
        raise BadValueError(attribute, value, "a value must not be empty")
    if len(value) > MAX_VALUE_CHARS:
        raise BadValueError(attribute, value, f"longer than {MAX_VALUE_CHARS} characters")
    return value.strip()


def set_override(
    client: Any, alias: str, sku: str, attribute: str, value: object, by: str
) -> Override:
    """Correct `attribute` of product `sku`; in search at once. Checked before any write."""
    (attribute,) = check_attributes(client, alias, [attribute])
    value = check_value(attribute, value)
    source = _product(client, alias, sku, [attribute, OVERRIDES])
    held = [o for o in source.get(OVERRIDES) or [] if o.get("attribute") != attribute]
    previous = next(
        (o for o in source.get(OVERRIDES) or [] if o.get("attribute") == attribute), None
    )
    catalog = previous["catalog"] if previous else _single(source.get(attribute))
    override = Override(sku, attribute, value, catalog, by or "unknown", _now())
    _ensure_index(client, alias)
    client.index(index=overrides_index(alias), id=_id(sku, attribute), body=asdict(override),
                 refresh=True)  # fmt: skip
    doc = {attribute: value, OVERRIDES: [*held, override.as_field()]}
    # refresh=True, not wait_for: an index a build is still loading (or a killed first build
    # left) is not refreshed on a timer, and wait_for would wait for the build's end.
    client.update(index=alias, id=sku, body={"doc": doc}, refresh=True)
    return override


def revert_override(client: Any, alias: str, sku: str, attribute: str, by: str) -> Override:
    """Undo the active correction of `attribute` of `sku`: the catalog value is back."""
    (attribute,) = check_attributes(client, alias, [attribute])
    active = {o.attribute: o for o in list_overrides(client, alias, sku=sku)}
    if attribute not in active:
        raise BadValueError(attribute, sku, "this product has no correction of it to revert")
    override = active[attribute]
    source = _product(client, alias, sku, [OVERRIDES])
    held = [o for o in source.get(OVERRIDES) or [] if o.get("attribute") != attribute]
    client.update(index=alias, id=sku, refresh=True,  # as in set_override
                  body={"doc": {attribute: override.catalog, OVERRIDES: held}})  # fmt: skip
    body = {"doc": {"status": "reverted", "reverted_by": by or "unknown", "reverted_at": _now()}}
    client.update(index=overrides_index(alias), id=_id(sku, attribute), body=body, refresh=True)
    return override


def list_overrides(
    client: Any, alias: str, *, sku: str | None = None, include_reverted: bool = False
) -> list[Override]:
    """The alias's corrections (active ones unless asked), newest first."""
    filters: list[dict[str, Any]] = [] if include_reverted else [{"term": {"status": "active"}}]
    if sku is not None:
        filters.append({"term": {"sku": sku}})
    query = {"query": {"bool": {"filter": filters}}}
    try:
        hits = list(helpers.scan(client, index=overrides_index(alias), query=query, size=1000))
    except NotFoundError:
        return []
    fields = set(Override.__dataclass_fields__)
    found = [Override(**{k: v for k, v in h["_source"].items() if k in fields}) for h in hits]
    return sorted(found, key=lambda o: (o.at, o.sku, o.attribute), reverse=True)


def active_overrides(client: Any, alias: str) -> dict[str, list[Override]]:
    """sku -> its active corrections: what an ingest re-applies."""
    by_sku: dict[str, list[Override]] = {}
    for override in list_overrides(client, alias):
        by_sku.setdefault(override.sku, []).append(override)
    return by_sku


def _product(client: Any, alias: str, sku: object, fields: list[str]) -> dict[str, Any]:
    if not isinstance(sku, str) or not sku:
        raise UnknownProductError(alias, str(sku))
    try:
        return client.get(index=alias, id=sku, _source_includes=fields)["_source"]
    except NotFoundError:
        raise UnknownProductError(alias, sku) from None


def _single(raw: Any) -> str | None:
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    return str(raw) if raw not in (None, "") else None


def _ensure_index(client: Any, alias: str) -> None:
    index = overrides_index(alias)
    if not client.indices.exists(index=index):
        settings = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
        client.indices.create(index=index, body={"settings": settings, "mappings": _MAPPING},
                              ignore=400)  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
