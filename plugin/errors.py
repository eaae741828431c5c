"""Errors the search API raises; each carries its data, and its message says how to fix it.

Everything a caller did wrong is a `ValueError` subclass, so the CLI and the HTTP service can
turn one `except ValueError` into a 400; `SearchBackendError` is the cluster's fault (a 5xx).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SearchError(Exception):
    """Base class of every error raised by `plugin`."""


class InvalidParamsError(SearchError, ValueError):
    """A parameter, or a combination of parameters, that no search can satisfy."""


class LimitExceededError(InvalidParamsError):
    """A parameter is larger than a search may be (it would fail in the cluster, or cost
    more than any shopper needs): `name`, the `limit` and what was `given`."""

    def __init__(self, name: str, limit: int, given: int, what: str) -> None:
        self.name, self.limit, self.given = name, limit, given
        super().__init__(f"{name} has {given} {what}; at most {limit} are allowed")


class UnknownFieldError(InvalidParamsError):
    """A filter or facet names a field the index has no keyword attribute for."""

    def __init__(self, field: str, valid: Sequence[str], role: str = "filter") -> None:
        self.field = field
        self.valid = tuple(valid)
        self.role = role
        hint = ""
        if field in ("price", "in_stock"):
            hint = " (use price_min/price_max or in_stock for that)"
        super().__init__(
            f"unknown {role} field {field!r}{hint}; valid fields: {', '.join(self.valid)}"
        )


class UnsupportedQueryError(InvalidParamsError):
    """The query needs something the encoder cannot do, e.g. text with an image-only model."""


class ProductNotFoundError(InvalidParamsError):
    """No product with this sku (a product lookup, or the sku of a `similar_to` query)."""

    def __init__(self, sku: str, alias: str) -> None:
        self.sku = sku
        self.alias = alias
        super().__init__(f"no product with sku {sku!r} in {alias!r}")


class EncoderMismatchError(SearchError):
    """The index was embedded by another encoder: its vectors and ours are not comparable."""

    def __init__(self, alias: str, index_encoder: str, encoder: str, detail: str = "") -> None:
        self.alias = alias
        self.index_encoder = index_encoder
        self.encoder = encoder
        super().__init__(
            f"index {alias!r} was built with encoder {index_encoder!r} but the query encoder is "
            f"{encoder!r}{detail}; vectors from different encoders cannot be compared. "
            f"Search with {index_encoder!r}, or rebuild the index with {encoder!r}."
        )


class QueryImageError(InvalidParamsError):
    """The query image could not be read or decoded; `ref` and `reason` say which and why."""

    def __init__(self, ref: str, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(f"query image {ref}: {reason}")


class IndexNotFoundError(SearchError):
    """The alias (or index) to search does not exist."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        super().__init__(f"no index or alias named {alias!r}; run an ingest into it first")


class SearchTimeoutError(SearchError):
    """The caller's deadline passed; the search stopped between two stages."""


class SearchBackendError(SearchError):
    """OpenSearch answered a search with an error; `errors` holds each failed search's error."""

    def __init__(self, alias: str, errors: Sequence[dict[str, Any]]) -> None:
        self.alias = alias
        self.errors = tuple(errors)
        reasons = "; ".join(_reason(error) for error in self.errors)
        super().__init__(f"search on {alias!r} failed: {reasons}")


def _reason(error: dict[str, Any]) -> str:
    root = (error.get("root_cause") or [error])[0]
    return f"{root.get('type', 'error')}: {root.get('reason', error)}"
