"""Versioned indices behind an alias: readers only ever see the alias.

A rebuild fills `<alias>-v<timestamp>`, then one `_aliases` call moves the alias to it and
marks the index it replaced `<alias>-previous`, which is kept until the next rebuild.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from visearch.ingest.errors import ConcreteIndexError, SplitAliasError
from visearch.mappings.install import IndexSpec, put_template


@dataclass(frozen=True)
class Target:
    """Where a run writes: the live index behind the alias (None before the first build),
    and the index the documents go to (a new one on a rebuild or a first build)."""

    alias: str
    live: str | None
    index: str

    @property
    def new_index(self) -> bool:
        """Documents go to an index nobody reads yet: stored vectors are copied over."""
        return self.index != self.live


def open_target(
    client: Any, alias: str, live: str | None, rebuild: bool, spec: Callable[[], IndexSpec]
) -> Target:
    """The live index, or (rebuild, first build) a new one from the template for `spec()`."""
    if live is not None and not rebuild:
        return Target(alias, live, live)
    drop_abandoned_builds(client, alias)
    put_template(client, spec())
    index = create_index(client, alias, bulk_load=True)
    if live is None:
        # First build: nobody reads the alias yet, and a killed run resumes from it.
        point_alias(client, alias, index)
    return Target(alias, live, index)


def previous_alias(alias: str) -> str:
    return f"{alias}-previous"


def new_index_name(alias: str) -> str:
    return f"{alias}-v{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"


def indices_of(client: Any, alias: str) -> list[str]:
    """The concrete indices `alias` points to (empty if it does not exist)."""
    if not client.indices.exists_alias(name=alias):
        if client.indices.exists(index=alias):
            raise ConcreteIndexError(alias)
        return []
    return sorted(client.indices.get_alias(name=alias))


def current_index(client: Any, alias: str, *, repair: bool = False) -> str | None:
    """The one index behind `alias` (None before the first build). An alias on several
    indices is refused, or with `repair` (a rebuild, whose swap leaves exactly one behind the
    alias) the newest of them is taken as the live one."""
    indices = indices_of(client, alias)
    if len(indices) > 1 and not repair:
        raise SplitAliasError(alias, indices)
    return max(indices) if indices else None  # versioned names sort by their timestamp


def create_index(client: Any, alias: str, *, bulk_load: bool = False) -> str:
    """Create a new versioned index (the template supplies its mapping). `bulk_load`: it is
    not refreshed until `end_bulk_load`, so the build is written in a few large segments,
    not one a second (each segment is one more HNSW graph to build, merge and walk: 2,000
    photos made 8-10 segments, 1 without refreshes)."""
    name = new_index_name(alias)
    body = {"settings": {"index": {"refresh_interval": "-1"}}} if bulk_load else None
    client.indices.create(index=name, body=body)
    return name


def end_bulk_load(client: Any, index: str, *, request_timeout: float | None = None) -> None:
    """Refresh `index` and give it back the usual refresh interval (the engine's default).
    `request_timeout`: for the refresh, past the client's own (benchmarks' million docs)."""
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": None}})
    timeout = {} if request_timeout is None else {"request_timeout": request_timeout}
    client.indices.refresh(index=index, **timeout)


def refresh_interval(client: Any, index: str) -> str | None:
    """The refresh interval `index` sets (`-1` while it is bulk-loaded); None: the default."""
    found = client.indices.get_settings(index=index, name="index.refresh_interval")
    # Only an index that sets it is in the answer.
    return found.get(index, {}).get("settings", {}).get("index", {}).get("refresh_interval")


def resume_refreshes(client: Any, index: str) -> None:
    """`end_bulk_load` for an index a killed first build left unrefreshed: what it wrote
    becomes visible (the next run then reuses it) and later writes are refreshed again."""
    if refresh_interval(client, index) == "-1":
        end_bulk_load(client, index)


def point_alias(client: Any, alias: str, index: str) -> None:
    """First build: the alias does not exist yet, so just add it."""
    client.indices.update_aliases(body={"actions": [{"add": {"index": index, "alias": alias}}]})


def swap(client: Any, alias: str, new_index: str, old_index: str | None) -> list[str]:
    """In one `_aliases` call, point `alias` at `new_index` alone: it is removed from every
    index that holds it (a doubled alias is repaired here); `old_index` is kept as previous.

    Returns the indices deleted (the index that was previous before this swap).
    """
    actions: list[dict[str, Any]] = [{"add": {"index": new_index, "alias": alias}}]
    actions += [
        {"remove": {"index": index, "alias": alias}}
        for index in indices_of(client, alias)
        if index != new_index
    ]
    stale = []
    if old_index:
        actions.append({"add": {"index": old_index, "alias": previous_alias(alias)}})
        if client.indices.exists_alias(name=previous_alias(alias)):
            stale = [
                i for i in client.indices.get_alias(name=previous_alias(alias)) if i != old_index
            ]
            actions += [{"remove": {"index": i, "alias": previous_alias(alias)}} for i in stale]
    client.indices.update_aliases(body={"actions": actions})
    for index in stale:
        client.indices.delete(index=index, ignore_unavailable=True)
    return stale


def drop_abandoned_builds(client: Any, alias: str) -> list[str]:
    """Delete `<alias>-v*` indices that neither the alias nor the previous marker holds:
    leftovers of a rebuild that was killed before its swap."""
    keep = set(indices_of(client, alias))
    if client.indices.exists_alias(name=previous_alias(alias)):
        keep |= set(client.indices.get_alias(name=previous_alias(alias)))
    found = client.indices.get(index=f"{alias}-v*", expand_wildcards="open,closed")
    versioned = re.compile(rf"{re.escape(alias)}-v\d{{20}}")
    abandoned = sorted(name for name in set(found) - keep if versioned.fullmatch(name))
    for index in abandoned:
        client.indices.delete(index=index, ignore_unavailable=True)
    return abandoned
