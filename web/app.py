"""The ASGI app: `create_app(searcher, config)`; `visearch serve` runs it under uvicorn.

    POST /v1/search           image upload (multipart) and/or JSON params -> ranked hits
    GET  /v1/products/{sku}   one product
    GET  /v1/facets           facet counts of a browse (optional filters)
    GET  /v1/config           what this deployment can do (text search? which facets?)
    GET  /healthz             OpenSearch reachable, alias present, encoder loaded
    GET  /                    the search page (web/static); /images/ the catalog photos

Handlers stay on the event loop only to read the request; decoding, inference and the
OpenSearch calls run in worker threads under the per-request timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from visearch.plugin.search import Searcher
from visearch.web import errors
from visearch.web.backend import Backend
from visearch.web.config import ServiceConfig
from visearch.web.context import RequestContext
from visearch.web.docs import install_docs
from visearch.web.errors import ApiError
from visearch.web.intake import read_search
from visearch.web.memory import trim_heap
from visearch.web.openapi import install_openapi
from visearch.web.schemas import ERRORS
from visearch.web.service import SearchService

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
    _api_routes(app, service, Workers(config))
    _page_routes(app, service)
    return app


class Workers:
    """Worker threads in two bounded pools: image searches (decode + encode) and requests that
    only call the cluster. A full pool answers 503 with Retry-After at once, and a slot is
    held until its thread really ends, so work abandoned at the timeout still counts."""

    def __init__(self, config: ServiceConfig) -> None:
        self.timeout_s = config.timeout_s
        self.images = Slots(config.image_workers, on_idle=trim_heap)
        self.cluster = Slots(config.cluster_workers)
        self._threads = anyio.CapacityLimiter(config.image_workers + config.cluster_workers)

    async def run(self, slots: Slots, work: Callable[[float], T]) -> T:
        """`work(deadline)` in a worker thread; 504 once the request's time is up (the work
        stops at its next stage boundary, its OpenSearch calls have the same timeout)."""
        if not slots.take():
            raise ApiError(503, "busy", "too many searches at once; retry shortly", retry_after=1)
        deadline = time.monotonic() + self.timeout_s

        def job() -> T:
            try:
                return work(deadline)
            finally:
                slots.give_back()

        try:
            with anyio.fail_after(self.timeout_s):
                return await anyio.to_thread.run_sync(
                    job, abandon_on_cancel=True, limiter=self._threads
                )
        except TimeoutError:
            message = f"the request took longer than {self.timeout_s:g}s"
            raise ApiError(504, "timeout", message) from None


class Slots:
    """At most `size` jobs at once, counted from the take until the job itself ends."""

    def __init__(self, size: int, on_idle: Callable[[], None] | None = None) -> None:
        self._size = self._free = size
        self._on_idle = on_idle  # called when the last running job ends
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._free += 1
            idle = self._free == self._size
        if idle and self._on_idle is not None:
            self._on_idle()


def _api_routes(app: FastAPI, service: SearchService, workers: Workers) -> None:
    config = service.config

    @app.post("/v1/search", responses=ERRORS, openapi_extra={"requestBody": SEARCH_BODY})
    async def search(request: Request) -> dict[str, Any]:
        """Search by uploaded photo, image_url, similar_to, text, keywords and/or filters."""
        params, upload = await read_search(request, config)
        image_work = upload is not None or bool(params.image_url)
        slots = workers.images if image_work else workers.cluster
        return await workers.run(slots, lambda deadline: service.search(params, upload, deadline))

    @app.get("/v1/products/{sku}", responses=ERRORS)
    async def product(sku: str) -> dict[str, Any]:
        """One product by sku: title, price, attributes and its image URL."""
        return await workers.run(workers.cluster, lambda _: service.product(sku))

    @app.get("/v1/facets", responses=ERRORS)
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
        return await workers.run(
            workers.cluster, lambda _: service.facets(chosen, facet or [], **ranges)
        )

    @app.get("/v1/config")
    async def settings() -> dict[str, Any]:
        """What the page needs to know: encoder capabilities, facet fields, upload cap (from
        what the service already knows: no cluster call, no worker thread)."""
        return service.settings()

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 when OpenSearch answers, the alias holds one index and the encoder matches it;
        else 503 with the failing check. From the background monitor's last check."""
        ok, checks = service.health()
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)


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
