"""Filter spec -> term/terms/range clauses, split into hard filters and facet selections.

A filter on a field that is also requested as a facet is a *selection* (e-commerce
multi-select: it narrows the hits via `post_filter` but not its own facet's counts); every
other filter, the price range and in_stock are *hard* and define the candidate pool. Values
always travel as data in term/terms/range clauses, never inside a query string, so quotes,
wildcards and `OR` in a value are matched literally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from visearch.mappings.fields import PREDICTED
from visearch.plugin.errors import UnknownFieldError
from visearch.plugin.params import SearchParams
from visearch.plugin.schema import IndexSchema

Clause = dict[str, Any]


def check_fields(params: SearchParams, schema: IndexSchema) -> None:
    """Every filter and facet must be a keyword attribute of the index."""
    valid = set(schema.keyword_fields)
    for name in params.filters:
        if name not in valid:
            raise UnknownFieldError(name, schema.keyword_fields, "filter")
    for name in params.facets:
        if name not in valid:
            raise UnknownFieldError(name, schema.keyword_fields, "facet")


def values_clause(name: str, values: Sequence[str]) -> Clause:
    """`term` for one value, `terms` (OR) for several."""
    if len(values) == 1:
        return {"term": {name: values[0]}}
    return {"terms": {name: list(values)}}


def attribute_clause(name: str, values: Sequence[str], schema: IndexSchema | None) -> Clause:
    """A filter on attribute `name`: on its folded sub-field when the index has one, so
    "blue", "Blue" and "BLUE" all match (OpenSearch folds the values the same way). Where the
    schema fills `name` from predictions, a product without a catalog value also matches when
    its confident prediction is one of `values`."""
    catalog = values_clause(schema.filter_field(name) if schema else name, values)
    if schema is None or not schema.fills(name):
        return catalog
    filled = filled_clause(name, schema.fill_threshold)
    predicted = [
        {"term": {f"{PREDICTED}.{name}.value": {"value": value, "case_insensitive": True}}}
        for value in values
    ]
    which = predicted[0] if len(predicted) == 1 else {"bool": {"should": predicted}}
    filled["bool"]["filter"].append(which)
    return {"bool": {"should": [catalog, filled], "minimum_should_match": 1}}


def filled_clause(name: str, threshold: float) -> Clause:
    """Products whose `name` comes from a prediction: no catalog value, and a prediction at
    least `threshold` confident. The confidence range keeps it to product documents (nested
    photos have none), so it is safe inside a kNN filter."""
    return {
        "bool": {
            "filter": [{"range": {f"{PREDICTED}.{name}.confidence": {"gte": threshold}}}],
            "must_not": [{"exists": {"field": name}}],
        }
    }


def hard_clauses(params: SearchParams, schema: IndexSchema | None = None) -> list[Clause]:
    """Filters that define the candidate pool (AND), in the caller's order, then price, stock
    (and, for similar_to, everything but that product)."""
    clauses = [
        attribute_clause(name, values, schema)
        for name, values in params.filters.items()
        if name not in params.facets
    ]
    if params.price_min is not None or params.price_max is not None:
        bounds = {"gte": params.price_min, "lte": params.price_max}
        clauses.append({"range": {"price": {op: v for op, v in bounds.items() if v is not None}}})
    if params.in_stock is not None:
        clauses.append({"term": {"in_stock": params.in_stock}})
    if params.similar_to is not None:  # "more like this" never shows the product itself
        clauses.append(everything_but(params.similar_to))
    return clauses


def everything_but(sku: str) -> Clause:
    """Every product except `sku`. The positive range keeps the clause to product documents:
    inside a nested kNN a bare `must_not` would also match every photo and exclude nothing."""
    products = {"range": {"photo_count": {"gte": 1}}}
    return {"bool": {"filter": [products], "must_not": [{"term": {"sku": sku}}]}}


def selections(params: SearchParams, schema: IndexSchema | None = None) -> dict[str, Clause]:
    """Facet selections, field -> clause, in the order of `params.facets`."""
    return {
        name: attribute_clause(name, params.filters[name], schema)
        for name in params.facets
        if name in params.filters
    }


def all_of(clauses: Sequence[Clause]) -> Clause:
    """One clause requiring all of `clauses` (match_all when there are none)."""
    if not clauses:
        return {"match_all": {}}
    return {"bool": {"filter": list(clauses)}}
