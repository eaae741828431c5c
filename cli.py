"""`visearch`: the command line. It parses, calls the library, and turns errors into messages.

Configuration lives here and only here: environment variables give the defaults, flags
override them, and the library receives plain values and a client.
"""

from __future__ import annotations

import functools
import json
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


@dataclass(frozen=True)
class Settings:
    """What every command may need: where OpenSearch is, which alias, which encoder."""

    opensearch_url: str = DEFAULT_URL
    index: str = DEFAULT_INDEX
    encoder: str = DEFAULT_ENCODER
    encoder_given: bool = False  # by flag or environment, rather than the built-in default

    def client(self):  # noqa: ANN201 - opensearchpy is imported lazily to keep --help fast
        from plugin.connection import make_client

        return make_client(self.opensearch_url)


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
    @functools.wraps(command)
    def wrapper(*args: Any, opensearch_url: str, index: str, encoder: str, **kwargs: Any) -> Any:
        source = click.get_current_context().get_parameter_source("encoder")
        settings = Settings(
            opensearch_url=opensearch_url,
            index=index,
            encoder=encoder.strip(),
            encoder_given=source is not click.core.ParameterSource.DEFAULT,
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
    return f"OpenSearch {data['status']} at {data['url']} (pid {data['pid']}; plugins: {plugins})"


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
    from ingest.encoders import load_encoder
    from ingest.lock import LockedError, default_lock_path, ingest_lock
    from ingest.pipeline import IngestOptions, run_ingest

    if min(batch_size, workers, bulk_chunk_size) < 1:
        raise click.UsageError("--batch-size, --workers and --bulk-chunk-size must be at least 1")
    if not 0 <= max_delete_fraction <= 1:
        raise click.UsageError("--max-delete-fraction must be between 0 and 1")
    try:
        columns = {**(load_mapping_file(map_file) if map_file else {}), **parse_mapping(mapping)}
        catalog_read = read_catalog(catalog, columns, fmt)
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
    encoder_name = settings.encoder.strip()
    lock_path = lock_file or default_lock_path(settings.opensearch_url, settings.index)
    try:
        with ingest_lock(lock_path):
            summary = run_ingest(
                settings.client(),
                catalog_read,
                catalog.resolve().parent,
                settings.index,
                encoder_name,
                lambda: load_encoder(encoder_name, device=device, batch_size=batch_size),
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
    from ingest.encoders import load_encoder

    spec = settings.encoder
    if not settings.encoder_given and searcher.schema.encoder:
        spec = searcher.schema.encoder
    return load_encoder(spec, device=device)


if __name__ == "__main__":
    main()
