"""The search entry point, and the only module that talks to the cluster.

    searcher = open_searcher(client, "products", load_encoder=load_encoder)
    result = searcher.search(SearchParams(image="shoe.jpg", keywords="nike", k=20))

`open_searcher` reads the alias's mapping once and loads the encoder the index was built with
(or the one asked for); the Searcher it returns is frozen: keep it. Each `search()` sends
exactly one HTTP request (`_search`, or `_msearch` for vector + keywords), plus one GET of the
stored vector for a `similar_to` query, one `_msearch` of counts when nothing matched (to say
why), and, at most once a minute, one aggregation of the attribute values that words name
and filters are checked against (on an index with predictions, a photo query's attribute
models likewise: plugin/detected.py). `refresh_schema()` reads the mapping again (after an
alias swap that may have changed it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from opensearchpy.exceptions import NotFoundError, TransportError
from PIL import Image

from visearch.mappings.fields import (
    INTERNAL_FIELDS,
    OVERRIDES,
    PHOTO_VECTOR,
    PHOTOS_FIELD,
    PREDICTED,
    VECTOR_FIELD,
)
from visearch.plugin.detected import AttributeDetector
from visearch.plugin.errors import (
    IndexNotFoundError,
    InvalidParamsError,
    ProductNotFoundError,
    SearchBackendError,
    SearchTimeoutError,
    UnsupportedQueryError,
)
from visearch.plugin.keyword import EMPTY, Vocabulary
from visearch.plugin.notices import (
    Notice,
    constraints,
    count_bodies,
    counts_of,
    unknown_values,
    why_empty,
)
from visearch.plugin.params import SearchParams
from visearch.plugin.query_vector import check_encoder, embed_query, load_query_image
from visearch.plugin.request import SearchPlan, build_request, check_request
from visearch.plugin.rerank import Reranker
from visearch.plugin.response import Explanation, Hit, SearchResult, Timings, to_hit
from visearch.plugin.results import search_result
from visearch.plugin.schema import IndexSchema
from visearch.plugin.shards import ShardLayout, send_plans
from visearch.vectors.encoders import Encoder
from visearch.vectors.images import DEFAULT_CONFIG, ImageLoaderConfig
from visearch.vectors.load import choose_spec

T = TypeVar("T")
VOCABULARY_SIZE = 2_000  # values per attribute that keywords can name
VOCABULARY_TTL_S = 60.0


def open_searcher(
    client: Any,
    alias: str,
    *,
    load_encoder: Callable[[str], Encoder] | None = None,
    requested: str | None = None,
    default: str | None = None,
    image_config: ImageLoaderConfig = DEFAULT_CONFIG,
    reranker: Reranker | None = None,
) -> Searcher:
    """A Searcher for `alias`: its mapping is read once, and `load_encoder(spec)` is called
    with the encoder asked for (`requested`), else the one the index records, else `default`.
    Without `load_encoder` the Searcher serves keyword, filter and facet searches only; a
    `reranker` is checked against the index before any model loads."""
    searcher = Searcher(client, alias, None, image_config)
    schema = searcher.schema
    if load_encoder is None:
        return searcher
    searcher = searcher.with_reranker(reranker)
    spec = choose_spec(schema.encoder, requested, default)
    if spec is None:
        raise UnsupportedQueryError(f"index {alias!r} records no encoder; name one")
    return replace(searcher, encoder=load_encoder(spec))


PRODUCT_HIDDEN = tuple(f for f in INTERNAL_FIELDS if f not in (PREDICTED, OVERRIDES))
"""What a product lookup leaves out of the stored source: vectors and ingest's bookkeeping."""


@dataclass(frozen=True)
class Searcher:
    """Searches one alias with one encoder (None for keyword and filter searches only)."""

    client: Any
    alias: str
    encoder: Encoder | None = None
    image_config: ImageLoaderConfig = DEFAULT_CONFIG
    reranker: Reranker | None = None
    """Re-orders the top N of look searches (`with_reranker` checks it fits the index)."""
    _schema: list[IndexSchema] = field(default_factory=list, repr=False, compare=False)
    """The mapping read last (shared by copies made with `dataclasses.replace`)."""
    _vocabulary: list[tuple[float, Vocabulary]] = field(
        default_factory=list, repr=False, compare=False
    )
    """(read at, the attribute values): read on the first search with words or filters and
    again after VOCABULARY_TTL_S, so values a rerun of ingest added are known soon."""
    _detector: AttributeDetector = field(default_factory=AttributeDetector, repr=False,
                                         compare=False)  # fmt: skip
    """The attribute models a photo query's detected attributes come from (cached)."""
    _layout: ShardLayout = field(default_factory=ShardLayout, repr=False, compare=False)
    """How many shards the alias has, as its responses say (plugin/shards.py)."""

    @property
    def schema(self) -> IndexSchema:
        return self._schema[0] if self._schema else self.refresh_schema()

    @property
    def known_schema(self) -> IndexSchema | None:
        """The mapping read last, without a request (None if none was read yet)."""
        return self._schema[0] if self._schema else None

    def refresh_schema(self) -> IndexSchema:
        """Read the alias's mapping again (one request)."""
        try:
            response = self.client.indices.get_mapping(index=self.alias)
        except NotFoundError:
            raise IndexNotFoundError(self.alias) from None
        except TransportError as error:
            raise SearchBackendError(self.alias, [_transport_error(error)]) from error
        self._schema[:] = [IndexSchema.from_mapping(self.alias, response)]
        self._vocabulary.clear()  # the values may have changed with the mapping
        self._detector.clear()
        return self._schema[0]

    def with_reranker(self, reranker: Reranker | None) -> Searcher:
        """This searcher re-ranking with `reranker` (None: without), if it fits the index."""
        if reranker is not None:
            reranker.check_index(self.schema)
        return replace(self, reranker=reranker)

    def vocabulary(self) -> Vocabulary:
        """The values each keyword attribute holds (one aggregation, cached for a minute)."""
        if not self._vocabulary or time.monotonic() - self._vocabulary[0][0] > VOCABULARY_TTL_S:
            fields = self.schema.keyword_fields
            aggs = {name: {"terms": {"field": name, "size": VOCABULARY_SIZE}} for name in fields}
            try:
                response = self.client.search(index=self.alias, body={"size": 0, "aggs": aggs})
            except TransportError as error:
                raise SearchBackendError(self.alias, [_transport_error(error)]) from error
            aggregations = response.get("aggregations") or {}
            held = {
                name: [str(b["key"]) for b in agg["buckets"]] for name, agg in aggregations.items()
            }
            complete = [
                name for name, agg in aggregations.items() if not agg.get("sum_other_doc_count")
            ]
            self._vocabulary[:] = [(time.monotonic(), Vocabulary.from_values(held, complete))]
        return self._vocabulary[0][1]

    def search(
        self,
        params: SearchParams,
        *,
        deadline: float | None = None,
        vector: np.ndarray | None = None,
    ) -> SearchResult:
        """Run `params`. With a `deadline` (a `time.monotonic()` value) the work stops between
        stages once it has passed: a caller that gave up does not keep the CPU busy. A
        `vector` already made for the image or text of `params` is used as it is."""
        started = time.perf_counter()
        schema = self.schema
        check_request(params, schema)  # cheap checks before the model runs
        load_ms = encode_ms = 0.0
        image = params.image if isinstance(params.image, Image.Image) else None
        if vector is None:
            vector, image, load_ms, encode_ms = self._query_vector(params, schema, deadline)
        elif not params.has_vector_query:
            raise InvalidParamsError("a vector was given for a search without image or text")
        _in_time(deadline, "encoding the query")
        detected = self._detector.detect(self.client, schema, params, vector, image)
        schema = schema.serving(params.predicted)
        vocabulary = self.vocabulary() if params.keywords or params.filters else EMPTY
        plan = self._plan(params, schema, vector, vocabulary)
        (responses, took), opensearch_ms = _timed(lambda: self._send(plan))
        timings = Timings(load_ms, encode_ms, float(took), opensearch_ms)
        result = search_result(plan, params, responses, schema, timings, self.reranker, detected)
        notices = unknown_values(params, vocabulary)
        if result.total == 0 and (params.has_filters or params.keywords):
            notices += self._why_empty(params, schema, vocabulary, notices)
        timings = replace(timings, total_ms=_since(started))
        return replace(result, notices=tuple(notices), timings=timings, detected=detected)

    def _why_empty(
        self, params: SearchParams, schema: IndexSchema, vocabulary: Vocabulary, known: list[Notice]
    ) -> list[Notice]:
        """Which filter, field or words emptied the result: one count per part (one request,
        only for an empty result)."""
        found = constraints(params, schema, vocabulary)
        responses, _ = self._send_lines(count_bodies(found))
        return why_empty(found, counts_of(responses), known)

    def search_batch(
        self, items: Sequence[tuple[SearchParams, np.ndarray | None]]
    ) -> list[SearchResult]:
        """Many searches in one `_msearch` request, each with its query vector already made
        (None for keyword and filter searches): what evaluation and batch callers need.
        Results name unknown filter values but do not explain empty results."""
        schema = self.schema
        plans, vocabularies = [], []
        for params, vector in items:
            check_request(params, schema)
            if params.has_vector_query and vector is None:
                raise InvalidParamsError("search_batch needs the vector of each image or text")
            vocabulary = self.vocabulary() if params.keywords or params.filters else EMPTY
            vocabularies.append(vocabulary)
            plans.append(self._plan(params, schema, vector, vocabulary))
        sent = _timed(lambda: send_plans(plans, self._send_lines, self._layout))
        (per_plan, took), opensearch_ms = sent
        results = []
        for plan, mine, vocabulary, (params, _) in zip(
            plans, per_plan, vocabularies, items, strict=True
        ):
            timings = Timings(opensearch_took_ms=float(took), opensearch_ms=opensearch_ms)
            serving = schema.serving(params.predicted)
            result = search_result(plan, params, mine, serving, timings, self.reranker)
            results.append(replace(result, notices=tuple(unknown_values(params, vocabulary))))
        return results

    def _query_vector(
        self, params: SearchParams, schema: IndexSchema, deadline: float | None
    ) -> tuple[Any, Image.Image | None, float, float]:
        """The query vector of `params` (None without one), the decoded query image (None
        without one), load and encode milliseconds."""
        if params.similar_to is not None:
            vector, load_ms = _timed(lambda: self._stored_vector(str(params.similar_to)))
            return vector, None, load_ms, 0.0
        if not params.has_vector_query:
            return None, None, 0.0, 0.0
        encoder = check_encoder(params, schema, self.encoder)
        image, load_ms = None, 0.0
        if params.image is not None:
            image, load_ms = _timed(lambda: load_query_image(params.image, self.image_config))
        _in_time(deadline, "decoding the query image")
        vector, encode_ms = _timed(
            lambda: embed_query(
                encoder, image, params.text, params.image_weight, params.text_weight
            )
        )
        return vector, image, load_ms, encode_ms

    def product(self, sku: str) -> Hit:
        """One product by sku (one GET); `ProductNotFoundError` when there is none."""
        return self.product_with_source(sku)[0]

    def product_with_source(self, sku: str) -> tuple[Hit, Mapping[str, Any]]:
        """The product and its stored fields but the vectors and ingest's bookkeeping (its
        predictions and corrections kept: where each attribute comes from), in one GET."""
        source = self._get(sku, {"_source_excludes": list(PRODUCT_HIDDEN)})
        return to_hit(sku, source, Explanation(), self.schema.keyword_fields), source

    def _stored_vector(self, sku: str) -> list[float]:
        """The vector of the product's main photo ("more like this")."""
        photos = self._get(sku, {"_source_includes": [VECTOR_FIELD]}).get(PHOTOS_FIELD)
        if not photos:
            raise ProductNotFoundError(sku, self.alias)
        return photos[0][PHOTO_VECTOR]

    def _get(self, sku: str, params: dict[str, Any]) -> Mapping[str, Any]:
        try:
            response = self.client.get(index=self.alias, id=sku, **params)
        except NotFoundError as error:
            if _is_missing_index(error):
                raise IndexNotFoundError(self.alias) from None
            raise ProductNotFoundError(sku, self.alias) from None
        except TransportError as error:
            raise SearchBackendError(self.alias, [_transport_error(error)]) from error
        return response.get("_source") or {}

    def _plan(
        self,
        params: SearchParams,
        schema: IndexSchema,
        vector: np.ndarray | None,
        vocabulary: Vocabulary,
    ) -> SearchPlan:
        """The request for `params`, marked `exact_alone` where the engine needs no pool step
        on several shards: a look search without words on Elasticsearch (its top-level knn,
        plugin/shards.py)."""
        reranking = self.reranker is not None
        plan = build_request(params, schema, vector, vocabulary, reranking=reranking)
        dialect = getattr(self.client, "dialect", None)
        on_elasticsearch = dialect is not None and dialect.elasticsearch
        if on_elasticsearch and plan.mode == "vector" and not plan.widened:
            return replace(plan, exact_alone=True)
        return plan

    def _send(self, plan: SearchPlan) -> tuple[list[Mapping[str, Any]], float]:
        """Each search's response and OpenSearch's `took`: one HTTP request, or on a sharded
        alias two, so that pool, facets and total do not depend on the shards (shards.py)."""
        (responses,), took = send_plans([plan], self._send_any, self._layout)
        return responses, took

    def _send_any(self, lines: list[dict[str, Any]]) -> tuple[list[Mapping[str, Any]], float]:
        """Header/body lines: one search goes to `_search` (the header as its parameters)."""
        if len(lines) > 2:
            return self._send_lines(lines)
        try:
            response = self.client.search(index=self.alias, body=lines[1], **lines[0])
        except NotFoundError:
            raise IndexNotFoundError(self.alias) from None
        except TransportError as error:
            raise SearchBackendError(self.alias, [_transport_error(error)]) from error
        return self._checked([response]), response.get("took", 0)

    def _send_lines(self, body: list[dict[str, Any]]) -> tuple[list[Mapping[str, Any]], float]:
        """One `_msearch` of header/body lines; each search's response and the total took."""
        try:
            response = self.client.msearch(index=self.alias, body=body)
        except NotFoundError:
            raise IndexNotFoundError(self.alias) from None
        except TransportError as error:
            raise SearchBackendError(self.alias, [_transport_error(error)]) from error
        responses = response["responses"]
        took = max((r.get("took", 0) for r in responses), default=0)
        return self._checked(responses), response.get("took", took)

    def _checked(self, responses: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        errors = [r["error"] for r in responses if "error" in r]
        errors += [f for r in responses for f in (r.get("_shards") or {}).get("failures", [])]
        if errors:
            # Partial results would make facet counts and pages silently wrong.
            raise SearchBackendError(self.alias, errors)
        return responses


def _in_time(deadline: float | None, after: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise SearchTimeoutError(f"the search ran out of time after {after}")


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, (time.perf_counter() - started) * 1000


def _is_missing_index(error: NotFoundError) -> bool:
    """A 404 for the index itself, not for a document in it."""
    info = error.info if isinstance(error.info, dict) else {}
    detail = info.get("error")
    return isinstance(detail, dict) and detail.get("type") == "index_not_found_exception"


def _transport_error(error: TransportError) -> dict[str, Any]:
    info = error.info if isinstance(error.info, dict) else {}
    detail = info.get("error")
    if isinstance(detail, dict):
        return detail
    return {"type": str(error.error), "reason": str(detail or error.info or error)}
