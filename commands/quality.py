"""`visearch eval` and `visearch tune`: search quality measured, and a catalog-tuned adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from visearch.commands.options import (
    DEFAULT_ENCODER,
    Settings,
    emit,
    json_option,
    settings_options,
)


def render_eval(data: dict[str, Any]) -> str:
    lines = []
    for run in data["runs"]:
        lines += _render_run(run)
    for row in data.get("categories_worse", []):
        lines.append(
            f"  worse than the baseline: {row['category']} (n={row['queries']}) "
            f"R@1 {row['before']:.2f} -> {row['after']:.2f}"
        )
    if data.get("plot"):
        lines.append(f"recall curves: {data['plot']}")
    if data.get("sheet"):
        lines.append(f"worst queries, with their top hits: {data['sheet']}")
    return "\n".join(lines)


def _render_run(run: dict[str, Any]) -> list[str]:
    metrics, exact = run["metrics"], run["exact_metrics"]
    names = list(metrics)
    seconds = run.get("seconds", {})
    lines = [
        f"{run['label'] or 'eval'}: {run['queries']} queries in {seconds.get('total', 0):.1f} s"
    ]
    lines.append("  " + "  ".join(f"{name:>9}" for name in ["", *names]))
    lines.append("  " + "  ".join(f"{v:>9}" for v in ["search", *_fmt(metrics, names)]))
    lines.append("  " + "  ".join(f"{v:>9}" for v in ["exact", *_fmt(exact, names)]))
    lines.append(f"  ANN/exact top-10 overlap: {run['ann_exact_overlap_at_10']:.3f}")
    diag = run["diagnostics"]
    bias = diag["colour_bias"]
    measured = bias["mean_share_same_colour_other_category_top10"]
    colour = f"{measured:.3f}" if measured is not None else f"n/a ({bias['not_measured']})"
    leakage = diag["leakage"]
    lines.append(
        f"  colour bias (same colour, other category, top 10): {colour}; category purity of "
        f"top 10: {diag['category_collapse']['mean_top10_category_purity']:.3f}"
    )
    lines.append(
        f"  leaked queries: {leakage['queries_matching_a_catalog_photo']} "
        + ", ".join(f"{rule} {n}" for rule, n in leakage["by_rule"].items())
    )
    lines.append(f"  categories, worst first ({len(run['by_group'])}):")
    for group, values in list(run["by_group"].items())[:15]:
        recalls = ", ".join(f"{k} {v:.2f}" for k, v in values.items() if k.startswith("recall"))
        lines.append(f"    {group:<24} n={values['queries']:<4} {recalls}")
    lines.append(f"  failing queries (wrong first hit): {len(run['failures'])}")
    return lines


def _fmt(metrics: dict[str, float], names: list[str]) -> list[str]:
    return [f"{metrics.get(name, 0.0):.3f}" for name in names]


@click.command("eval", short_help="Measure search quality on labelled queries.")
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
@click.option(
    "--sheet",
    "sheet_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a contact sheet PNG of the worst failing queries here.",
)
@click.option("--worst", default=10, show_default=True, help="Failing queries on the sheet.")
@click.option(
    "--images-base",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The catalog's folder (its photo paths are relative to it): for the sheet, "
    "and the near-duplicate check of an index built with an adapter.",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved `eval --json` run: list the categories that got worse since.",
)
@json_option("the metrics")
def eval_command(queries: Path, settings: Settings, as_json: bool, **options: Any) -> None:
    """Measure search quality on labelled queries: Recall@K, MRR, nDCG@10, categories worst
    first, failing queries, ANN-vs-exact agreement and failure diagnostics.

    QUERIES is a CSV or JSONL with `image` (or `text`) and `relevant_skus`.

    \b
    Example:
      visearch eval ../shared/data/grocery/queries.csv --split val --plot recall.png \\
          --images-base ../shared/data/grocery --sheet worst.png
    """
    from visearch.commands.messages import fix_it
    from visearch.plugin.errors import SearchError
    from visearch.vectors.encoders import EncoderError

    try:
        data = _evaluate(queries, settings, options)
    except (ValueError, SearchError, EncoderError, OSError) as error:
        raise click.ClickException(fix_it(error, settings)) from error
    emit(data, as_json, render_eval)


def _evaluate(queries: Path, settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    from visearch.commands.progress import progress
    from visearch.quality.evaluate import run_eval
    from visearch.quality.queries import read_queries

    wanted = read_queries(queries, split=options["split"], group_by=options["group_by"])
    reranker = settings.load_reranker()  # a bad file fails before the model loads
    searcher = _index_searcher(settings)
    name = options["label"] or (searcher.encoder.name if searcher.encoder else "")
    # With a re-ranker, the same queries run without and with it: two runs side by side.
    runs = [(searcher, name)]
    if reranker is not None:
        runs.append((searcher.with_reranker(reranker), f"{name} + re-ranker"))
    reports = []
    for run_searcher, label in runs:
        with progress(len(wanted), "query", "eval", plural="queries") as advance:
            reports.append(
                run_eval(
                    run_searcher,
                    wanted,
                    label=label,
                    k_max=options["k_max"],
                    images_base=options["images_base"],
                    progress=advance,
                )
            )
    return _outputs(reports, queries, settings, options)


def _index_searcher(settings: Settings) -> Any:
    """A searcher on the index with the encoder it was built with (eval, tune's re-ranker)."""
    from visearch.commands.progress import note
    from visearch.plugin.search import open_searcher

    note(f"loading the encoder of {settings.index!r} ...")
    return open_searcher(
        settings.client(),
        settings.index,
        load_encoder=settings.encoder_loader(),
        requested=settings.encoder,
        default=DEFAULT_ENCODER,
    )


def _outputs(
    reports: list[Any], queries: Path, settings: Settings, options: dict[str, Any]
) -> dict:
    """The runs' JSON, and for the last run (the re-ranked one, when there are two) the
    regressions, plot and contact sheet asked for; the plot shows every run's curve."""
    import json

    from visearch.quality.compare import baseline_groups, regressions
    from visearch.quality.contact_sheet import contact_sheet
    from visearch.quality.plot import plot_recall_curves

    report = reports[-1]
    data: dict[str, Any] = {"runs": [r.as_dict() for r in reports]}
    if options["baseline"] is not None:
        before = baseline_groups(json.loads(options["baseline"].read_text()))
        data["categories_worse"] = regressions(report.by_group, before)
    if options["plot_path"]:
        split = options["split"]
        title = f"{settings.index}: {queries.name}" + (f" ({split})" if split else "")
        curves = [(r.label, r.curve) for r in reports]
        data["plot"] = str(plot_recall_curves(curves, options["plot_path"], title))
    if options["sheet_path"]:
        from visearch.quality.catalog_vectors import load_catalog_vectors

        catalog = load_catalog_vectors(settings.client(), settings.index)
        sheet = contact_sheet(
            report.failures,
            catalog,
            options["images_base"],
            options["sheet_path"],
            options["worst"],
        )
        data["sheet"] = str(sheet)
    return data


@click.command("tune", short_help="Learn a catalog-tuned adapter or a re-ranker.")
@click.argument("photos", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@settings_options
@click.option(
    "--train",
    type=click.Choice(["adapter", "reranker"]),
    default="adapter",
    show_default=True,
    help="adapter: from labelled product photos; reranker: from labelled queries searched "
    "against --index.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the adapter or re-ranker to.",
)
@click.option("--split", help="Re-ranker: only query rows whose `split` column has this value.")
@click.option("--dim", "output_dim", default=256, show_default=True, help="Adapter output size.")
@click.option("--epochs", default=300, show_default=True)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where frozen features are cached (default ~/.cache/visearch/features).",
)
@json_option("the training metrics")
def tune_command(
    photos: Path,
    settings: Settings,
    train: str,
    out_dir: Path,
    split: str | None,
    output_dim: int,
    epochs: int,
    cache_dir: Path | None,
    as_json: bool,
) -> None:
    """Learn a catalog-tuned adapter from labelled product photos (a CSV of image, sku), or
    with --train reranker a re-ranker from labelled queries (eval's format: image or text,
    relevant_skus) searched against the index.

    Ingest and search apply an adapter with --adapter DIR (or VISEARCH_ADAPTER); an index
    built with one adapter refuses queries with another. search, serve and eval apply a
    re-ranker with --reranker DIR (or VISEARCH_RERANKER); eval then reports without and with.

    \b
    Example:
      visearch tune ../shared/data/grocery/gallery_natural.csv --encoder efficientnet-lite0 \\
          --out adapters/grocery-v1
      visearch tune ../shared/data/grocery/queries.csv --split val --train reranker \\
          --out rerankers/grocery-v1
    """
    if train == "reranker":
        emit(_tune_reranker(photos, settings, out_dir, split), as_json, render_tune)
        return
    from visearch.commands.messages import fix_it
    from visearch.commands.progress import note
    from visearch.quality.tune import (
        TuneConfig,
        cached_features,
        read_labelled_photos,
        train_adapter,
    )
    from visearch.vectors.encoders import EncoderError

    if settings.adapter:
        raise click.UsageError("tune learns an adapter on the plain encoder: drop --adapter")
    try:
        labelled = read_labelled_photos(photos)
        spec = settings.encoder or DEFAULT_ENCODER
        note(f"loading encoder {spec} ...")
        encoder = settings.encoder_loader()(spec)
    except (ValueError, EncoderError) as error:
        raise click.ClickException(fix_it(error, settings)) from error
    cache = cache_dir or Path.home() / ".cache" / "visearch" / "features"
    features = cached_features(encoder, labelled.images, cache, progress=note)
    config = TuneConfig(output_dim=min(output_dim, encoder.dim), epochs=epochs)
    adapter, metrics = train_adapter(labelled, features, config, encoder.name, progress=note)
    adapter.meta["trained_on"] = str(photos.resolve())
    adapter.save(out_dir)
    data = {"adapter": adapter.id, "folder": str(out_dir), **metrics}
    emit(data, as_json, render_tune)


def _tune_reranker(
    queries: Path, settings: Settings, out_dir: Path, split: str | None
) -> dict[str, Any]:
    """Search the labelled queries, fit the re-ranker, save it with its cross-validated
    Recall@1 without and with it, and say whether it helps."""
    from dataclasses import replace

    from visearch.commands.messages import fix_it
    from visearch.commands.progress import progress
    from visearch.plugin.errors import SearchError
    from visearch.quality.queries import read_queries
    from visearch.quality.rerank_training import collect, train
    from visearch.vectors.encoders import EncoderError

    try:
        wanted = read_queries(queries, split=split)
        searcher = _index_searcher(settings)
        with progress(len(wanted), "query", "search", plural="queries") as advance:
            lists, leaked = collect(searcher, wanted, progress=advance)
        reranker, metrics = train(lists, searcher.schema.encoder or "")
        reranker.check_index(searcher.schema)  # the index can use it (photo centroids)
    except (ValueError, SearchError, EncoderError, OSError) as error:
        raise click.ClickException(fix_it(error, settings)) from error
    gain = metrics["cv_recall_at_1_with"] - metrics["cv_recall_at_1_without"]
    meta = {"trained_on": str(queries.resolve()), "index": settings.index, **metrics}
    saved = replace(reranker, meta=meta).save(out_dir)
    return {
        "reranker": str(saved),
        "leaked_queries_left_out": leaked,
        **metrics,
        "verdict": "helps: use it with --reranker"
        if gain > 0
        else "does not help on these queries: leave it off",
    }


def render_tune(data: dict[str, Any]) -> str:
    lines = [f"{key}: {value}" for key, value in data.items() if key != "categories_worse"]
    worse = data.get("categories_worse") or []
    lines.append(f"categories worse on the hold-out after tuning: {len(worse)}")
    lines += [
        f"  {row['category']} (n={row['queries']}): R@1 {row['before']:.2f} -> {row['after']:.2f}"
        for row in worse
    ]
    return "\n".join(lines)
