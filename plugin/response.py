"""OpenSearch hits and buckets -> the result dataclasses callers see.

Hits carry no stored fields (not even `_id`); a product is named by its `sku` doc value, and
hits from the two searches of a hybrid request are matched on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from visearch.mappings.fields import PREDICTED
from visearch.plugin.facets import FACET_PREFIX, PREDICTED_AGG, PRICE_AGG
from visearch.plugin.knn import OVERALL_LOOK, overall_look
from visearch.plugin.notices import Notice
from visearch.plugin.params import Mode, SearchParams
from visearch.plugin.values import fold


@dataclass(frozen=True)
class Candidate:
    """One hit of one search, before ranking."""

    sku: str
    score: float
    source: Mapping[str, Any]
    overall_look: float | None = None
    """Cosine to the product's photo centroid (look searches on mapping version 6+)."""


@dataclass(frozen=True)
class Explanation:
    """Why a hit is where it is; None where that signal played no part."""

    vector_score: float | None = None
    """Lucene's `_score`, (1 + cos) / 2 for cosinesimil."""
    similarity: float | None = None
    """Cosine similarity to the query vector, 2 * vector_score - 1: its best photo."""
    centroid_similarity: float | None = None
    """Cosine similarity to the product's overall look (the mean of its photo vectors)."""
    vector_rank: int | None = None
    keyword_score: float | None = None
    """BM25 score (keyword mode)."""
    keyword_rank: int | None = None
    """Rank in the keyword list: by BM25, or among the nearest products matching the words."""
    keyword_match: bool | None = None
    """Whether the product matches the words (None without words)."""
    kind_agreement: float | None = None
    """Hybrid mode: the share of the query's nearest products of the same kind (0..1)."""
    exact_match: bool | None = None
    """Hybrid mode: the photo is a near-duplicate of this product's (it is shown first)."""
    fused_score: float | None = None
    """The signals above in one score, 0..1 (`plugin.fusion`); after a re-ranker, the fused
    score of the place the re-ranker gave it."""
    rerank_score: float | None = None
    """The learned re-ranker's score (plugin/rerank.py), when one re-ordered the top N."""
    popularity_boost: float | None = None
    """popularity_weight * popularity min-max normalised over the pool."""
    detected_boost: float | None = None
    """detected_weight, when the hit's category is the one detected in the query photo."""
    final_score: float | None = None
    """fused_score + popularity_boost + detected_boost; in_stock_first then partitions on
    stock."""


@dataclass(frozen=True)
class Hit:
    sku: str
    title: str | None
    image: str | None
    price: float | None
    in_stock: bool | None
    popularity: float | None
    attributes: dict[str, Any]
    """The product's keyword attributes (colour, brand, ... and extra ones): the catalog's."""
    explanation: Explanation
    predicted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """attribute -> {value, confidence}: values the catalog lacks, filled by a confident
    prediction from the product's photos (only when the search counted predicted values)."""


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    selected: bool


@dataclass(frozen=True)
class PriceStats:
    """Over the results (all selections applied); min/max/avg are None when no price is known."""

    count: int
    min: float | None
    max: float | None
    avg: float | None


@dataclass(frozen=True)
class Timings:
    """Per-stage wall time in milliseconds, for the latency benchmark."""

    load_ms: float = 0.0
    """Reading and decoding the query image."""
    encode_ms: float = 0.0
    """Running the encoder (and blending image and text vectors)."""
    opensearch_took_ms: float = 0.0
    """OpenSearch's own `took`."""
    opensearch_ms: float = 0.0
    """The HTTP round trip, including `took`, transfer and JSON decoding."""
    total_ms: float = 0.0


@dataclass(frozen=True)
class SearchResult:
    mode: Mode
    hits: tuple[Hit, ...]
    total: int
    """How many results the user can page through (the ranked list over P and selections)."""
    page: int
    k: int
    candidates: int | None
    """Pool size N the search fetched (None when browsing, which pages on the server)."""
    facets: dict[str, tuple[FacetValue, ...]] = field(default_factory=dict)
    price: PriceStats | None = None
    timings: Timings = Timings()
    notices: tuple[Notice, ...] = ()
    """Filter values no product has (with the closest that exist) and, when nothing matched,
    what emptied the result."""
    detected: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Photo queries: attribute -> {value, confidence} the index's attribute models read from
    the shopper's photo (empty without models)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data for the CLI and the HTTP service."""
        return plain(self)


_LEAVES = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """What `dataclasses.asdict` makes of `value` (dataclasses to dicts, containers copied),
    at a fraction of its cost: it deep-copies every leaf, and a result holds thousands.
    Most of a result's values are plain leaves, so they are let through first."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    fields = getattr(kind, "__dataclass_fields__", None)
    if fields is not None:
        return {name: plain(getattr(value, name)) for name in fields}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(item) for item in value]
        if hasattr(value, "_fields"):  # a named tuple
            return kind(*items)
        return kind(items)
    return value


def candidates(response: Mapping[str, Any]) -> list[Candidate]:
    return [
        Candidate(
            _sku(hit),
            float(hit.get("_score") or 0.0),
            _hit_source(hit),
            overall_look((hit.get("fields", {}).get(OVERALL_LOOK) or [None])[0]),
        )
        for hit in response["hits"]["hits"]
    ]


def _sku(hit: Mapping[str, Any]) -> str:
    """The `sku` doc value: requests load no `_id` (ingest writes `_id = sku`)."""
    return str(hit["fields"]["sku"][0])


def _hit_source(hit: Mapping[str, Any]) -> dict[str, Any]:
    """The hit's fields from doc values (requests load no stored fields)."""
    fields = {
        name.removesuffix(".keyword"): values[0]
        for name, values in hit.get("fields", {}).items()
        if values and name != OVERALL_LOOK
    }
    return fields


def total_hits(response: Mapping[str, Any]) -> int:
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, Mapping) else total)


def to_hit(
    sku: str,
    source: Mapping[str, Any],
    explanation: Explanation,
    attributes: Sequence[str],
    predicted: Sequence[str] = (),
    threshold: float = 1.0,
) -> Hit:
    """A hit; `predicted`: the attributes whose confident predictions fill a missing value."""
    return Hit(
        sku=sku,
        title=source.get("title"),
        image=source.get("image"),
        price=source.get("price"),
        in_stock=source.get("in_stock"),
        popularity=source.get("popularity"),
        attributes={name: source[name] for name in attributes if name in source},
        explanation=explanation,
        predicted=filled_values(source, predicted, threshold),
    )


def filled_values(
    source: Mapping[str, Any], names: Sequence[str], threshold: float
) -> dict[str, dict[str, Any]]:
    """attribute -> {value, confidence} for each of `names` the catalog leaves empty and a
    prediction at least `threshold` confident fills (read from the hit's doc values)."""
    filled = {}
    for name in names:
        value = source.get(f"{PREDICTED}.{name}.value")
        confidence = source.get(f"{PREDICTED}.{name}.confidence")
        # Doc values hold float32: 0.9 comes back as 0.89999997, which the range query matched.
        if name in source or value is None or confidence is None or confidence < threshold - 1e-6:
            continue
        filled[name] = {"value": str(value), "confidence": round(float(confidence), 4)}
    return filled


def facets(aggs: Mapping[str, Any], params: SearchParams) -> dict[str, tuple[FacetValue, ...]]:
    """field -> values sorted by count desc then value; every selected value is listed, in the
    stored spelling when a bucket has it (a selection forgives case)."""
    out: dict[str, tuple[FacetValue, ...]] = {}
    for name in params.facets:
        agg = aggs[FACET_PREFIX + name]
        filled = (agg.get(PREDICTED_AGG) or {}).get("values", {}).get("buckets", [])
        counts = _merge_spellings([*agg["values"]["buckets"], *filled])
        spelled = {fold(value): value for value in counts}
        chosen = set()
        for value, bucket in (agg.get("selected") or {}).get("buckets", {}).items():
            shown = spelled.get(fold(value), value)
            counts[shown] = int(bucket["doc_count"])
            chosen.add(shown)
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        out[name] = tuple(FacetValue(value, count, value in chosen) for value, count in ordered)
    return out


def _merge_spellings(buckets: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Buckets whose values differ only in case or accents ("United Colors of Benetton" and
    "United Colors Of Benetton") are one value to a shopper, as they are to filters: one
    entry, in the spelling most products use, with the counts summed."""
    merged: dict[str, tuple[str, int, int]] = {}  # folded -> (shown, its count, total)
    for bucket in buckets:
        value, count = str(bucket["key"]), int(bucket["doc_count"])
        shown, best, total = merged.get(fold(value), (value, count, 0))
        if count > best:
            shown, best = value, count
        merged[fold(value)] = (shown, best, total + count)
    return {shown: total for shown, _, total in merged.values()}


def price_stats(aggs: Mapping[str, Any]) -> PriceStats:
    stats = aggs[PRICE_AGG]["stats"]
    count = int(stats.get("count") or 0)
    if not count:
        return PriceStats(0, None, None, None)
    return PriceStats(count, stats["min"], stats["max"], stats["avg"])
