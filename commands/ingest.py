"""`visearch ingest`: parse, run the library's ingest, print the summary, exit with its code."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from visearch.commands.options import (
    DEFAULT_ENCODER,
    Settings,
    index_layout_options,
    json_option,
    settings_options,
)
from visearch.commands.progress import note

# Exit codes of `visearch ingest`, documented in the README.
EXIT_OK, EXIT_ROW_FAILURES, EXIT_USAGE, EXIT_DELETE_REFUSED, EXIT_LOCKED, EXIT_FATAL = range(6)
COUNTERS = ("read", "embedded", "unchanged", "updated", "deleted", "failed", "copied")


def parse_mapping(specs: tuple[str, ...]) -> dict[str, str]:
    """`("colour=baseColour",)` -> `{"colour": "baseColour"}` (our field -> catalog column)."""
    mapping: dict[str, str] = {}
    for spec in specs:
        name, sep, column = spec.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise click.BadParameter(
                f"{spec!r} is not FIELD=COLUMN, e.g. colour=Color", param_hint="--map"
            )
        if mapping.setdefault(name.strip(), column.strip()) != column.strip():
            raise click.BadParameter(f"field {name.strip()!r} is mapped twice", param_hint="--map")
    return mapping


def render(data: dict[str, Any]) -> str:
    from visearch.commands.messages import refusal_message
    from visearch.ingest.plan import DeleteRefusal

    counts = ", ".join(f"{name} {data[name]}" for name in COUNTERS)
    what = "dry run (nothing written)" if data.get("dry_run") else data["index"]
    lines = [f"{data['alias']} -> {what}: {counts} in {data['seconds']:.1f}s"]
    if data.get("swapped_from"):
        lines.append(f"alias swapped from {data['swapped_from']} (kept as previous)")
    for failure in data.get("top_failures", []):
        example = failure["example"]
        where = f"line {example['line']}, sku {example['sku']}"
        lines.append(f"  {failure['count']} x {failure['reason']}  (e.g. {where})")
    if refused := data.get("deletions_refused"):
        lines.append(f"deletions refused: {refusal_message(DeleteRefusal(**refused))}")
    if data.get("report"):
        lines.append(f"error report: {data['report']}")
    return "\n".join(lines)


@click.command("ingest", short_help="Index a catalog: embed what changed, update, delete.")
@click.argument("catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option("--rebuild", is_flag=True, help="Build a new versioned index and swap the alias.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Read, validate and plan against the index; embed and write nothing.",
)
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
    type=click.Choice(["csv", "tsv", "jsonl"]),
    help="Catalog format (default: from the file extension).",
)
@click.option(
    "--images-root",
    "image_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Another folder local images may be read from (repeatable); by default only the "
    "catalog's folder (and the photos file's).",
)
@click.option(
    "--allow-image-host",
    "image_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Fetch image URLs from this host although it is not public, e.g. an internal "
    "image server (repeatable); other URLs must resolve to public addresses.",
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
@index_layout_options
@click.option("--hnsw-m", default=16, show_default=True, help="HNSW m for new indices.")
@click.option(
    "--hnsw-ef-construction",
    default=128,
    show_default=True,
    help="HNSW ef_construction for new indices.",
)
@click.option(
    "--lock-ttl",
    default=60.0,
    show_default=True,
    help="Seconds after which the cluster lock of a run that stopped renewing it (killed) "
    "may be taken over.",
)
@click.option(
    "--merge",
    is_flag=True,
    help="Force-merge a new index (first build or --rebuild) to one segment before it "
    "serves: faster kNN queries, a longer build.",
)
@click.option("--quiet", is_flag=True, help="No progress bar (it is off anyway when not a tty).")
@json_option("the summary")
def ingest_command(catalog: Path, settings: Settings, **flags: Any) -> None:
    """Index a product catalog (CSV or JSONL): embed new or changed images, update changed
    text, delete products that left the catalog.

    Without --encoder or VISEARCH_ENCODER, a rerun uses the encoder the index was built with.

    \b
    Exit codes: 0 all records indexed; 1 some records failed (see --report);
    2 usage error; 3 deletions refused by the guard; 4 another ingest is running;
    5 fatal (OpenSearch unreachable, unusable catalog, encoder mismatch).

    \b
    Example:
      VISEARCH_ENCODER=efficientnet-lite0 visearch ingest ../shared/data/fashion/catalog.csv \\
          --report errors.jsonl
    """
    from visearch.commands.messages import fix_it
    from visearch.ingest.catalog import CatalogError
    from visearch.ingest.lock import LockedError
    from visearch.ingest.summary import IngestSummary

    options = _options(flags)
    client = settings.client(timeout_s=60)
    summary = IngestSummary(alias=settings.index)
    try:
        stream = _open_catalog(catalog, flags)
        spec = _encoder_spec(client, settings)
        encoder_name = _encoder_name(spec, settings)
        shown = _Shown(catalog, flags)
        try:
            _run(client, stream, settings, spec, encoder_name, options, shown, summary)
        finally:
            shown.close()
    except Exception as error:  # noqa: BLE001 - cron needs one clear line, not a traceback
        code = EXIT_LOCKED if isinstance(error, LockedError) else EXIT_FATAL
        prefix = "" if isinstance(error, LockedError | CatalogError) else "ingest failed: "
        _report(summary, flags, error=f"{prefix}{fix_it(error, settings)}", code=code)
    _report(summary, flags)


def _options(flags: dict[str, Any]) -> Any:
    from visearch.ingest.bulk import BulkConfig
    from visearch.ingest.lock import LockSettings
    from visearch.ingest.pipeline import IngestOptions

    if min(flags["batch_size"], flags["workers"], flags["bulk_chunk_size"]) < 1:
        raise click.UsageError("--batch-size, --workers and --bulk-chunk-size must be at least 1")
    if not 0 <= flags["max_delete_fraction"] <= 1:
        raise click.UsageError("--max-delete-fraction must be between 0 and 1")
    if flags["lock_ttl"] <= 0:
        raise click.UsageError("--lock-ttl must be positive")
    return IngestOptions(
        lock=LockSettings(ttl_s=flags["lock_ttl"]),
        image_roots=tuple(flags["image_roots"]),
        image_hosts=tuple(flags["image_hosts"]),
        rebuild=flags["rebuild"],
        dry_run=flags["dry_run"],
        batch_size=flags["batch_size"],
        workers=flags["workers"],
        max_delete_fraction=flags["max_delete_fraction"],
        force_delete=flags["force_delete"],
        hnsw_m=flags["hnsw_m"],
        hnsw_ef_construction=flags["hnsw_ef_construction"],
        shards=flags["shards"],
        replicas=flags["replicas"],
        bulk=BulkConfig(chunk_size=flags["bulk_chunk_size"]),
        merge=flags["merge"],
    )


def _open_catalog(catalog: Path, flags: dict[str, Any]) -> Any:
    from visearch.ingest.catalog import CatalogSource, load_mapping_file, open_catalog

    from_file = load_mapping_file(flags["map_file"]) if flags["map_file"] else {}
    mapping = {**from_file, **parse_mapping(flags["mapping"])}
    return open_catalog(CatalogSource(catalog, mapping, flags["fmt"], flags["photos_file"]))


def _encoder_spec(client: Any, settings: Settings) -> str:
    """The encoder asked for, else the one the live index records, else the default."""
    from visearch.ingest.stored import alias_encoder
    from visearch.vectors.load import choose_spec

    recorded = None if settings.encoder else alias_encoder(client, settings.index)
    return str(choose_spec(recorded, settings.encoder, DEFAULT_ENCODER))


def _encoder_name(spec: str, settings: Settings) -> str:
    from visearch.vectors import encoder_name

    return encoder_name(spec, settings.adapter)


def _run(
    client: Any,
    stream: Any,
    settings: Settings,
    spec: str,
    name: str,
    options: Any,
    shown: _Shown,
    summary: Any,
) -> Any:
    from dataclasses import replace

    from visearch.ingest.pipeline import run_ingest

    load = settings.encoder_loader(batch_size=options.batch_size)

    def load_labelled() -> Any:
        with shown.loading(f"loading encoder {name}"):
            return load(spec)

    options = replace(options, progress=shown.advance)
    return run_ingest(client, stream, settings.index, name, load_labelled, options, summary)


class _Shown:
    """What ingest shows while it runs: a bar on a terminal (its total counted from the
    catalog's lines), else nothing but a note when the model loads; nothing under --quiet
    or --json."""

    def __init__(self, catalog: Path, flags: dict[str, Any]) -> None:
        self._quiet = flags["quiet"] or flags["as_json"]
        self._bar: Any = None
        if self._quiet or not sys.stderr.isatty():
            return
        from tqdm import tqdm

        total = None  # a pipe can be read only once: no total, no ETA
        if catalog.is_file():
            with catalog.open("rb") as handle:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
            total = max(lines - (0 if catalog.suffix.lower() in (".jsonl", ".ndjson") else 1), 0)
        self._bar = tqdm(total=total, unit="product", dynamic_ncols=True)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    @contextmanager
    def loading(self, label: str) -> Iterator[None]:
        if self._bar is not None:
            self._bar.set_postfix_str(label + " ...")
        elif not self._quiet:
            note(label + " ...")
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.set_postfix_str("")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _report(summary: Any, flags: dict[str, Any], error: str | None = None, code: int = 0) -> None:
    """The summary (with `error` when the run failed), the error report and the exit code:
    written whatever happened, so cron always leaves a record."""
    data = summary.as_dict()
    if error is not None:
        data["error"] = error
    if flags["report_path"] is not None:
        with flags["report_path"].open("w", encoding="utf-8") as handle:
            for row in summary.errors:
                handle.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
        data["report"] = str(flags["report_path"])
    if flags["summary_path"] is not None:
        flags["summary_path"].write_text(json.dumps(data, indent=2) + "\n")
    if flags["as_json"]:
        click.echo(json.dumps(data, indent=2))
    elif error is None:
        click.echo(render(data))
    if error is not None:
        _fail(error, code)
    if summary.deletions_refused:
        sys.exit(EXIT_DELETE_REFUSED)
    if summary.failed:
        sys.exit(EXIT_ROW_FAILURES)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)
