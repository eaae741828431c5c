"""The detected-category boost, off and on side by side in one run (issue #12, deliver 6):
keep it on by default only if grocery val recall does not drop and fashion category purity
rises.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/detected_boost.py [--fashion-alias bench-fashion]
        [--fashion-queries 300] [--weights 0.02,0.05,0.1] [--json]

Grocery: the 81-product gallery is ingested into `bench-boost-grocery` (deleted first), its
category model trained by `visearch attributes train` (attributes.service.train_alias), and
the 296 val shopper photos searched through `Searcher.search` (the real request: detection,
knn, ranking) once per weight; R@1 and R@5 per weight. Each photo is decoded and embedded
once and given to every search with its vector.

Fashion: read from an alias that holds the fashion catalog embedded by EfficientNet-Lite0
(nothing is written to it). A category model is trained on the products outside a 20%
hold-out by sku hash (as bench/attributes.py) and handed to the searcher; each held-out
query photo (the first N by sku) is searched per weight and its purity is the share of the
top 10 hits, the photographed product left out, whose category is its own.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
FASHION = REPO_ROOT.parent / "shared" / "data" / "fashion"
GROCERY_ALIAS = "bench-boost-grocery"
TOP = 10


def searches(searcher: Any, queries: list[tuple[Any, Any]], weights: list[float],
             k: int) -> dict[float, list[list[str]]]:  # fmt: skip
    """Per weight, the top `k` skus of each (image, vector) query through Searcher.search."""
    from visearch.plugin.params import Boosts, SearchParams

    found: dict[float, list[list[str]]] = {w: [] for w in weights}
    for image, vector in queries:
        for weight in weights:
            params = SearchParams(image=image, k=k, boosts=Boosts(detected_weight=weight))
            result = searcher.search(params, vector=vector)
            found[weight].append([hit.sku for hit in result.hits])
    return found


def embedded(encoder: Any, paths: list[Path]) -> list[tuple[Any, Any]]:
    """(decoded photo, its query vector) per path, each embedded once."""
    from visearch.plugin.query_vector import load_query_image

    out = []
    for path in paths:
        image = load_query_image(str(path))
        out.append((image, encoder.embed_images([image])[0]))
    return out


def grocery(client: Any, encoder: Any, weights: list[float]) -> dict[str, Any]:
    from bench.grocery import GROCERY, ingest_gallery, read_queries, recall_at
    from visearch.attributes.service import train_alias
    from visearch.plugin.search import Searcher

    client.indices.delete(index=f"{GROCERY_ALIAS}*", ignore_unavailable=True)
    ingest_gallery(client, GROCERY_ALIAS, encoder)
    trained = train_alias(client, GROCERY_ALIAS, ["category"])["models"]["category"]
    queries = read_queries(GROCERY, "val")
    photos = embedded(encoder, [q.image for q in queries])
    searcher = Searcher(client, GROCERY_ALIAS, encoder)
    found = searches(searcher, photos, weights, TOP)
    relevant = [q.relevant for q in queries]
    detected = [searcher.search(_params(image), vector=v).detected for image, v in photos]
    with (GROCERY / "gallery.csv").open(newline="") as handle:
        category = {row["sku"]: row["category"] for row in csv.DictReader(handle)}
    truth = [{category[sku] for sku in q.relevant} for q in queries]
    return {
        "queries": len(queries),
        "category_model": {k: trained.get(k) for k in ("held_back_accuracy", "held_back_ece")},
        "confident_detections": _confident_share(detected),
        "detection_accuracy": _detection_accuracy(detected, truth),
        "recall": {str(w): recall_at(found[w], relevant, (1, 5)) for w in weights},
    }


def _params(image: Any) -> Any:
    from visearch.plugin.params import SearchParams

    return SearchParams(image=image, k=1)


def _confident_share(detected: list[dict[str, Any]]) -> float:
    from visearch.plugin.ranking import DETECTED_ATTRIBUTE, DETECTED_CONFIDENCE

    confident = [
        d.get(DETECTED_ATTRIBUTE, {}).get("confidence", 0.0) >= DETECTED_CONFIDENCE
        for d in detected
    ]
    return round(float(np.mean(confident)), 4) if confident else 0.0


def _detection_accuracy(detected: list[dict[str, Any]], truth: list[set[str]]) -> float:
    """Share of the photos whose detected category is their product's."""
    from visearch.plugin.ranking import DETECTED_ATTRIBUTE

    right = [d.get(DETECTED_ATTRIBUTE, {}).get("value") in t for d, t in zip(detected, truth,
             strict=True)]  # fmt: skip
    return round(float(np.mean(right)), 4) if right else 0.0


def fashion(
    client: Any, encoder: Any, alias: str, weights: list[float], limit: int
) -> dict[str, Any]:
    from visearch.attributes.colour import COLOUR_DIM
    from visearch.attributes.dataset import load_products
    from visearch.attributes.train import TrainConfig, in_share, train_models
    from visearch.plugin.search import Searcher

    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        rows = {row["sku"]: row for row in csv.DictReader(handle)}
    products = load_products(client, alias, ["category"])
    held = np.array([in_share(sku, 0.2, "holdout") for sku in products.skus])
    models = train_models(_subset(products, ~held), ["category"], encoder.name, TrainConfig())
    coloured = not np.isnan(products.rows[:, -COLOUR_DIM:]).all()
    chosen = sorted(s for s, h in zip(products.skus, held, strict=True) if h and s in rows)
    chosen = chosen[:limit]
    photos = embedded(encoder, [FASHION / rows[sku]["image"] for sku in chosen])
    if not coloured:  # the models never saw colour features: detect from the vector alone
        photos = [(str(FASHION / rows[sku]["image"]), v) for sku, (_, v) in zip(chosen, photos,
                  strict=True)]  # fmt: skip
    searcher = Searcher(client, alias, encoder, _detector=_FixedDetector(models))
    found = searches(searcher, photos, weights, TOP + 1)
    category = {sku: row["category"] for sku, row in rows.items()}
    detected = [searcher.search(_params(image), vector=v).detected for image, v in photos]
    return {
        "queries": len(chosen),
        "colour_features": coloured,
        "category_model_accuracy": models["category"].meta.get("held_back_accuracy"),
        "confident_detections": _confident_share(detected),
        "detection_accuracy": _detection_accuracy(detected, [{category[s]} for s in chosen]),
        "purity": {str(w): _purity(found[w], chosen, category) for w in weights},
    }


def _purity(rankings: list[list[str]], skus: list[str], category: dict[str, str]) -> float:
    """Mean share of the top 10 (the query's own product left out) of the query's category."""
    shares = []
    for ranking, sku in zip(rankings, skus, strict=True):
        top = [s for s in ranking if s != sku][:TOP]
        shares.append(np.mean([category.get(s) == category[sku] for s in top]) if top else 0.0)
    return round(float(np.mean(shares)), 4)


def _subset(products: Any, keep: np.ndarray) -> Any:
    from visearch.attributes.dataset import Products

    chosen = np.flatnonzero(keep)
    photos = np.isin(products.owner, chosen)
    position = np.full(len(products.skus), -1)
    position[chosen] = np.arange(len(chosen))
    return Products(
        [products.skus[i] for i in chosen],
        products.rows[photos],
        position[products.owner[photos]],
        {a: [v[i] for i in chosen] for a, v in products.values.items()},
        [{} for _ in chosen],
    )


class _FixedDetector:
    """The searcher's detector with models trained here (the fashion alias stores none)."""

    def __init__(self, models: dict[str, Any]) -> None:
        from visearch.plugin.detected import AttributeDetector

        self._models = models
        self._base = AttributeDetector()
        self._base.models = lambda client, schema: self._models  # type: ignore[method-assign]

    def detect(self, *args: Any) -> dict[str, Any]:
        return self._base.detect(*args)

    def clear(self) -> None:
        pass


def main() -> None:
    from visearch.commands.options import env_credentials, env_opensearch_url
    from visearch.engine.connection import make_client
    from visearch.vectors import load_encoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--fashion-alias", default="bench-fashion")
    parser.add_argument("--fashion-queries", type=int, default=300)
    parser.add_argument("--weights", default="0.02,0.05,0.1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    weights = [0.0, *(float(w) for w in args.weights.split(","))]
    client = make_client(args.opensearch_url, timeout_s=120, **env_credentials())
    encoder = load_encoder("efficientnet-lite0")
    started = time.perf_counter()
    report = {
        "grocery": grocery(client, encoder, weights),
        "fashion": fashion(client, encoder, args.fashion_alias, weights, args.fashion_queries),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2) if args.json else render(report))


def render(report: dict[str, Any]) -> str:
    g, f = report["grocery"], report["fashion"]
    lines = [
        f"grocery val: {g['queries']} queries, category model {g['category_model']}, "
        f"confident detections {g['confident_detections']}, detected category right "
        f"{g['detection_accuracy']}",
        f"fashion: {f['queries']} held-out photos, category model accuracy "
        f"{f['category_model_accuracy']}, confident detections {f['confident_detections']}, "
        f"detected category right {f['detection_accuracy']}",
        f"  {'detected_weight':>15} {'grocery R@1':>11} {'grocery R@5':>11} {'purity@10':>9}",
    ]
    for weight, recall in g["recall"].items():
        lines.append(
            f"  {weight:>15} {recall[1]:>11.4f} {recall[5]:>11.4f} {f['purity'][weight]:>9.4f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
