"""Baseline vs catalog-tuned recall on the grocery benchmark, one-photo and multi-photo gallery.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/grocery_quality.py [--adapter DIR] [--json]

1. `visearch tune` on gallery_natural (in-store photos labelled by sku; never the val queries),
   unless --adapter names one already trained.
2. Four indices through the real ingest: (a) the one-photo gallery and (b) the gallery plus
   the gallery_natural photos as extra product photos, each with the plain EfficientNet-Lite0
   and with the adapter.
3. `run_eval` (the code behind `visearch eval`) on the 296 val queries of each, a table, the
   JSON, one PNG with the four Recall@K curves, the categories that tuning made worse (and
   better) on each gallery, and a contact sheet of the baseline's worst queries
   (docs/failure-sheet.png).
Reruns are incremental: indices that already hold the right vectors are not re-embedded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
GROCERY = REPO_ROOT.parent / "shared" / "data" / "grocery"
ENCODER = "efficientnet-lite0"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, help="Use this adapter instead of training one.")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts" / "grocery-quality")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "docs" / "quality-recall.png")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def get_adapter(args: argparse.Namespace, base: Any) -> tuple[Any, float | None]:
    """(adapter, seconds spent tuning it, features included): `--adapter`, or one trained on
    gallery_natural and saved under `--out`/adapter (tune seconds None when loaded)."""
    from visearch.quality.tune import (
        TuneConfig,
        cached_features,
        read_labelled_photos,
        train_adapter,
    )
    from visearch.vectors.adapter import Adapter

    if args.adapter:
        return Adapter.load(args.adapter), None
    started = time.perf_counter()
    labelled = read_labelled_photos(GROCERY / "gallery_natural.csv")
    cache = Path.home() / ".cache" / "visearch" / "features"
    features = cached_features(base, labelled.images, cache)
    adapter, _ = train_adapter(labelled, features, TuneConfig(), base.name)
    adapter.save(args.out / "adapter")
    return adapter, round(time.perf_counter() - started, 1)


def galleries() -> tuple[tuple[str, Any], ...]:
    """(a) the one-photo gallery, (b) the gallery plus the gallery_natural photos."""
    from visearch.ingest.catalog import CatalogSource

    one_photo = CatalogSource(GROCERY / "gallery.csv")
    with_natural = CatalogSource(GROCERY / "gallery.csv", photos=GROCERY / "gallery_natural.csv")
    return (("a", one_photo), ("b", with_natural))


def evaluate_runs(
    client: Any, sources: tuple[tuple[str, Any], ...], encoders: tuple, queries: Any
) -> list[Any]:
    """Ingest each gallery with each (label, encoder), then `run_eval` on the queries."""
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.ingest.stored import alias_encoder
    from visearch.plugin.search import Searcher
    from visearch.quality.evaluate import run_eval

    runs = []
    for gallery_name, catalog in sources:
        for label, encoder in encoders:
            alias = f"bench-grocery-{gallery_name}-{label}"
            recorded = alias_encoder(client, alias)  # a new adapter: rebuild, else a rerun
            options = IngestOptions(rebuild=recorded not in (None, encoder.name))
            run_ingest(client, catalog, alias, encoder.name, lambda e=encoder: e, options)
            report = run_eval(
                Searcher(client, alias, encoder), queries, label=f"({gallery_name}) {label}"
            )
            runs.append(report)
    return runs


def category_changes(runs: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Per gallery, every category whose R@1 changed from baseline to tuned, worst first."""
    from visearch.quality.compare import regressions

    changes = {}
    for gallery_name in ("a", "b"):
        base = next(r for r in runs if r.label == f"({gallery_name}) baseline").by_group
        tuned = next(r for r in runs if r.label == f"({gallery_name}) tuned").by_group
        worse = regressions(tuned, base)
        better = [
            {"category": row["category"], "queries": row["queries"], "before": row["after"],
             "after": row["before"], "change": -row["change"]}
            for row in regressions(base, tuned)
        ]  # fmt: skip
        changes[gallery_name] = worse + sorted(better, key=lambda row: -row["change"])
    return changes


def print_table(result: dict[str, Any], runs: list[Any], plot: Path) -> None:
    queries, adapter, tune_seconds = result["queries"], result["adapter"], result["tune_seconds"]
    print(f"{queries} val queries; adapter {adapter} (tuned in {tune_seconds} s)")
    print(f"{'run':<16} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'R@20':>6} {'MRR':>6}  exact R@1")
    for r in runs:
        m = r.metrics
        print(
            f"{r.label:<16} {m['recall@1']:6.3f} {m['recall@5']:6.3f} {m['recall@10']:6.3f} "
            f"{m['recall@20']:6.3f} {m['mrr']:6.3f}  {r.exact_metrics['recall@1']:.3f}"
        )
    for gallery_name in ("a", "b"):
        base_r1 = next(r for r in runs if r.label == f"({gallery_name}) baseline").metrics
        tuned_r1 = next(r for r in runs if r.label == f"({gallery_name}) tuned").metrics
        gain = 100 * (tuned_r1["recall@1"] - base_r1["recall@1"])
        print(f"({gallery_name}) tuned - baseline R@1: {gain:+.1f} points")
        for row in result["category_changes"][gallery_name]:
            print(f"    {row['category']:<22} n={row['queries']:<3} R@1 {row['before']:.2f} -> "
                  f"{row['after']:.2f} ({row['change']:+.2f})")  # fmt: skip
    print(f"curves: {plot}; worst baseline queries: {result['sheet']}")


def failure_sheet(client: Any, runs: list[Any]) -> Path:
    """The baseline one-photo gallery's worst queries beside their top hits."""
    from visearch.quality.catalog_vectors import load_catalog_vectors
    from visearch.quality.contact_sheet import contact_sheet

    run = next(r for r in runs if r.label == "(a) baseline")
    catalog = load_catalog_vectors(client, "bench-grocery-a-baseline")
    return contact_sheet(run.failures, catalog, GROCERY, REPO_ROOT / "docs" / "failure-sheet.png",
                         worst=8)  # fmt: skip


def main() -> None:
    args = parse_args()

    from visearch.engine.connection import make_client
    from visearch.quality.plot import plot_recall_curves
    from visearch.quality.queries import read_queries
    from visearch.vectors import load_encoder
    from visearch.vectors.adapter import AdaptedEncoder

    client = make_client(args.opensearch_url, timeout_s=120)
    base = load_encoder(ENCODER)
    adapter, tune_seconds = get_adapter(args, base)
    tuned = AdaptedEncoder(base, adapter)

    sources = galleries()
    queries = read_queries(GROCERY / "queries.csv", split="val")
    runs = evaluate_runs(client, sources, (("baseline", base), ("tuned", tuned)), queries)

    result = {
        "adapter": adapter.id,
        "tune_seconds": tune_seconds,
        "tune_metrics": adapter.meta.get("metrics"),
        "queries": len(queries),
        "runs": {r.label: r.as_dict() for r in runs},
        "category_changes": category_changes(runs),
        "sheet": str(failure_sheet(client, runs)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_recall_curves([(r.label, r.curve) for r in runs], args.plot, "grocery val: Recall@K")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print_table(result, runs, args.plot)


if __name__ == "__main__":
    main()
