"""`visearch serve`: the HTTP API and the search page, under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from visearch.commands.options import DEFAULT_ENCODER, Settings, settings_options


@click.command("serve", short_help="Serve the HTTP API and the search page.")
@settings_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option(
    "--images-base",
    envvar="VISEARCH_IMAGES_BASE",
    metavar="DIR_OR_URL",
    help="Where catalog images live: a directory (served under /images/, usually the "
    "catalog's directory) or a base URL; unset: hits carry no image URL "
    "[env VISEARCH_IMAGES_BASE].",
)
@click.option(
    "--max-upload-mb", default=10.0, show_default=True, help="Largest query image (413 above)."
)
@click.option(
    "--timeout-s", default=10.0, show_default=True, help="Per-request time limit (504 past it)."
)
@click.option(
    "--allow-private-urls",
    is_flag=True,
    help="Let image_url reach loopback/private addresses (off: SSRF guard).",
)
@click.option(
    "--batch-window-ms",
    default=0.0,
    show_default=True,
    help="Micro-batching: wait this long for more concurrent image queries (0: take only "
    "those already waiting).",
)
@click.option(
    "--max-batch", default=16, show_default=True, help="Most images per encoder call; 1: off."
)
@click.option(
    "--image-budget-mpx",
    default=48.0,
    show_default=True,
    help="Megapixels of image work in flight (each upload reserves its own size); past it, "
    "503 with Retry-After at once.",
)
@click.option(
    "--max-query-mpx",
    default=16.0,
    show_default=True,
    help="Largest query image in megapixels (ingest allows 40).",
)
@click.option(
    "--header-timeout-s", default=10.0, show_default=True, help="Time to send request headers."
)
@click.option(
    "--body-timeout-s", default=10.0, show_default=True, help="Time to send a request body (408)."
)
@click.option(
    "--max-connections", default=256, show_default=True, help="Open connections (503 beyond)."
)
def serve_command(
    settings: Settings,
    host: str,
    port: int,
    images_base: str | None,
    max_upload_mb: float,
    timeout_s: float,
    allow_private_urls: bool,
    batch_window_ms: float,
    max_batch: int,
    **limits: float,
) -> None:
    """Serve the HTTP API and the search page.

    Without --encoder or VISEARCH_ENCODER, queries use the encoder the index was built with.

    \b
    Endpoints: POST /v1/search, GET /v1/products/{sku}, GET /v1/facets, GET /v1/config,
    GET /healthz, /openapi.json and /docs; the page at /.

    \b
    Example:
      visearch serve --index products --images-base ../shared/data/fashion --port 8080
    """
    from visearch.commands.messages import fix_it
    from visearch.web.app import create_app
    from visearch.web.server import serve

    config = _config(images_base, max_upload_mb, timeout_s, allow_private_urls, limits)
    if max_batch < 1 or batch_window_ms < 0:
        raise click.UsageError("--max-batch must be at least 1, --batch-window-ms not negative")
    # While OpenSearch is down the service starts anyway, reports unhealthy and connects (and
    # loads the index's encoder) when the cluster answers; otherwise the model is loaded
    # before the port opens, so the first query does not pay for it.
    try:
        backend = _backend(settings, config, max_batch, batch_window_ms / 1000)
    except ValueError as error:  # a re-ranker file that cannot be read
        raise click.ClickException(fix_it(error, settings)) from error
    app = create_app(backend, config)
    if backend.fatal is not None:
        raise click.ClickException(fix_it(backend.fatal, settings))
    if backend.searcher is None and backend.waiting_for is not None:
        problem = fix_it(backend.waiting_for, settings)
        click.echo(f"warning: {problem}. Serving anyway: /healthz says unavailable, and the "
                   "service connects when OpenSearch answers", err=True)  # fmt: skip
    serve(app, host, port, config)


def _backend(settings: Settings, config: Any, max_batch: int, window_s: float) -> Any:
    """The service's hold on the cluster: it opens the Searcher (index encoder, micro-batched)
    when it can."""
    from visearch.plugin.search import open_searcher
    from visearch.vectors.images import ImageLoaderConfig
    from visearch.web.backend import Backend
    from visearch.web.batching import BatchingEncoder

    load = settings.encoder_loader()

    def load_for_serving(spec: str) -> Any:
        encoder = load(spec)
        if max_batch == 1:
            return encoder
        return BatchingEncoder(encoder, max_batch=max_batch, window_s=window_s)

    client = settings.client(timeout_s=config.timeout_s, connect_timeout_s=2.0)
    reranker = settings.load_reranker()
    images = ImageLoaderConfig(
        max_bytes=config.max_upload_bytes, max_pixels=config.max_query_pixels
    )

    def connect() -> Any:
        return open_searcher(
            client,
            settings.index,
            load_encoder=load_for_serving,
            requested=settings.encoder,
            default=DEFAULT_ENCODER,
            image_config=images,
            reranker=reranker,
        )

    return Backend(connect, client)


def _config(
    images_base: str | None,
    max_upload_mb: float,
    timeout_s: float,
    private: bool,
    limits: dict[str, float],
) -> Any:
    from visearch.web.config import MB, ServiceConfig

    if images_base and "://" not in images_base and not Path(images_base).is_dir():
        raise click.UsageError(f"--images-base {images_base}: no such directory")
    try:
        return ServiceConfig(
            images_base=images_base,
            max_upload_bytes=int(max_upload_mb * MB),
            timeout_s=timeout_s,
            allow_private_urls=private,
            max_query_pixels=int(limits["max_query_mpx"] * 1_000_000),
            image_pixel_budget=int(limits["image_budget_mpx"] * 1_000_000),
            header_timeout_s=limits["header_timeout_s"],
            body_timeout_s=limits["body_timeout_s"],
            max_connections=int(limits["max_connections"]),
        )
    except ValueError as error:
        message = f"sizes, worker counts and timeouts must be positive ({error})"
        raise click.UsageError(message) from None
