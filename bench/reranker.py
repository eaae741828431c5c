"""The learned re-ranker on grocery val, through the real search: Recall@1 without and with it.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/reranker.py [--runtime onnx] [--json]

1. Two galleries through the real ingest (rebuilt when they predate photo centroids):
   (a) one clean photo per product, (b) the clean photo plus the gallery_natural photos
   (17-71 photos per product).
2. The 296 val queries through `Searcher.search_batch` (the real request), top 100 each.
3. 5-fold cross-validation (quality/rerank_training.py: the code behind `visearch tune
   --train reranker`): each query is re-ranked by a model that never saw it. Printed:
   Recall@1 without and with, per gallery.
4. The re-ranking step's own cost for N = 100 (median and p95 of `plugin.rerank.rerank` over
   repeated calls on real candidate lists), and the search's OpenSearch time with the overall-
   look script field against without it, same queries, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
GROCERY = REPO_ROOT.parent / "shared" / "data" / "grocery"
ENCODER = "efficientnet-lite0"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="onnx", help="Encoder runtime (vectors/runtimes).")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def gallery_searcher(client: Any, name: str, source: Any, encoder: Any) -> Any:
    """The gallery's alias through the real ingest; rebuilt once if it lacks centroids."""
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.plugin.search import Searcher

    alias = f"bench-rerank-{name}"
    searcher = Searcher(client, alias, encoder)
    try:
        rebuild = not searcher.schema.centroid
    except Exception:  # noqa: BLE001 - no index yet: the ingest creates it
        rebuild = False
    run_ingest(client, source, alias, encoder.name, lambda: encoder, IngestOptions(rebuild=rebuild))
    searcher.refresh_schema()
    return searcher


def rerank_cost(lists: list[Any], n: int = 100, repeats: int = 20) -> dict[str, float]:
    """Milliseconds `rerank` takes on N = 100 candidates (each query's real candidates,
    repeated up to N where the catalog has fewer; the model fitted on them)."""
    from visearch.plugin.rerank import rerank
    from visearch.plugin.response import Explanation
    from visearch.quality.rerank_training import fit

    model = fit(lists, ENCODER)
    samples = []
    for q in lists:
        explained = [
            (
                str(i),
                {},
                Explanation(similarity=row[0], centroid_similarity=row[1], fused_score=row[0]),
            )  # fmt: skip
            for i, row in enumerate(np.resize(q.rows, (n, q.rows.shape[1])))
        ]
        for _ in range(repeats):
            started = time.perf_counter()
            rerank(explained, model)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "candidates": n,
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * len(samples))], 3),
    }


def script_field_cost(searcher: Any, queries: list[Any], rounds: int = 3) -> dict[str, float]:
    """OpenSearch `took` per search with and without the overall-look script field."""
    from visearch.plugin.params import SearchParams
    from visearch.quality.evaluate import embed_queries, read_query

    photos = [read_query(q)[0] for q in queries]
    vectors = embed_queries(searcher.encoder, queries, photos)
    schema = searcher.schema
    plain = replace(searcher, _schema=[replace(schema, centroid=False)])
    took: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        for label, s in (("without", plain), ("with", searcher)):
            for image, vector in zip(photos, vectors, strict=True):
                params = SearchParams(image=image, k=100)
                took[label].append(s.search_batch([(params, vector)])[0].timings.opensearch_ms)
    return {f"{k}_median_ms": round(statistics.median(v), 2) for k, v in took.items()}


def main() -> None:
    args = parse_args()
    from visearch.engine.connection import make_client
    from visearch.ingest.catalog import CatalogSource
    from visearch.quality.queries import read_queries
    from visearch.quality.rerank_training import collect, train
    from visearch.vectors import load_encoder

    client = make_client(args.opensearch_url, timeout_s=120)
    encoder = load_encoder(ENCODER, runtime=args.runtime)
    queries = read_queries(GROCERY / "queries.csv", split="val")
    galleries = {
        "a": CatalogSource(GROCERY / "gallery.csv"),
        "b": CatalogSource(GROCERY / "gallery.csv", photos=GROCERY / "gallery_natural.csv"),
    }
    result: dict[str, Any] = {"queries": len(queries), "galleries": {}}
    for name, source in galleries.items():
        searcher = gallery_searcher(client, name, source, encoder)
        lists, leaked = collect(searcher, queries)
        _, metrics = train(lists, searcher.schema.encoder or ENCODER)
        result["galleries"][name] = {"leaked_queries_left_out": leaked, **metrics}
        if name == "b":
            result["rerank_cost"] = rerank_cost(lists)
            result["script_field_cost"] = script_field_cost(searcher, queries[:40])
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"grocery val, {result['queries']} queries, top 100 through the real search, "
          "5-fold cross-validated")  # fmt: skip
    print(f"{'gallery':<34} {'R@1 without':>12} {'R@1 with':>9} {'change':>7}")
    labels = {"a": "(a) one photo per product", "b": "(b) 17-71 photos per product"}
    for name, row in result["galleries"].items():
        without, with_ = row["cv_recall_at_1_without"], row["cv_recall_at_1_with"]
        print(f"{labels[name]:<34} {without:>12.3f} {with_:>9.3f} {with_ - without:>+7.3f}")
    cost, script = result["rerank_cost"], result["script_field_cost"]
    print(f"re-rank step, N={cost['candidates']}: median {cost['median_ms']} ms, "
          f"p95 {cost['p95_ms']} ms")  # fmt: skip
    print(f"OpenSearch per search (k=100): {script['without_median_ms']} ms without the "
          f"overall-look field, {script['with_median_ms']} ms with it")  # fmt: skip


if __name__ == "__main__":
    main()
