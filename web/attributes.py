"""The merchandiser's endpoints (attributes/ over HTTP): coverage, probable mislabels, set and
revert a correction, and every attribute of a product with its source. Each handler only
parses, calls attributes/ and renders; attribute errors become 4xx with their own message.

    GET  /v1/attributes/coverage   per attribute: catalog / predicted / missing counts
    GET  /v1/attributes/review     probable mislabels, most doubted first, with photos
    POST /v1/attributes/set        {sku, attribute, value, by}: a correction, at once
    POST /v1/attributes/revert     {sku, attribute, by}: the catalog value is back
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import FastAPI, Query
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError, TransportError

from visearch.attributes.errors import (
    AttributeError_,
    BadValueError,
    UnknownAttributeError,
    UnknownProductError,
)
from visearch.attributes.overrides import revert_override, set_override
from visearch.attributes.predict import FILL_THRESHOLD, REVIEW_THRESHOLD
from visearch.attributes.service import coverage, modelled_attributes, review
from visearch.attributes.sources import attribute_sources
from visearch.web.errors import ApiError
from visearch.web.schemas import (
    AttributeRevert,
    AttributeSet,
    Correction,
    CoverageResponse,
    ReviewResponse,
    error_responses,
)
from visearch.web.workers import Workers

if TYPE_CHECKING:
    from visearch.web.service import SearchService

log = logging.getLogger("visearch.web")
T = TypeVar("T")
ATTRIBUTE_HELP = "attribute to include, repeatable; default: those with a trained model"


def install_attribute_routes(app: FastAPI, service: SearchService, workers: Workers) -> None:
    _report_routes(app, service, workers)
    _correction_routes(app, service, workers)


def _report_routes(app: FastAPI, service: SearchService, workers: Workers) -> None:
    @app.get(
        "/v1/attributes/coverage",
        response_model=CoverageResponse,
        responses=error_responses(400, 502, 503, 504),
    )
    async def attribute_coverage(
        attribute: Annotated[list[str] | None, Query(description=ATTRIBUTE_HELP)] = None,
        threshold: Annotated[float, Query(ge=0, le=1)] = FILL_THRESHOLD,
    ) -> dict[str, Any]:
        """Per attribute: products with a catalog value, with only a confident prediction,
        and with neither."""

        def work(client: Any, alias: str) -> dict[str, Any]:
            return coverage(client, alias, attribute or _default(client, alias), threshold)

        return await workers.cluster_work(lambda _: _call(service, work))

    @app.get(
        "/v1/attributes/review",
        response_model=ReviewResponse,
        responses=error_responses(400, 502, 503, 504),
    )
    async def attribute_review(
        attribute: Annotated[list[str] | None, Query(description=ATTRIBUTE_HELP)] = None,
        threshold: Annotated[float, Query(ge=0, le=1)] = REVIEW_THRESHOLD,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Probable mislabels: catalog values a confident prediction disagrees with, most
        doubted first, each with the product's title and photo."""

        def work(client: Any, alias: str) -> dict[str, Any]:
            found = review(client, alias, attribute or _default(client, alias), threshold, limit)
            for row in found["mislabels"]:
                row["image_url"] = service.image_link(row.pop("image"))
            return found

        return await workers.cluster_work(lambda _: _call(service, work))


def _correction_routes(app: FastAPI, service: SearchService, workers: Workers) -> None:
    @app.post(
        "/v1/attributes/set",
        response_model=Correction,
        responses=error_responses(400, 404, 502, 503, 504),
    )
    async def attribute_set(body: AttributeSet) -> dict[str, Any]:
        """Correct one attribute of one product (or accept a prediction): in search at once,
        kept in the cluster and re-applied by every later ingest."""

        def work(client: Any, alias: str) -> dict[str, Any]:
            done = set_override(client, alias, body.sku, body.attribute, body.value, body.by)
            return asdict(done)

        return await workers.cluster_work(lambda _: _call(service, work))

    @app.post(
        "/v1/attributes/revert",
        response_model=Correction,
        responses=error_responses(400, 404, 409, 502, 503, 504),
    )
    async def attribute_revert(body: AttributeRevert) -> dict[str, Any]:
        """Undo the active correction of one attribute of one product."""

        def work(client: Any, alias: str) -> dict[str, Any]:
            try:
                done = revert_override(client, alias, body.sku, body.attribute, body.by)
            except BadValueError as error:  # nothing to undo
                raise ApiError(409, "no_correction", str(error), sku=body.sku,
                               attribute=body.attribute) from None  # fmt: skip
            return {**asdict(done), "status": "reverted"}

        return await workers.cluster_work(lambda _: _call(service, work))


def product_attribute_sources(service: SearchService, source: Mapping[str, Any]) -> dict:
    """Every keyword attribute of a product with its source (GET /v1/products/{sku}), from
    the stored fields its lookup read."""
    schema = service.searcher.schema
    return attribute_sources(source, schema.keyword_fields, schema.fill_threshold)


def _default(client: Any, alias: str) -> list[str]:
    return modelled_attributes(client, alias)


def _call(service: SearchService, work: Callable[[Any, str], T]) -> T:
    """`work(client, alias)` with attribute errors as 4xx and the cluster's as 5xx that name
    no host or index (those go to the log)."""
    searcher = service.searcher
    try:
        return work(searcher.client, searcher.alias)
    except UnknownAttributeError as error:
        raise ApiError(400, "unknown_attribute", str(error), attribute=error.attribute,
                       valid_attributes=list(error.known)) from None  # fmt: skip
    except UnknownProductError as error:
        raise ApiError(404, "product_not_found", f"no product with sku {error.sku!r}",
                       sku=error.sku) from None  # fmt: skip
    except BadValueError as error:
        raise ApiError(400, "invalid_value", str(error), attribute=error.attribute) from None
    except AttributeError_ as error:
        raise ApiError(400, "invalid_params", str(error)) from None
    except NotFoundError as error:
        log.error("attributes: index missing: %s", error)
        raise ApiError(
            503, "index_not_found", "the index is not available", retry_after=5
        ) from None
    except OpenSearchConnectionError as error:
        log.error("attributes: opensearch unreachable: %s", error)
        raise ApiError(503, "opensearch_unavailable", "the search backend is not available",
                       retry_after=2) from None  # fmt: skip
    except TransportError as error:
        log.error("attributes: opensearch error: %s", error)
        raise ApiError(502, "opensearch_error", "the search backend failed to answer") from None
