"""Evaluation numbers are right, and adapters can't be mixed up between index and query."""

from __future__ import annotations

import csv
import json
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
from visearch.quality.compare import regressions
from visearch.quality.evaluate import run_eval
from visearch.quality.metrics import ndcg_at, recall_at, reciprocal_rank, summarize
from visearch.quality.queries import EvalQuery, read_queries
from visearch.quality.tune import sequence_split
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
    recalls = [group["recall@1"] for group in report.by_group.values()]
    assert recalls == sorted(recalls)  # worst category first
    failed = {f["query_id"] for f in report.failures}
    assert failed == {q.query_id for q, r in zip(queries, ranks, strict=True) if r > 1}
    assert all(len(f["top5"]) == 5 and f["top5"][0]["sku"] for f in report.failures)
    # Grocery products have no colour: the figure is not measured, and says so (not 0.000).
    bias = report.diagnostics["colour_bias"]
    assert bias["mean_share_same_colour_other_category_top10"] is None
    assert "no colour" in bias["not_measured"]


@pytest.mark.slow
def test_eval_embeds_each_query_once_and_flags_exact_copies(os_client, encoder, small_grocery):  # noqa: ANN001
    catalog, query_file = small_grocery
    alias = f"{RUN_PREFIX}-eval"  # built by test_eval_matches_brute_force, or here
    if not os_client.indices.exists_alias(name=alias):
        ingest(os_client, catalog, alias, encoder, image_roots=(GROCERY,))
    queries = read_queries(query_file)
    gallery_photo = next(csv.DictReader(catalog.open()))
    copy = EvalQuery("copy", (gallery_photo["sku"],), image=gallery_photo["image"])
    counted = CountingEncoder(encoder)
    report = run_eval(Searcher(os_client, alias, counted), [*queries, copy], k_max=10)
    assert counted.images == len(queries) + 1  # once each: search and exact share the vector
    assert counted.calls == math.ceil((len(queries) + 1) / 32)  # in batches
    leakage = report.diagnostics["leakage"]
    assert leakage["by_rule"] == {"exact": 1} and leakage["examples"][0]["query_id"] == "copy"
    assert "SHA-256" in leakage["rules"]["exact"]


class CountingEncoder:
    def __init__(self, encoder) -> None:  # noqa: ANN001
        self.encoder, self.calls, self.images = encoder, 0, 0
        self.name, self.dim, self.supports_text = encoder.name, encoder.dim, False

    def embed_images(self, images: list) -> np.ndarray:
        self.calls += 1
        self.images += len(images)
        return self.encoder.embed_images(images)


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
def _photos_file(tmp_path: Path, skus: tuple[str, ...] = ("Lime", "Banana", "Kiwi")) -> Path:
    """15 in-store photos of each of `skus`, in their sequence order, with their category."""
    photos = tmp_path / "photos.csv"
    with GROCERY.joinpath("gallery_natural.csv").open(newline="") as handle:
        per_sku: dict[str, list[dict[str, str]]] = {sku: [] for sku in skus}
        for r in csv.DictReader(handle):
            if r["sku"] in per_sku and len(per_sku[r["sku"]]) < 15:
                per_sku[r["sku"]].append(r)
    with photos.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sku", "subcategory"])
        for chosen in per_sku.values():
            writer.writerows(
                (str(GROCERY / r["image"]), r["sku"], r["subcategory"]) for r in chosen
            )
    return photos


@pytest.mark.slow
def test_tune_command_writes_a_versioned_adapter(tmp_path: Path) -> None:
    photos = _photos_file(tmp_path)
    out = tmp_path / "adapter"
    args = ["tune", str(photos), "--encoder", ENCODER, "--out", str(out), "--dim", "32"]
    result = CliRunner().invoke(
        cli.main, [*args, "--epochs", "300", "--cache-dir", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    adapter = Adapter.load(out)
    assert adapter.weight.shape == (1280, 32)
    assert adapter.meta["base_encoder"] == ENCODER and adapter.meta["trained_on"]
    metrics = json.loads(result.stdout)
    assert metrics["skus"] == 3 and metrics["stopped_early"]  # the hold-out stopped improving
    assert metrics["epochs_run"] < 300 and metrics["best_epoch"] <= metrics["epochs_run"]
    assert isinstance(metrics["categories_worse"], list)
    assert "epoch 10: hold-out R@1" in result.stderr  # progress, even without a terminal


def test_the_hold_out_is_the_end_of_each_sequence_against_its_first_photo() -> None:
    labels = ["a"] * 10 + ["b"] * 2 + ["c"] * 4
    split = sequence_split(labels, 0.2)
    assert list(np.flatnonzero(split.gallery)) == [0, 10, 12]  # each product's first photo
    assert list(np.flatnonzero(split.held)) == [8, 9, 15]  # the last frames of a and c
    assert list(np.flatnonzero(split.train)) == [1, 2, 3, 4, 5, 6, 11, 13]
    assert not (split.train[7] or split.held[7])  # the gap frame next to a's held-out ones


def test_categories_that_got_worse_are_listed() -> None:
    before = {"Apple": {"queries": 9, "recall@1": 0.8}, "Oat": {"queries": 3, "recall@1": 0.5}}
    after = {"Apple": {"queries": 9, "recall@1": 0.9}, "Oat": {"queries": 3, "recall@1": 0.0}}
    assert regressions(after, before) == [
        {"category": "Oat", "queries": 3, "before": 0.5, "after": 0.0, "change": -0.5}
    ]


@pytest.mark.slow
def test_adapter_advice_works_when_followed(
    os_client, opensearch_url, encoder, small_grocery, tmp_path
) -> None:  # noqa: ANN001
    """Each message's advice, followed, leads to a working command: no traceback."""
    catalog, query_file = small_grocery
    adapter = _adapter(4)
    folder = adapter.save(tmp_path / "adapter")
    adapted = AdaptedEncoder(encoder, adapter)
    alias = f"{RUN_PREFIX}-advice"
    ingest(os_client, catalog, alias, adapted, image_roots=(GROCERY,))
    env = {"OPENSEARCH_URL": opensearch_url, "VISEARCH_INDEX": alias}
    base = ["eval", str(query_file), "--k-max", "5"]
    mismatch = CliRunner().invoke(cli.main, [*base, "--encoder", ENCODER], env=env)
    assert mismatch.exit_code == 1 and "pass --adapter" in mismatch.output
    assert "Traceback" not in mismatch.output
    named = CliRunner().invoke(cli.main, [*base, "--encoder", adapted.name], env=env)
    assert named.exit_code == 1 and "pass --adapter" in named.output
    followed = CliRunner().invoke(
        cli.main, [*base, "--encoder", ENCODER, "--adapter", str(folder), "--json"], env=env
    )
    assert followed.exit_code == 0, followed.output
    run = json.loads(followed.stdout)["runs"][0]
    assert "not run" in run["diagnostics"]["leakage"]["rules"]["near-duplicate"]  # no images
    assert "eval: " in followed.stderr and "queries" in followed.stderr
    baseline = tmp_path / "baseline.json"
    best = {name: {**row, "recall@1": 1.0} for name, row in run["by_group"].items()}
    baseline.write_text(json.dumps({"runs": [{**run, "by_group": best}]}))
    compared = CliRunner().invoke(
        cli.main,
        [*base, "--adapter", str(folder), "--baseline", str(baseline), "--json"],
        env=env,
    )
    worse = json.loads(compared.stdout)["categories_worse"]
    assert {row["category"] for row in worse} == {
        name for name, row in run["by_group"].items() if row["recall@1"] < 1.0
    }
