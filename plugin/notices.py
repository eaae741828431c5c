"""What a shopper should be told about their filters: values no product has (with the
closest ones that exist), and, when nothing matched, which filter or missing field emptied
the result. Pure: `plugin.search` sends the counts this module asks for.

Filter values are compared folded (case and accents), like the index compares them; a value
is only called unknown when the whole list of the attribute's values is known (attributes
with more values than one aggregation returns are never second-guessed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from visearch.plugin.filters import Clause, attribute_clause
from visearch.plugin.keyword import Vocabulary, keyword_clause
from visearch.plugin.params import SearchParams
from visearch.plugin.schema import IndexSchema
from visearch.plugin.values import closest, fold


@dataclass(frozen=True)
class Notice:
    """One thing the shopper should know; `did_you_mean` holds stored spellings."""

    code: str
    """unknown_value | no_match | missing_field | no_combination"""
    message: str
    field: str | None = None
    value: str | None = None
    did_you_mean: tuple[str, ...] = ()


def unknown_values(params: SearchParams, vocabulary: Vocabulary) -> list[Notice]:
    """A notice per filter value that no product has, with the closest existing values."""
    notices = []
    for name, values in params.filters.items():
        known = vocabulary.values.get(name)
        if known is None or name not in vocabulary.complete:
            continue
        held = {fold(value) for value in known}
        for value in values:
            if fold(value) in held:
                continue
            suggestions = tuple(closest(value, known))
            hint = f"; did you mean {_or(suggestions)}?" if suggestions else ""
            notices.append(Notice("unknown_value", f"no product has {name} {value!r}{hint}",
                                  name, value, suggestions))  # fmt: skip
    return notices


@dataclass(frozen=True)
class Constraint:
    """One part of a search that can empty it, and the count query that tests it alone."""

    field: str
    label: str
    query: Clause
    values: tuple[str, ...] = ()


HAS_PRICE = Constraint("price", "a price", {"exists": {"field": "price"}})


def constraints(
    params: SearchParams, schema: IndexSchema, vocabulary: Vocabulary
) -> list[Constraint]:
    """Every filter, the price range, stock and the words, each as a query of its own."""
    found = [
        Constraint(name, f"{name} {_or(values)}", attribute_clause(name, values, schema), values)
        for name, values in params.filters.items()
    ]
    if params.price_min is not None or params.price_max is not None:
        bounds = {"gte": params.price_min, "lte": params.price_max}
        limits = {op: v for op, v in bounds.items() if v is not None}
        found.append(HAS_PRICE)
        found.append(Constraint("price", _price_label(params.price_min, params.price_max),
                                {"range": {"price": limits}}))  # fmt: skip
    if params.in_stock is not None:
        found.append(Constraint("in_stock", "in stock" if params.in_stock else "out of stock",
                                {"term": {"in_stock": params.in_stock}}))  # fmt: skip
    if params.keywords:
        found.append(Constraint("keywords", f"the words {params.keywords!r}",
                                keyword_clause(params.keywords, vocabulary)))  # fmt: skip
    return found


def count_bodies(found: Sequence[Constraint]) -> list[dict[str, Any]]:
    """`_msearch` lines: a count of the products each constraint matches on its own."""
    lines: list[dict[str, Any]] = []
    for constraint in found:
        lines += [{}, {"size": 0, "track_total_hits": True, "query": constraint.query}]
    return lines


def why_empty(
    found: Sequence[Constraint], counts: Sequence[int], already: Sequence[Notice]
) -> list[Notice]:
    """Notices for an empty result from each constraint's count on its own; `already` holds
    the unknown-value notices (not repeated)."""
    unknown = {(n.field, n.value) for n in already}
    no_prices = any(c is HAS_PRICE and not n for c, n in zip(found, counts, strict=True))
    notices: list[Notice] = []
    for constraint, count in zip(found, counts, strict=True):
        if count:
            continue
        if constraint.values and all((constraint.field, v) in unknown for v in constraint.values):
            continue  # every value is unknown: said already
        if constraint is HAS_PRICE:
            notices.append(Notice("missing_field", "no product in this catalog has a price, so "
                                  "a price range matches nothing", "price"))  # fmt: skip
        elif not (constraint.field == "price" and no_prices):
            notices.append(Notice("no_match", f"no product has {constraint.label}",
                                  constraint.field))  # fmt: skip
    if not notices and not already and found:
        labels = [c.label for c in found if c is not HAS_PRICE]
        notices.append(Notice("no_combination", "each of " + "; ".join(labels) + " matches "
                              "products, but no product matches all of them"))  # fmt: skip
    return notices


def _or(values: Sequence[str]) -> str:
    quoted = [repr(value) for value in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _price_label(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"a price from {low:g} to {high:g}"
    return f"a price of at least {low:g}" if low is not None else f"a price of at most {high:g}"


def counts_of(responses: Sequence[Mapping[str, Any]]) -> list[int]:
    """Each count response's total."""
    counts = []
    for response in responses:
        total = response.get("hits", {}).get("total", 0)
        counts.append(int(total["value"] if isinstance(total, Mapping) else total))
    return counts
