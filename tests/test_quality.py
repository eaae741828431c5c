"""Evaluation numbers are right, and adapters can't be mixed up between index and query."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from support import ENCODER, GROCERY, RUN_PREFIX, ingest, write_catalog
from visearch import cli
from visearch.ingest.catalog import read_catalog
from visearch.plugin.errors import EncoderMismatchError
from visearch.plugin.params import SearchParams
from visearch.plugin.query_vector import load_query_image
from visearch.plugin.search import Searcher
from visearch.quality.evaluate import run_eval
from visearch.quality.metrics import ndcg_at, recall_at, reciprocal_rank, summarize
from visearch.quality.queries import read_queries
from visearch.vectors.adapter import AdaptedEncoder, Adapter
from visearch.vectors.encoders import EncoderError


def test_metrics_by_hand() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, ["c", "x"], 1) == 0.0
    assert recall_at(ranked, ["c", "x"], 3) == 0.5
    assert reciprocal_rank(ranked, ["c"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, ["x"]) == 0.0
    assert ndcg_at(ranked, ["b"], 10) == pytest.approx(1 / math.log2(3))
    summary = summarize([ranked, ["c", "a"]], [["a"], ["a"]], [1, 2])
    assert summary == {
        "recall@1": 0.5,
        "recall@2": 1.0,
        "mrr": 0.75,
        "ndcg@10": pytest.approx((1 + 1 / math.log2(3)) / 2),
    }


@pytest.fixture(scope="module")
def small_grocery(tmp_path_factory) -> tuple[Path, Path]:  # noqa: ANN001
    """12 gallery products and the val queries whose answer is one of them."""
    folder = tmp_path_factory.mktemp("grocery")
    with GROCERY.joinpath("gallery.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:12]
    for row in rows:
        row["image"] = str(GROCERY / row["image"])
    catalog = write_catalog(folder / "gallery.csv", rows)
    skus = {row["sku"] for row in rows}
    with GROCERY.joinpath("queries.csv").open(newline="") as handle:
        queries = [
            {**row, "image": str(GROCERY / row["image"])}
            for row in csv.DictReader(handle)
            if row["split"] == "val" and row["relevant_skus"] in skus
        ][:30]
    return catalog, write_catalog(folder / "queries.csv", queries)


@pytest.mark.slow
def test_eval_matches_brute_force(os_client, encoder, small_grocery) -> None:
    catalog, query_file = small_grocery
    alias = f"{RUN_PREFIX}-eval"
    ingest(os_client, catalog, alias, encoder, image_roots=(GROCERY,))
    queries = read_queries(query_file)
    report = run_eval(Searcher(os_client, alias, encoder), queries, k_max=10)

    products = read_catalog(catalog).products
    gallery = encoder.embed_images([load_query_image(p.image) for p in products])
    asked = encoder.embed_images([load_query_image(q.image) for q in queries])
    order = np.argsort(-(asked @ gallery.T), axis=1)
    ranks = [
        1 + list(order[i]).index([p.sku for p in products].index(q.relevant[0]))
        for i, q in enumerate(queries)
    ]
    for k in (1, 5, 10):
        assert report.metrics[f"recall@{k}"] == pytest.approx(np.mean([r <= k for r in ranks]))
    assert report.metrics["mrr"] == pytest.approx(np.mean([1 / r for r in ranks]))
    assert report.exact_metrics == pytest.approx(report.metrics)
    assert report.ann_exact_overlap_at_10 == pytest.approx(1.0)
    assert report.diagnostics["leakage"]["queries_matching_a_catalog_photo"] == 0
    assert sum(g["queries"] for g in report.by_group.values()) == len(queries)


def _adapter(seed: int, dim: int = 1280, out: int = 64) -> Adapter:
    weight = np.random.default_rng(seed).normal(size=(dim, out)).astype(np.float32)
    return Adapter(weight, {"base_encoder": ENCODER})


@pytest.mark.slow
def test_index_built_with_one_adapter_refuses_another(os_client, encoder, small_grocery) -> None:
    catalog, query_file = small_grocery
    first, second = AdaptedEncoder(encoder, _adapter(1)), AdaptedEncoder(encoder, _adapter(2))
    alias = f"{RUN_PREFIX}-adapted"
    summary = ingest(os_client, catalog, alias, first, image_roots=(GROCERY,))
    assert summary.embedded == 12
    photo = read_queries(query_file)[0].image
    assert Searcher(os_client, alias, first).search(SearchParams(image=photo, k=3)).hits
    for other in (second, encoder):
        with pytest.raises(EncoderMismatchError, match=re.escape(first.name)):
            Searcher(os_client, alias, other).search(SearchParams(image=photo, k=3))


def test_adapter_round_trip_and_checks(tmp_path: Path, encoder) -> None:
    adapter = _adapter(3)
    loaded = Adapter.load(adapter.save(tmp_path / "a"))
    assert loaded.id == adapter.id and np.array_equal(loaded.weight, adapter.weight)
    assert AdaptedEncoder(encoder, loaded).name == f"{ENCODER}+{adapter.id}"
    with pytest.raises(EncoderError, match="expects 512-d input"):
        AdaptedEncoder(encoder, Adapter(np.ones((512, 8), dtype=np.float32)))
    with pytest.raises(EncoderError, match="trained on 'clip:x'"):
        AdaptedEncoder(encoder, Adapter(adapter.weight, {"base_encoder": "clip:x"}))


@pytest.mark.slow
def test_tune_command_writes_a_versioned_adapter(tmp_path: Path) -> None:
    photos = tmp_path / "photos.csv"
    with GROCERY.joinpath("gallery_natural.csv").open(newline="") as handle:
        per_sku: dict[str, list[dict[str, str]]] = {"Lime": [], "Banana": [], "Kiwi": []}
        for r in csv.DictReader(handle):
            if r["sku"] in per_sku and len(per_sku[r["sku"]]) < 15:
                per_sku[r["sku"]].append(r)
        rows = [r for chosen in per_sku.values() for r in chosen]
    with photos.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sku"])
        writer.writerows((str(GROCERY / r["image"]), r["sku"]) for r in rows)
    out = tmp_path / "adapter"
    args = ["tune", str(photos), "--encoder", ENCODER, "--out", str(out), "--dim", "32"]
    result = CliRunner().invoke(
        cli.main, [*args, "--epochs", "20", "--cache-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    adapter = Adapter.load(out)
    assert adapter.weight.shape == (1280, 32)
    assert adapter.meta["base_encoder"] == ENCODER and adapter.meta["trained_on"]
    assert adapter.meta["metrics"]["skus"] == 3
