"""Library errors carry data; here they become messages that say how to fix the problem with
this CLI's flags."""

from __future__ import annotations

from typing import Any

from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.errors import ConcreteIndexError, EncoderMismatchError, SplitAliasError
from visearch.ingest.plan import DeleteRefusal
from visearch.plugin.errors import EncoderMismatchError as SearchEncoderMismatch
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


def fix_it(error: Exception, settings: Any = None) -> str:
    """The error's message and, when there is one, what to do about it (`settings`: the
    command's cluster and alias, for errors about them)."""
    if settings is not None and (cluster := _cluster_problem(error, settings)):
        return cluster
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
        case SearchEncoderMismatch() if "+adapter-" in error.index_encoder:
            base = error.index_encoder.partition("+adapter-")[0]
            adapter = "adapter-" + error.index_encoder.partition("+adapter-")[2]
            return (
                f"index {error.alias!r} was built with {adapter} on {base}, and this query "
                f"uses {error.encoder!r}: pass --adapter with that adapter's folder (and "
                f"--encoder {base}, or no --encoder), or rebuild the index without the adapter"
            )
        case SearchEncoderMismatch():
            return (
                f"index {error.alias!r} was built with {error.index_encoder!r}; this query uses "
                f"{error.encoder!r}: pass --encoder {error.index_encoder} (or no --encoder), or "
                f"rebuild the index with --rebuild --encoder {error.encoder}"
            )
    return str(error)


def _cluster_problem(error: Exception, settings: Any) -> str | None:
    """OpenSearch unreachable, or no such alias: the URL, and what to do."""
    from opensearchpy.exceptions import ConnectionError as Unreachable

    from visearch.plugin.errors import IndexNotFoundError, SearchBackendError

    cause = error.__cause__ if isinstance(error, SearchBackendError) else error
    if cause is not None and (denied := _access_problem(cause, settings)):
        return denied
    if isinstance(cause, Unreachable):
        return (
            f"cannot reach OpenSearch at {_shown(settings.opensearch_url)}. Is it running? "
            "Start the local node with `visearch opensearch up`, or point OPENSEARCH_URL "
            "(--opensearch-url) at your cluster"
        )
    if isinstance(error, IndexNotFoundError):
        return _missing_alias(error.alias, settings)
    return None


def _access_problem(error: BaseException, settings: Any) -> str | None:
    """A CA that does not sign the cluster's certificate, refused credentials, a user without
    the right: named as such (a TLS failure is not "cannot reach")."""
    from visearch.engine.connection import access_problem

    ca_certs = getattr(settings, "ca_certs", None)
    user = getattr(settings, "user", None)
    return access_problem(error, settings.opensearch_url, str(ca_certs) if ca_certs else None, user)


def _missing_alias(alias: str, settings: Any) -> str:
    import difflib

    try:
        found = settings.client(timeout_s=5).indices.get_alias()
    except Exception:  # noqa: BLE001 - the hint is a courtesy; the error stands without it
        found = {}
    aliases = {name for info in found.values() for name in info.get("aliases", {})}
    names = sorted(n for n in aliases if not n.startswith(".") and not n.endswith("-previous"))
    message = f"no alias {alias!r} at {_shown(settings.opensearch_url)}"
    close = difflib.get_close_matches(alias, names, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if names:
        message += f" Aliases there: {', '.join(names)}."
    return message + f" To build it: visearch ingest CATALOG --index {alias}"


def _shown(url: str) -> str:
    """The URL without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@")


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
