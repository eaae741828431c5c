"""Baseline vs catalog-tuned recall on the grocery benchmark, one-photo and multi-photo gallery.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/grocery_quality.py [--adapter DIR] [--json]

1. `visearch tune` on gallery_natural (in-store photos labelled by sku; never the val queries),
   unless --adapter names one already trained.
2. Four indices through the real ingest: (a) the one-photo gallery and (b) the gallery plus
   the gallery_natural photos as extra product photos, each with the plain EfficientNet-Lite0
   and with the adapter.
3. `run_eval` (the code behind `visearch eval`) on the 296 val queries of each, a table, the
   JSON, and one PNG with the four Recall@K curves.
Reruns are incremental: indices that already hold the right vectors are not re-embedded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cli import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
GROCERY = REPO_ROOT.parent / "shared" / "data" / "grocery"
ENCODER = "efficientnet-lite0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, help="Use this adapter instead of training one.")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artifacts" / "grocery-quality")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "docs" / "quality-recall.png")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from ingest.catalog import read_catalog
    from ingest.encoders import load_encoder
    from ingest.photos import attach_photos
    from ingest.pipeline import run_ingest
    from plugin.connection import make_client
    from plugin.search import Searcher
    from quality.adapter import AdaptedEncoder, Adapter
    from quality.evaluate import run_eval
    from quality.plot import plot_recall_curves
    from quality.queries import read_queries
    from quality.tune import TuneConfig, cached_features, read_labelled_photos, train_adapter

    client = make_client(args.opensearch_url, timeout_s=120)
    base = load_encoder(ENCODER)
    tune_seconds = None
    if args.adapter:
        adapter = Adapter.load(args.adapter)
    else:
        started = time.perf_counter()
        labelled = read_labelled_photos(GROCERY / "gallery_natural.csv")
        cache = Path.home() / ".cache" / "visearch" / "features"
        features = cached_features(base, labelled.images, cache)
        adapter, _ = train_adapter(features, labelled.labels, TuneConfig(), base.name)
        adapter.save(args.out / "adapter")
        tune_seconds = round(time.perf_counter() - started, 1)
    tuned = AdaptedEncoder(base, adapter)

    one_photo = read_catalog(GROCERY / "gallery.csv")
    with_natural = attach_photos(one_photo, GROCERY / "gallery_natural.csv")
    queries = read_queries(GROCERY / "queries.csv", split="val")
    runs = []
    for gallery_name, catalog in (("a", one_photo), ("b", with_natural)):
        for label, encoder in (("baseline", base), ("tuned", tuned)):
            alias = f"bench-grocery-{gallery_name}-{label}"
            run_ingest(client, catalog, GROCERY, alias, encoder.name, lambda e=encoder: e)
            report = run_eval(
                Searcher(client, alias, encoder), queries, label=f"({gallery_name}) {label}"
            )
            runs.append(report)

    result = {
        "adapter": adapter.id,
        "tune_seconds": tune_seconds,
        "queries": len(queries),
        "runs": {r.label: r.as_dict() for r in runs},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_recall_curves([(r.label, r.curve) for r in runs], args.plot, "grocery val: Recall@K")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{len(queries)} val queries; adapter {adapter.id} (tuned in {tune_seconds} s)")
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
    print(f"curves: {args.plot}")


if __name__ == "__main__":
    main()
