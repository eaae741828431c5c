"""The ASGI app: `create_app(searcher, config)`; `visearch serve` runs it under uvicorn.

    POST /v1/search           image upload (multipart) and/or JSON params -> ranked hits
    GET  /v1/products/{sku}   one product
    GET  /v1/facets           facet counts of a browse (optional filters)
    /v1/attributes/...        coverage, review, set, revert (web/attributes.py)
    GET  /v1/config           what this deployment can do (text search? which facets?)
    GET  /healthz             OpenSearch reachable, alias present, encoder loaded
    GET  /                    the search page (web/static); /images/ the catalog photos

Handlers stay on the event loop only to read the request; decoding, inference and the
OpenSearch calls run in worker threads under the per-request timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from visearch.plugin.search import Searcher
from visearch.vectors.images import header_pixels
from visearch.web import errors
from visearch.web.attributes import install_attribute_routes
from visearch.web.backend import Backend
from visearch.web.config import ServiceConfig
from visearch.web.context import RequestContext
from visearch.web.docs import install_docs
from visearch.web.errors import ApiError
from visearch.web.intake import read_search
from visearch.web.openapi import install_openapi
from visearch.web.schemas import (
    FacetsResponse,
    Health,
    Product,
    SearchResponse,
    ServiceSettings,
    error_responses,
)
from visearch.web.service import SearchService
from visearch.web.workers import Workers

STATIC = Path(__file__).with_name("static")
T = TypeVar("T")
# The page loads only its own script and styles; product photos may live on another host.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob: http: https:; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SEARCH_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/SearchRequest"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "params": {
                        "type": "string",
                        "description": "a SearchRequest as JSON (form fields work too)",
                    },
                },
            }
        },
    },
}


def create_app(source: Searcher | Backend, config: ServiceConfig | None = None) -> FastAPI:
    """The app over an open Searcher, or over a Backend that opens one when it can (the
    Backend's monitor is started and stopped with the app)."""
    config = config or ServiceConfig()
    backend = source if isinstance(source, Backend) else Backend.of(source)
    service = SearchService(backend, config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        backend.start()
        yield
        backend.stop()

    app = FastAPI(
        title="visearch",
        version="1",
        summary="Visual product search: photo, text, keywords, filters and facets.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by web.docs
    )
    backend.check_now()  # the first answers need no wait for the monitor's first round
    app.state.service = service
    app.add_middleware(RequestContext)
    errors.install(app)
    install_openapi(app)
    install_docs(app)
    workers = Workers(config)
    _search_route(app, service, workers)
    _lookup_routes(app, service, workers)
    install_attribute_routes(app, service, workers)
    _status_routes(app, service)
    _page_routes(app, service)
    return app


def _search_route(app: FastAPI, service: SearchService, workers: Workers) -> None:
    config = service.config

    @app.post(
        "/v1/search",
        response_model=SearchResponse,
        responses=error_responses(400, 408, 413, 415, 422, 502, 503, 504),
        openapi_extra={"requestBody": SEARCH_BODY},
    )
    async def search(request: Request) -> dict[str, Any]:
        """Search by uploaded photo, image_url, similar_to, text, keywords and/or filters."""
        params, upload = await read_search(request, config)

        def work(deadline: float) -> dict[str, Any]:
            return service.search(params, upload, deadline)

        if upload is not None:
            # What it decodes to (an image over the cap is refused at once, so costs no more).
            pixels = min(header_pixels(upload, service.url_config) or 1, config.max_query_pixels)
            return await workers.image_work(pixels, work)
        if params.image_url:
            return await workers.image_work(config.max_query_pixels, work)
        return await workers.cluster_work(work)


def _lookup_routes(app: FastAPI, service: SearchService, workers: Workers) -> None:
    @app.get(
        "/v1/products/{sku}", response_model=Product, responses=error_responses(404, 502, 503, 504)
    )
    async def product(sku: str) -> dict[str, Any]:
        """One product by sku: title, price, attributes (each with its source) and image URL."""
        return await workers.cluster_work(lambda _: service.product(sku))

    @app.get(
        "/v1/facets", response_model=FacetsResponse, responses=error_responses(400, 502, 503, 504)
    )
    async def facets(
        facet: Annotated[list[str] | None, Query(description="field to count; default all")] = None,
        filters: Annotated[
            list[str] | None,
            Query(alias="filter", description="field:value, repeatable; OR within a field"),
        ] = None,
        price_min: float | None = None,
        price_max: float | None = None,
        in_stock: bool | None = None,
    ) -> dict[str, Any]:
        """Facet counts (and price stats) of a browse, with optional filters."""
        chosen = _filters(filters or [])
        ranges = {"price_min": price_min, "price_max": price_max, "in_stock": in_stock}
        return await workers.cluster_work(lambda _: service.facets(chosen, facet or [], **ranges))


def _status_routes(app: FastAPI, service: SearchService) -> None:
    @app.get("/v1/config", response_model=ServiceSettings)
    async def settings() -> dict[str, Any]:
        """What the page needs to know: encoder capabilities, facet fields, upload cap (from
        what the service already knows: no cluster call, no worker thread)."""
        return service.settings()

    @app.get(
        "/healthz",
        response_model=Health,
        response_model_exclude_unset=True,  # a check lists only what it found
        responses={503: {"model": Health, "description": "a check failed (the body says which)"}},
    )
    async def healthz(response: Response) -> dict[str, Any]:
        """200 when OpenSearch answers, the alias holds one index and the encoder matches it;
        else 503 with the failing check. From the background monitor's last check."""
        ok, checks = service.health()
        response.status_code = 200 if ok else 503
        return {"status": "ok" if ok else "unavailable", "checks": checks}


def _filters(items: list[str]) -> dict[str, list[str]]:
    """`?filter=field:value` query parameters -> field -> values."""
    chosen: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name or not value:
            raise ApiError(400, "invalid_params", f"filter must be field:value, got {item!r}")
        chosen.setdefault(name, []).append(value)
    return chosen


def _page_routes(app: FastAPI, service: SearchService) -> None:
    @app.get("/images/{path:path}", include_in_schema=False)
    async def image(path: str) -> FileResponse:
        target = service.image_file(path)
        if target is None:
            raise ApiError(404, "not_found", "no such image")
        return FileResponse(target, headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
