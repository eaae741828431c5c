"""`visearch`: the command line. It parses, calls the library, and turns errors into messages.

Configuration lives here and only here: environment variables give the defaults, flags
override them, and the library receives plain values and a client.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

DEFAULT_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "products"
DEFAULT_ENCODER = "clip:clip-ViT-B-32"


def env_opensearch_url() -> str:
    """OPENSEARCH_URL, or the default: for scripts (bench/) that take the same setting."""
    return os.environ.get("OPENSEARCH_URL", DEFAULT_URL)


@dataclass(frozen=True)
class Settings:
    """What every command may need: where OpenSearch is, which alias, which encoder."""

    opensearch_url: str = DEFAULT_URL
    index: str = DEFAULT_INDEX
    encoder: str = DEFAULT_ENCODER
    encoder_given: bool = False  # by flag or environment, rather than the built-in default
    adapter: Path | None = None

    def encoder_name(self) -> str:
        """The name the index records: the encoder, plus the adapter's id (cheap to compute)."""
        from quality.adapter import Adapter, adapted_name

        return adapted_name(self.encoder, Adapter.load(self.adapter) if self.adapter else None)

    def load_encoder(self, *, device: str | None = None, batch_size: int = 32):  # noqa: ANN201
        """The encoder, wrapped in the adapter when one is configured."""
        from ingest.encoders import load_encoder
        from quality.adapter import AdaptedEncoder, Adapter

        encoder = load_encoder(self.encoder, device=device, batch_size=batch_size)
        return AdaptedEncoder(encoder, Adapter.load(self.adapter)) if self.adapter else encoder

    def client(self, timeout_s: float = 30.0):  # noqa: ANN201 - opensearchpy is lazy (fast --help)
        from plugin.connection import make_client

        return make_client(self.opensearch_url, timeout_s=timeout_s)


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--opensearch-url, --index and --encoder, each defaulting to its environment variable."""

    @click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="OpenSearch to talk to [env OPENSEARCH_URL].",
    )
    @click.option(
        "--index",
        envvar="VISEARCH_INDEX",
        default=DEFAULT_INDEX,
        show_default=True,
        help="The alias queries and ingest use [env VISEARCH_INDEX].",
    )
    @click.option(
        "--encoder",
        envvar="VISEARCH_ENCODER",
        default=DEFAULT_ENCODER,
        show_default=True,
        help="clip:<model id or path> or efficientnet-lite0 [env VISEARCH_ENCODER].",
    )
    @click.option(
        "--adapter",
        envvar="VISEARCH_ADAPTER",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Catalog-tuned adapter folder from `visearch tune` [env VISEARCH_ADAPTER].",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        opensearch_url: str,
        index: str,
        encoder: str,
        adapter: Path | None,
        **kwargs: Any,
    ) -> Any:
        source = click.get_current_context().get_parameter_source("encoder")
        settings = Settings(
            opensearch_url=opensearch_url,
            index=index,
            encoder=encoder.strip(),
            encoder_given=source is not click.core.ParameterSource.DEFAULT,
            adapter=adapter,
        )
        return command(*args, settings=settings, **kwargs)

    return wrapper


def emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print `data` as JSON for machines or through `render` for people."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """visearch: visual product search on OpenSearch."""


# --------------------------------------------------------------------------- opensearch


@main.group("opensearch")
def opensearch_group() -> None:
    """Run a local single-node OpenSearch with k-NN (no Docker needed).

    \b
    Example:
      visearch opensearch up && visearch opensearch status --json
    """


def _local_node(opensearch_url: str):  # noqa: ANN202
    from scripts.opensearch_node import LocalNode, default_home

    parts = urlsplit(opensearch_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.scheme != "http":
        raise click.ClickException(
            f"OPENSEARCH_URL points at {opensearch_url}, another cluster: the local node only "
            "serves http://127.0.0.1:<port>. Unset OPENSEARCH_URL to use the local node."
        )
    return LocalNode(home=default_home(), port=parts.port or 9200)


def _render_status(data: dict[str, Any]) -> str:
    if not data.get("running"):
        return f"OpenSearch is not running at {data['url']}"
    plugins = ", ".join(data.get("plugins") or []) or "none"
    return (
        f"OpenSearch {data['status']} at {data['url']} "
        f"(pid {data['pid']}; JVM {data.get('jvm')}; plugins: {plugins})"
    )


@opensearch_group.command("up")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for yellow.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def opensearch_up(opensearch_url: str, timeout: float, as_json: bool) -> None:
    """Provision (first time: from Maven Central into a cache) and start the node; idempotent.

    \b
    Example:
      visearch opensearch up
    """
    from scripts.opensearch_node import NodeError, up

    node = _local_node(opensearch_url)
    try:
        emit(up(node, timeout_s=timeout), as_json, _render_status)
    except NodeError as error:
        raise click.ClickException(str(error)) from error


@opensearch_group.command("down")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
def opensearch_down(opensearch_url: str) -> None:
    """Stop the local node (its data stays in the cache).

    \b
    Example:
      visearch opensearch down
    """
    from scripts.opensearch_node import down

    stopped = down(_local_node(opensearch_url))
    click.echo("stopped" if stopped else "not running")


@opensearch_group.command("status")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def opensearch_status(opensearch_url: str, as_json: bool) -> None:
    """Say whether the local node answers, its health and its plugins; exit 1 when down.

    \b
    Example:
      visearch opensearch status --json
    """
    from scripts.opensearch_node import status

    data = status(_local_node(opensearch_url))
    emit(data, as_json, _render_status)
    if not data["running"]:
        sys.exit(1)


# --------------------------------------------------------------------------- ingest

# Exit codes of `visearch ingest`, documented in the README.
EXIT_OK, EXIT_ROW_FAILURES, EXIT_USAGE, EXIT_DELETE_REFUSED, EXIT_LOCKED, EXIT_FATAL = range(6)


def _render_ingest(data: dict[str, Any]) -> str:
    counts = ", ".join(
        f"{name} {data[name]}"
        for name in ("read", "embedded", "unchanged", "updated", "deleted", "failed", "copied")
    )
    lines = [f"{data['alias']} -> {data['index']}: {counts} in {data['seconds']:.1f}s"]
    if data.get("swapped_from"):
        lines.append(f"alias swapped from {data['swapped_from']} (kept as previous)")
    if data.get("deletions_refused"):
        lines.append(f"deletions refused: {data['deletions_refused']}")
    if data.get("report"):
        lines.append(f"error report: {data['report']}")
    return "\n".join(lines)


@main.command("ingest")
@click.argument("catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option("--rebuild", is_flag=True, help="Build a new versioned index and swap the alias.")
@click.option(
    "--photos",
    "photos_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of extra product photos (image, sku); images relative to that file.",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Read FIELD from catalog column COLUMN (repeatable).",
)
@click.option(
    "--map-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of FIELD -> COLUMN mappings.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Catalog format (default: from the file extension).",
)
@click.option("--batch-size", default=32, show_default=True, help="Images per model batch.")
@click.option("--workers", default=4, show_default=True, help="Image fetch/decode threads.")
@click.option(
    "--bulk-chunk-size", default=200, show_default=True, help="Documents per bulk request."
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write failed records as JSONL here (sku, line, stage, reason).",
)
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary JSON to this file.",
)
@click.option(
    "--max-delete-fraction",
    default=0.2,
    show_default=True,
    help="Refuse to delete more than this share of the indexed products.",
)
@click.option("--force-delete", is_flag=True, help="Delete vanished products even past the guard.")
@click.option("--hnsw-m", default=16, show_default=True, help="HNSW m for new indices.")
@click.option(
    "--hnsw-ef-construction",
    default=128,
    show_default=True,
    help="HNSW ef_construction for new indices.",
)
@click.option("--device", default=None, help="torch device (default: cuda if present, else cpu).")
@click.option(
    "--lock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lock file that keeps two runs apart (default: in the temp dir).",
)
@click.option("--quiet", is_flag=True, help="No progress bar (it is off anyway when not a tty).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest_command(
    catalog: Path,
    settings: Settings,
    rebuild: bool,
    photos_file: Path | None,
    mapping: tuple[str, ...],
    map_file: Path | None,
    fmt: str | None,
    batch_size: int,
    workers: int,
    bulk_chunk_size: int,
    report_path: Path | None,
    summary_path: Path | None,
    max_delete_fraction: float,
    force_delete: bool,
    hnsw_m: int,
    hnsw_ef_construction: int,
    device: str | None,
    lock_file: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Index a product catalog (CSV or JSONL): embed new or changed images, update changed
    text, delete products that left the catalog.

    \b
    Exit codes: 0 all records indexed; 1 some records failed (see --report);
    2 usage error; 3 deletions refused by the guard; 4 another ingest is running;
    5 fatal (OpenSearch unreachable, unusable catalog, encoder mismatch).

    \b
    Example:
      VISEARCH_ENCODER=efficientnet-lite0 visearch ingest ../shared/data/fashion/catalog.csv \\
          --report errors.jsonl
    """
    from ingest.bulk import BulkConfig
    from ingest.catalog import CatalogError, load_mapping_file, parse_mapping, read_catalog
    from ingest.encoders import EncoderError
    from ingest.lock import LockedError, default_lock_path, ingest_lock
    from ingest.photos import attach_photos
    from ingest.pipeline import IngestOptions, run_ingest

    if min(batch_size, workers, bulk_chunk_size) < 1:
        raise click.UsageError("--batch-size, --workers and --bulk-chunk-size must be at least 1")
    if not 0 <= max_delete_fraction <= 1:
        raise click.UsageError("--max-delete-fraction must be between 0 and 1")
    try:
        columns = {**(load_mapping_file(map_file) if map_file else {}), **parse_mapping(mapping)}
        catalog_read = read_catalog(catalog, columns, fmt)
        if photos_file is not None:
            catalog_read = attach_photos(catalog_read, photos_file)
    except CatalogError as error:
        _fail(str(error), EXIT_FATAL)
    options = IngestOptions(
        rebuild=rebuild,
        batch_size=batch_size,
        workers=workers,
        max_delete_fraction=max_delete_fraction,
        force_delete=force_delete,
        hnsw_m=hnsw_m,
        hnsw_ef_construction=hnsw_ef_construction,
        bulk=BulkConfig(chunk_size=bulk_chunk_size),
        progress=not quiet and sys.stderr.isatty(),
    )
    try:
        encoder_name = settings.encoder_name()
    except EncoderError as error:
        _fail(str(error), EXIT_FATAL)
    lock_path = lock_file or default_lock_path(settings.opensearch_url, settings.index)
    try:
        with ingest_lock(lock_path):
            summary = run_ingest(
                settings.client(),
                catalog_read,
                catalog.resolve().parent,
                settings.index,
                encoder_name,
                lambda: settings.load_encoder(device=device, batch_size=batch_size),
                options,
            )
    except LockedError as error:
        _fail(str(error), EXIT_LOCKED)
    except Exception as error:  # noqa: BLE001 - cron needs one clear line, not a traceback
        _fail(f"ingest failed: {type(error).__name__}: {error}", EXIT_FATAL)
    data = summary.as_dict()
    if report_path is not None:
        _write_jsonl(report_path, [error.as_dict() for error in summary.errors])
        data["report"] = str(report_path)
    if summary_path is not None:
        summary_path.write_text(json.dumps(data, indent=2) + "\n")
    emit(data, as_json, _render_ingest)
    if summary.deletions_refused:
        sys.exit(EXIT_DELETE_REFUSED)
    if summary.failed:
        sys.exit(EXIT_ROW_FAILURES)


# --------------------------------------------------------------------------- serve


@main.command("serve")
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
@click.option("--device", default=None, help="torch device (default: cuda if present, else cpu).")
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
    device: str | None,
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
    from ingest.images import ImageLoaderConfig
    from plugin.errors import SearchError
    from plugin.search import Searcher
    from web.app import create_app
    from web.batching import BatchingEncoder
    from web.config import MB, ServiceConfig
    from web.server import serve

    if max_upload_mb <= 0 or timeout_s <= 0 or max_batch < 1 or batch_window_ms < 0:
        raise click.UsageError(
            "--max-upload-mb and --timeout-s must be positive, --max-batch at least 1 "
            "and --batch-window-ms not negative"
        )
    if images_base and "://" not in images_base and not Path(images_base).is_dir():
        raise click.UsageError(f"--images-base {images_base}: no such directory")
    config = ServiceConfig(
        images_base=images_base,
        max_upload_bytes=int(max_upload_mb * MB),
        timeout_s=timeout_s,
        allow_private_urls=allow_private_urls,
    )
    searcher = Searcher(
        settings.client(timeout_s=timeout_s),
        settings.index,
        image_config=ImageLoaderConfig(max_bytes=config.max_upload_bytes),
    )
    try:  # loaded before serving, so the first query does not pay for it
        encoder = _query_encoder(settings, searcher, device)
    except (ValueError, SearchError) as error:
        raise click.ClickException(str(error)) from error
    if max_batch > 1:
        encoder = BatchingEncoder(encoder, max_batch=max_batch, window_s=batch_window_ms / 1000)
    searcher.encoder = encoder
    serve(create_app(searcher, config), host, port)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


# --------------------------------------------------------------------------- search


def _parse_filters(specs: tuple[str, ...]) -> dict[str, list[str]]:
    """`colour=Blue --filter colour=Red` -> {"colour": ["Blue", "Red"]} (OR within a field)."""
    filters: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{spec!r} is not FIELD=VALUE", param_hint="--filter")
        filters.setdefault(name.strip(), []).append(value.strip())
    return filters


def _render_search(data: dict[str, Any]) -> str:
    hits = data["hits"]
    start = data["page"] * data["k"]
    lines = [
        f"{data['mode']} search: {data['total']} results, showing {start + 1 if hits else 0}"
        f"-{start + len(hits)} ({data['timings']['total_ms']:.0f} ms)"
    ]
    lines.append(f"{'#':>3}  {'sku':<12} {'score':>7}  {'price':>8}  title")
    for rank, hit in enumerate(hits, start=start + 1):
        why = hit["explanation"]
        score = why.get("final_score") or why.get("fused_score") or why.get("similarity") or 0.0
        price = "" if hit["price"] is None else f"{hit['price']:.2f}"
        lines.append(f"{rank:>3}  {hit['sku']:<12} {score:>7.4f}  {price:>8}  {hit['title']}")
    for field, values in (data.get("facets") or {}).items():
        shown = ", ".join(
            f"{'*' if v['selected'] else ''}{v['value']} ({v['count']})" for v in values[:12]
        )
        lines.append(f"{field}: {shown}")
    if data.get("price"):
        stats = data["price"]
        if stats.get("count"):
            lines.append(f"price: {stats['min']:.2f}-{stats['max']:.2f} over {stats['count']}")
    return "\n".join(lines)


@main.command("search")
@settings_options
@click.option("--image", help="Query photo: a path or an http(s) URL.")
@click.option("--text", help="Text to match visually (text-to-image; CLIP encoders only).")
@click.option("--image-weight", default=1.0, show_default=True)
@click.option("--text-weight", default=1.0, show_default=True)
@click.option("--keywords", help="Keywords matched (BM25) against title and description.")
@click.option(
    "--filter",
    "filter_specs",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Attribute filter (repeatable; the same field twice means either value).",
)
@click.option("--price-min", type=float)
@click.option("--price-max", type=float)
@click.option("--in-stock/--any-stock", default=None, help="Only products in stock.")
@click.option(
    "--facet",
    "facet_fields",
    multiple=True,
    metavar="FIELD",
    help="Count values of this attribute (repeatable).",
)
@click.option("--k", default=20, show_default=True, help="Results per page.")
@click.option("--page", default=0, show_default=True, help="Page number, from 0.")
@click.option("--candidates", type=int, help="Size of the vector candidate pool (default 200).")
@click.option("--min-score", type=float, help="Minimum cosine similarity of a vector match.")
@click.option("--in-stock-first", is_flag=True, help="Boost: in-stock products first.")
@click.option(
    "--popularity-weight",
    default=0.0,
    show_default=True,
    help="Boost: weight of the normalised popularity field.",
)
@click.option("--device", default=None, help="torch device for the query encoder.")
@click.option("--json", "as_json", is_flag=True, help="Print hits and facets as JSON.")
def search_command(
    settings: Settings,
    image: str | None,
    text: str | None,
    image_weight: float,
    text_weight: float,
    keywords: str | None,
    filter_specs: tuple[str, ...],
    price_min: float | None,
    price_max: float | None,
    in_stock: bool | None,
    facet_fields: tuple[str, ...],
    k: int,
    page: int,
    candidates: int | None,
    min_score: float | None,
    in_stock_first: bool,
    popularity_weight: float,
    device: str | None,
    as_json: bool,
) -> None:
    """Search the catalog by photo, text-to-image, keywords and filters, with facets.

    Without --encoder or VISEARCH_ENCODER, queries use the encoder the index was built with.

    \b
    Example:
      visearch search --image ../shared/data/fashion/images/10000.jpg \\
          --keywords skirt --filter colour_group=White --facet article_type --k 10
    """
    from plugin.errors import SearchError
    from plugin.params import Boosts, SearchParams
    from plugin.search import Searcher

    try:
        params = SearchParams(
            image=image,
            text=text,
            image_weight=image_weight,
            text_weight=text_weight,
            keywords=keywords,
            filters=_parse_filters(filter_specs),
            price_min=price_min,
            price_max=price_max,
            in_stock=in_stock,
            facets=facet_fields,
            k=k,
            page=page,
            candidates=candidates,
            min_score=min_score,
            boosts=Boosts(in_stock_first=in_stock_first, popularity_weight=popularity_weight),
        )
        searcher = Searcher(settings.client(), settings.index)
        if params.has_vector_query:
            searcher.encoder = _query_encoder(settings, searcher, device)
        result = searcher.search(params)
    except (ValueError, SearchError) as error:
        raise click.ClickException(str(error)) from error
    emit(result.as_dict(), as_json, _render_search)


def _query_encoder(settings: Settings, searcher: Any, device: str | None) -> Any:
    """The encoder asked for, or else the one the index was built with."""
    from dataclasses import replace

    built_with = searcher.schema.encoder
    if settings.encoder_given or settings.adapter or not built_with:
        return settings.load_encoder(device=device)
    if "+adapter-" in built_with:
        raise click.ClickException(
            f"index {settings.index} was built with {built_with}: pass --adapter with that "
            "adapter's folder (and --encoder with its base encoder)"
        )
    return replace(settings, encoder=built_with).load_encoder(device=device)


# --------------------------------------------------------------------------- quality


def _render_eval(data: dict[str, Any]) -> str:
    lines = []
    for run in data["runs"]:
        metrics, exact = run["metrics"], run["exact_metrics"]
        names = list(metrics)
        lines.append(f"{run['label'] or 'eval'}: {run['queries']} queries")
        lines.append("  " + "  ".join(f"{name:>9}" for name in ["", *names]))
        lines.append("  " + "  ".join(f"{v:>9}" for v in ["search", *_fmt(metrics, names)]))
        lines.append("  " + "  ".join(f"{v:>9}" for v in ["exact", *_fmt(exact, names)]))
        lines.append(f"  ANN/exact top-10 overlap: {run['ann_exact_overlap_at_10']:.3f}")
        diag = run["diagnostics"]
        lines.append(
            "  colour bias (same colour, other category, top 10): "
            f"{diag['colour_bias']['mean_share_same_colour_other_category_top10']:.3f}; "
            "category purity of top 10: "
            f"{diag['category_collapse']['mean_top10_category_purity']:.3f}; "
            f"leaked queries: {diag['leakage']['queries_matching_a_catalog_photo']}"
        )
        for group, values in run["by_group"].items():
            recalls = ", ".join(f"{k} {v:.2f}" for k, v in values.items() if k.startswith("recall"))
            lines.append(f"    {group:<24} n={values['queries']:<4} {recalls}")
    if data.get("plot"):
        lines.append(f"recall curves: {data['plot']}")
    return "\n".join(lines)


def _fmt(metrics: dict[str, float], names: list[str]) -> list[str]:
    return [f"{metrics.get(name, 0.0):.3f}" for name in names]


@main.command("eval")
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option("--split", help="Only rows whose `split` column has this value (e.g. val).")
@click.option("--group-by", help="Column of the queries file for the per-category breakdown.")
@click.option("--k-max", default=20, show_default=True, help="Deepest K of the recall curve.")
@click.option("--label", default="", help="Name of this run in the table and the plot.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Recall@K curve as a PNG here.",
)
@click.option("--device", default=None, help="torch device for the query encoder.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_command(
    queries: Path,
    settings: Settings,
    split: str | None,
    group_by: str | None,
    k_max: int,
    label: str,
    plot_path: Path | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Measure search quality on labelled queries: Recall@1/5/10/20, MRR, nDCG@10,
    per-category recall, ANN-vs-exact agreement, and failure-mode diagnostics.

    QUERIES is a CSV or JSONL with `image` (or `text`) and `relevant_skus`.

    \b
    Example:
      visearch eval ../shared/data/grocery/queries.csv --split val --plot recall.png
    """
    from plugin.errors import SearchError
    from plugin.search import Searcher
    from quality.evaluate import run_eval
    from quality.plot import plot_recall_curves
    from quality.queries import read_queries

    try:
        wanted = read_queries(queries, split=split, group_by=group_by)
        searcher = Searcher(settings.client(), settings.index)
        searcher.encoder = _query_encoder(settings, searcher, device)
        report = run_eval(searcher, wanted, label=label or searcher.encoder.name, k_max=k_max)
    except (ValueError, SearchError) as error:
        raise click.ClickException(str(error)) from error
    data: dict[str, Any] = {"runs": [report.as_dict()]}
    if plot_path:
        title = f"{settings.index}: {queries.name}" + (f" ({split})" if split else "")
        data["plot"] = str(plot_recall_curves([(report.label, report.curve)], plot_path, title))
    emit(data, as_json, _render_eval)


@main.command("tune")
@click.argument("photos", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the adapter to.",
)
@click.option("--dim", "output_dim", default=256, show_default=True, help="Adapter output size.")
@click.option("--epochs", default=300, show_default=True)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where frozen features are cached (default ~/.cache/visearch/features).",
)
@click.option("--device", default=None, help="torch device for the encoder.")
@click.option("--json", "as_json", is_flag=True, help="Print the training metrics as JSON.")
def tune_command(
    photos: Path,
    settings: Settings,
    out_dir: Path,
    output_dim: int,
    epochs: int,
    cache_dir: Path | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Learn a catalog-tuned adapter from labelled product photos (a CSV of image, sku).

    Ingest and search apply it with --adapter DIR (or VISEARCH_ADAPTER); an index built with
    one adapter refuses queries with another.

    \b
    Example:
      visearch tune ../shared/data/grocery/gallery_natural.csv --encoder efficientnet-lite0 \\
          --out adapters/grocery-v1
    """
    from quality.tune import TuneConfig, cached_features, read_labelled_photos, train_adapter

    if settings.adapter:
        raise click.UsageError("tune learns an adapter on the plain encoder: drop --adapter")
    try:
        labelled = read_labelled_photos(photos)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    encoder = settings.load_encoder(device=device)
    cache = cache_dir or Path.home() / ".cache" / "visearch" / "features"
    features = cached_features(encoder, labelled.images, cache)
    config = TuneConfig(output_dim=min(output_dim, encoder.dim), epochs=epochs)
    adapter, metrics = train_adapter(features, labelled.labels, config, encoder.name)
    adapter.meta["trained_on"] = str(photos.resolve())
    adapter.save(out_dir)
    data = {"adapter": adapter.id, "folder": str(out_dir), **metrics}
    emit(data, as_json, lambda d: "\n".join(f"{key}: {value}" for key, value in d.items()))


if __name__ == "__main__":
    main()
