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
        settings = Settings(opensearch_url=opensearch_url, index=index, encoder=encoder)
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


if __name__ == "__main__":
    main()
