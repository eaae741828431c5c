"""Multi-select facets: selections in `post_filter`, each facet counted without its own.

Aggregations run over the query's matched set, the candidate pool P (they ignore
`post_filter`). Each facet's `terms` sits in a `filter` agg holding every *other* selection,
so the count shown for colour=X is the number of results the user would page through after
toggling colour=X with every other selection still active. The price `stats` honour all
selections, like the hits. Where the schema fills an attribute from predictions, a second
`terms` counts the confident predictions of the products without a catalog value, and the
response adds them to the catalog's buckets: the count a value shows is the number of hits
its selection gives.
"""

from __future__ import annotations

from visearch.mappings.fields import PREDICTED
from visearch.plugin.filters import Clause, all_of, attribute_clause, filled_clause, selections
from visearch.plugin.params import SearchParams
from visearch.plugin.schema import IndexSchema

FACET_PREFIX = "facet:"
PRICE_AGG = "price"
PREDICTED_AGG = "predicted"
BUCKET_ORDER = [{"_count": "desc"}, {"_key": "asc"}]


def post_filter(params: SearchParams, schema: IndexSchema | None = None) -> Clause | None:
    """The selections, applied to the hits only (None when nothing is selected)."""
    chosen = selections(params, schema)
    return all_of(list(chosen.values())) if chosen else None


def facet_aggs(params: SearchParams, schema: IndexSchema | None = None) -> dict[str, Clause]:
    """One filter agg per facet (other selections) plus the price stats (all selections).
    Buckets are the stored spellings; a selected value is counted on its own (`selected`,
    one filter per value as the caller spelled it), even outside the top values."""
    chosen = selections(params, schema)
    aggs: dict[str, Clause] = {}
    for name in params.facets:
        others = [clause for field, clause in chosen.items() if field != name]
        inner: dict[str, Clause] = {
            "values": {"terms": {"field": name, "size": params.facet_size, "order": BUCKET_ORDER}}
        }
        if schema is not None and schema.fills(name):
            values = {"field": f"{PREDICTED}.{name}.value", "size": params.facet_size,
                      "order": BUCKET_ORDER}  # fmt: skip
            inner[PREDICTED_AGG] = {
                "filter": filled_clause(name, schema.fill_threshold),
                "aggs": {"values": {"terms": values}},
            }
        if name in chosen:
            picked = {
                value: attribute_clause(name, [value], schema) for value in params.filters[name]
            }
            inner["selected"] = {"filters": {"filters": picked}}
        aggs[FACET_PREFIX + name] = {"filter": all_of(others), "aggs": inner}
    aggs[PRICE_AGG] = {
        "filter": all_of(list(chosen.values())),
        "aggs": {"stats": {"stats": {"field": "price"}}},
    }
    return aggs
