"""Library errors carry data; here they become messages that say how to fix the problem with
this CLI's flags."""

from __future__ import annotations

from typing import Any

from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.errors import ConcreteIndexError, EncoderMismatchError, SplitAliasError
from visearch.ingest.plan import DeleteRefusal
from visearch.vectors.load import AdapterNeededError

_CATALOG_FIXES = {
    "missing_column": "pass --map {field}=<column>",
    "mapped_column_missing": "check --map {field}=<column>",
    "unknown_format": "pass --format csv|tsv|jsonl",
    "ambiguous_columns": "or pass --map {field}=<column>",
    "unnamed_column": "or pass --map <field>={column}",
    "bad_field_name": "check --map and --map-file",
    "bad_mapping": "check --map and --map-file",
}


def fix_it(error: Exception) -> str:
    """The error's message and, when there is one, what to do about it."""
    match error:
        case CatalogError(problem=problem, details=details) if problem in _CATALOG_FIXES:
            hint = _CATALOG_FIXES[problem].format_map(_Blank(details))
            return f"{error}; {hint}"
        case EncoderMismatchError():
            return (
                f"{error}. Rerun with --encoder {error.recorded} (the index's own), or with "
                f"--rebuild to re-embed every product with {error.given}"
            )
        case ConcreteIndexError():
            return f"{error}. Pick another --index, or reindex that data under a versioned name"
        case SplitAliasError():
            return (
                f"{error}. Rerun with --rebuild: its swap leaves one index behind the alias "
                "(its vectors are copied from the newest one)"
            )
        case AdapterNeededError():
            return f"{error}: pass --adapter with the folder `visearch tune` wrote it to"
    return str(error)


def refusal_message(refusal: DeleteRefusal) -> str:
    """Why deletions were refused, and the flags that allow them."""
    if refusal.reason == "malformed_catalog":
        return (
            f"not deleting {refusal.deletes} products: the catalog has malformed lines whose "
            "skus are unknown. Fix them, or rerun with --force-delete"
        )
    share = refusal.deletes / max(refusal.stored, 1)
    return (
        f"refusing to delete {refusal.deletes} of {refusal.stored} products ({share:.0%} > "
        f"{refusal.max_fraction:.0%}); a truncated catalog looks like this. Check the catalog, "
        "then rerun with --force-delete (or raise --max-delete-fraction)"
    )


class _Blank(dict):
    """format_map over an error's details; a missing name stays visible as <name>."""

    def __missing__(self, key: str) -> Any:
        return f"<{key}>"
