"""Attributes from photos on the fashion catalog: accuracy, fill coverage and precision,
mislabel detection, and what prediction adds to ingest time (the targets of issue #12).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/attributes.py [--alias bench-fashion] [--json]
        [--ingest 1000] [--skip-catalog-mislabels]

Vectors are read from an alias that holds the fashion catalog embedded by EfficientNet-Lite0
(no re-embedding); colour features are computed from the photos here. 20% of the products,
chosen by sku hash, are held out; the models train on the rest. Then 3% of the held-out
products get another colour group and article type, and the mislabel list is scored against
those flips. Mislabels the catalog already holds when `train` runs are scored too: 3% of
the training products get another value of both attributes, the two models are trained
again on them as `visearch attributes train` does (cross-fitted, attributes/train.py
train_for_review), and the doubt it would write for those products is scored (a second
training run; `--skip-catalog-mislabels` skips it). `--ingest N` ingests the first N
products twice, without and with the attribute stage, and prints the time ratio (alias
`bench-attributes-timing`, deleted first).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
FASHION = REPO_ROOT.parent / "shared" / "data" / "fashion"
FLIPPED = ("colour_group", "article_type")


def load(client: Any, alias: str) -> tuple[Any, dict[str, dict[str, str]]]:
    """Products (stored vectors + colour features computed from the photos) and catalog rows."""
    from opensearchpy import helpers
    from PIL import Image

    from visearch.attributes.colour import colour_features
    from visearch.attributes.dataset import Products
    from visearch.attributes.features import photo_row
    from visearch.attributes.train import DEFAULT_ATTRIBUTES

    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        rows = {row["sku"]: row for row in csv.DictReader(handle)}
    skus, feature_rows = [], []
    for hit in helpers.scan(client, index=alias, query={"_source": ["photos.vector"]}, size=500):
        photos = hit["_source"].get("photos") or []
        if not photos or hit["_id"] not in rows:
            continue
        with Image.open(FASHION / rows[hit["_id"]]["image"]) as image:
            colour = colour_features(image.convert("RGB"))
        skus.append(hit["_id"])
        feature_rows.append(photo_row(photos[0]["vector"], colour))
    values = {a: [rows[s].get(a) or None for s in skus] for a in DEFAULT_ATTRIBUTES}
    return Products(
        skus, np.stack(feature_rows), np.arange(len(skus)), values, [{} for _ in skus]
    ), rows


def subset(products: Any, chosen: np.ndarray) -> Any:
    from visearch.attributes.dataset import Products

    return Products(
        [products.skus[i] for i in chosen],
        products.rows[chosen],
        np.arange(len(chosen)),
        {a: [v[i] for i in chosen] for a, v in products.values.items()},
        [{} for _ in chosen],
    )


def evaluate(models: dict[str, Any], held: Any) -> dict[str, Any]:
    from visearch.attributes.model import expected_calibration_error
    from visearch.attributes.predict import FILL_THRESHOLD, product_probabilities

    report = {}
    everything = np.arange(len(held.skus))
    for name, model in models.items():
        probs = product_probabilities(model, held.rows, held.owner, everything)
        truth = np.array(held.values[name], dtype=object)
        known = np.array([v is not None for v in truth])
        best = np.array(model.classes, dtype=object)[probs.argmax(axis=1)]
        correct = (best == truth)[known]
        confidence = probs.max(axis=1)[known]
        filled = confidence >= FILL_THRESHOLD
        report[name] = {
            "accuracy": round(float(correct.mean()), 4),
            "ece": round(expected_calibration_error(confidence, correct), 4),
            "coverage_at_fill": round(float(filled.mean()), 4),
            "precision_at_fill": round(float(correct[filled].mean()), 4) if filled.any() else None,
            "temperature": round(model.temperature, 3),
            "neighbour_weight": model.meta.get("neighbour_weight", 0.0),
            "reduced_dim": model.meta.get("reduced_dim"),
        }
    return report


def mislabels(models: dict[str, Any], held: Any, share: float = 0.03) -> dict[str, Any]:
    """Flip `share` of the held-out values of FLIPPED attributes; score the doubt list."""
    from visearch.attributes.predict import product_probabilities
    from visearch.attributes.train import in_share

    rng = np.random.default_rng(12)
    doubts, flipped = [], []
    everything = np.arange(len(held.skus))
    for name in FLIPPED:
        model = models[name]
        index = {v: i for i, v in enumerate(model.classes)}
        probs = product_probabilities(model, held.rows, held.owner, everything)
        for row, (sku, value) in enumerate(zip(held.skus, held.values[name], strict=True)):
            if value not in index:
                continue
            flip = in_share(sku, share, f"flip-{name}")
            if flip:
                value = str(rng.choice([c for c in model.classes if c != value]))
            doubts.append(1.0 - probs[row, index[value]])
            flipped.append(flip)
    return scored(np.array(doubts), np.array(flipped))


def catalog_mislabels(train: Any, share: float = 0.03) -> dict[str, Any]:
    """Mislabels already in the catalog when `train` runs: flip `share` of the training
    products' values of FLIPPED attributes, train on them (train_for_review, as `visearch
    attributes train` does) and score the doubt it writes for those products."""
    from dataclasses import replace

    from visearch.attributes.train import TrainConfig, in_share, learnable_values, train_for_review

    rng = np.random.default_rng(13)
    noisy, flips = dict(train.values), {}
    for name in FLIPPED:
        classes = learnable_values(train.values[name], name, TrainConfig())
        flips[name] = [v in classes and in_share(s, share, f"catalog-flip-{name}")
                       for s, v in zip(train.skus, train.values[name], strict=True)]  # fmt: skip
        noisy[name] = [
            str(rng.choice([c for c in classes if c != v])) if flip else v
            for v, flip in zip(train.values[name], flips[name], strict=True)
        ]
    models, unseen = train_for_review(replace(train, values=noisy), FLIPPED, "efficientnet-lite0")
    doubts, flipped = [], []
    for name in FLIPPED:
        index = {v: i for i, v in enumerate(models[name].classes)}
        for row, value in enumerate(noisy[name]):
            if value in index:
                doubts.append(1.0 - unseen[name][row, index[value]])
                flipped.append(flips[name][row])
    return scored(np.array(doubts), np.array(flipped))


def scored(doubt: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Precision and recall of listing values at each doubt bar, flipped ones being right."""
    from visearch.attributes.predict import REVIEW_THRESHOLD

    curve = {}
    for bar in (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.997, 0.998, 0.999):
        listed = doubt >= bar
        curve[str(bar)] = {
            "listed": int(listed.sum()),
            "precision": round(float(truth[listed].mean()), 4) if listed.any() else None,
            "recall": round(float(listed[truth].mean()), 4),
        }
    return {
        "flipped": int(truth.sum()),
        "checked": len(truth),
        "threshold": REVIEW_THRESHOLD,
        "at_threshold": curve[str(REVIEW_THRESHOLD)],
        "curve": curve,
    }


def ingest_ratio(client: Any, models: dict[str, Any], limit: int) -> dict[str, Any]:
    """Seconds of two first ingests of `limit` products: without and with the attribute stage
    (colour features, predictions from models stored for the timing alias)."""
    from visearch.attributes.store import save_models
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.vectors import load_encoder

    encoder = load_encoder("efficientnet-lite0")
    alias = "bench-attributes-timing"
    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        rows = [r for _, r in zip(range(limit), csv.DictReader(handle), strict=False)]
    seconds = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        for label, on in (("without", False), ("with", True), ("without_again", False)):
            client.indices.delete(index=f"{alias}*", ignore_unavailable=True)
            if on:  # the stage loads the alias's models once the first index exists
                save_models(client, alias, models.values())
            source = CatalogSource(path, images_dir=FASHION)
            options = IngestOptions(attributes=on)
            started = time.perf_counter()
            run_ingest(client, source, alias, encoder.name, lambda: encoder, options)
            seconds[label] = round(time.perf_counter() - started, 2)
    client.indices.delete(index=f"{alias}*", ignore_unavailable=True)
    base = (seconds["without"] + seconds["without_again"]) / 2
    return {"products": limit, "seconds": seconds, "ratio": round(seconds["with"] / base, 3)}


def main() -> None:
    from visearch.attributes.train import DEFAULT_ATTRIBUTES, TrainConfig, in_share, train_models
    from visearch.commands.options import env_credentials, env_opensearch_url
    from visearch.engine.connection import make_client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="bench-fashion")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--ingest", type=int, default=0, help="Products for the time ratio.")
    parser.add_argument(
        "--skip-catalog-mislabels",
        action="store_true",
        help="Skip the second training run, on training products with flipped values.",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    client = make_client(args.opensearch_url, timeout_s=120, **env_credentials())
    started = time.perf_counter()
    products, _ = load(client, args.alias)
    held = np.array([in_share(sku, 0.2, "holdout") for sku in products.skus])
    train, test = subset(products, np.flatnonzero(~held)), subset(products, np.flatnonzero(held))
    trained_at = time.perf_counter()
    models = train_models(train, list(DEFAULT_ATTRIBUTES), "efficientnet-lite0", TrainConfig())
    report: dict[str, Any] = {
        "products": len(products.skus),
        "held_out": len(test.skus),
        "train_seconds": round(time.perf_counter() - trained_at, 1),
        "attributes": evaluate(models, test),
        "mislabels": mislabels(models, test),
    }
    if not args.skip_catalog_mislabels:
        report["catalog_mislabels"] = catalog_mislabels(train)
    if args.ingest:
        report["ingest"] = ingest_ratio(client, models, args.ingest)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2) if args.json else render(report))


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['products']} products, {report['held_out']} held out; trained in "
        f"{report['train_seconds']} s",
        f"  {'attribute':<14} {'accuracy':>8} {'ECE':>6} {'coverage':>8} {'precision':>9}"
        f" {'vote':>5} {'vector':>6}  (coverage, precision: at the fill threshold; vote: "
        "neighbours' weight; vector: principal components trained on, None: all)",
    ]
    for name, row in report["attributes"].items():
        lines.append(
            f"  {name:<14} {row['accuracy']:>8} {row['ece']:>6} "
            f"{row['coverage_at_fill']:>8} {row['precision_at_fill']!s:>9} "
            f"{row['neighbour_weight']:>5} {row['reduced_dim']!s:>6}"
        )
    found = report["mislabels"]
    lines.append(f"mislabels: {found['flipped']} flipped of {found['checked']} held-out values")
    lines += _curve_lines(found)
    if "catalog_mislabels" in report:
        found = report["catalog_mislabels"]
        lines.append(
            f"mislabels in the catalog when trained: {found['flipped']} flipped of "
            f"{found['checked']} training values, doubt as `train` writes it (cross-fitted)"
        )
        lines += _curve_lines(found)
    if "ingest" in report:
        ingest = report["ingest"]
        lines.append(
            f"ingest of {ingest['products']} products: {ingest['seconds']}; "
            f"with/without {ingest['ratio']}"
        )
    return "\n".join(lines)


def _curve_lines(found: dict[str, Any]) -> list[str]:
    return [
        f"  doubt >= {bar:<6} listed {row['listed']:>4}  precision "
        f"{row['precision']!s:>6}  recall {row['recall']}"
        for bar, row in found["curve"].items()
    ]


if __name__ == "__main__":
    main()
