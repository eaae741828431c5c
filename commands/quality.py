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


@click.command("eval")
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
@json_option("the metrics")
def eval_command(
    queries: Path,
    settings: Settings,
    split: str | None,
    group_by: str | None,
    k_max: int,
    label: str,
    plot_path: Path | None,
    as_json: bool,
) -> None:
    """Measure search quality on labelled queries: Recall@1/5/10/20, MRR, nDCG@10,
    per-category recall, ANN-vs-exact agreement, and failure-mode diagnostics.

    QUERIES is a CSV or JSONL with `image` (or `text`) and `relevant_skus`.

    \b
    Example:
      visearch eval ../shared/data/grocery/queries.csv --split val --plot recall.png
    """
    from visearch.commands.messages import fix_it
    from visearch.plugin.errors import SearchError
    from visearch.plugin.search import open_searcher
    from visearch.quality.evaluate import run_eval
    from visearch.quality.plot import plot_recall_curves
    from visearch.quality.queries import read_queries
    from visearch.vectors.encoders import EncoderError

    try:
        wanted = read_queries(queries, split=split, group_by=group_by)
        searcher = open_searcher(
            settings.client(),
            settings.index,
            load_encoder=settings.encoder_loader(),
            requested=settings.encoder,
            default=DEFAULT_ENCODER,
        )
        name = searcher.encoder.name if searcher.encoder else ""
        report = run_eval(searcher, wanted, label=label or name, k_max=k_max)
    except (ValueError, SearchError, EncoderError) as error:
        raise click.ClickException(fix_it(error)) from error
    data: dict[str, Any] = {"runs": [report.as_dict()]}
    if plot_path:
        title = f"{settings.index}: {queries.name}" + (f" ({split})" if split else "")
        data["plot"] = str(plot_recall_curves([(report.label, report.curve)], plot_path, title))
    emit(data, as_json, render_eval)


@click.command("tune")
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
@json_option("the training metrics")
def tune_command(
    photos: Path,
    settings: Settings,
    out_dir: Path,
    output_dim: int,
    epochs: int,
    cache_dir: Path | None,
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
    from visearch.commands.messages import fix_it
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
        encoder = settings.encoder_loader()(settings.encoder or DEFAULT_ENCODER)
    except (ValueError, EncoderError) as error:
        raise click.ClickException(fix_it(error)) from error
    cache = cache_dir or Path.home() / ".cache" / "visearch" / "features"
    features = cached_features(encoder, labelled.images, cache)
    config = TuneConfig(output_dim=min(output_dim, encoder.dim), epochs=epochs)
    adapter, metrics = train_adapter(features, labelled.labels, config, encoder.name)
    adapter.meta["trained_on"] = str(photos.resolve())
    adapter.save(out_dir)
    data = {"adapter": adapter.id, "folder": str(out_dir), **metrics}
    emit(data, as_json, lambda d: "\n".join(f"{key}: {value}" for key, value in d.items()))
