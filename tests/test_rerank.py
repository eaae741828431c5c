"""The learned re-ranker: products judged by all their photos, trained by `visearch tune`,
reported with and without by `visearch eval`, refused where it cannot work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from support import GROCERY, RUN_PREFIX, TEST_ENGINE, ingest, write_catalog
from visearch import cli
from visearch.mappings.fields import PHOTO_CENTROID
from visearch.plugin.params import SearchParams
from visearch.plugin.rerank import FEATURES, Reranker, RerankerError, feature_rows, rerank
from visearch.plugin.response import Explanation
from visearch.plugin.schema import IndexSchema
from visearch.plugin.search import Searcher
from visearch.quality.rerank_training import QueryList, fit, recall_at_1, train

# ----------------------------------------------------------------------------- the model


def explained(looks: list[float], overall: list[float]) -> list[tuple[str, dict, Explanation]]:
    return [
        (f"p{i}", {}, Explanation(similarity=a, centroid_similarity=b, fused_score=a))
        for i, (a, b) in enumerate(zip(looks, overall, strict=True))
    ]


def overall_look_model(top_n: int = 100) -> Reranker:
    """A hand-made model that ranks by overall look alone."""
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("overall_look")] = 1.0
    return Reranker("enc", tuple(weights), (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), top_n)


def test_features_are_read_from_the_explanations() -> None:
    rows = feature_rows([why for _, _, why in explained([0.9, 0.8], [0.5, 0.7])])
    assert rows.shape == (2, len(FEATURES))
    assert rows[1].tolist() == pytest.approx([0.8, 0.7, -0.1, 0.0, np.log(2), 0.0])


def test_rerank_permutes_the_top_n_and_keeps_the_score_scale() -> None:
    items = explained([0.9, 0.8, 0.7, 0.6], [0.2, 0.9, 0.5, 0.95])
    out = rerank(items, overall_look_model(top_n=3))
    assert [sku for sku, _, _ in out] == ["p1", "p2", "p0", "p3"]  # p3 is past N: stays last
    assert [why.fused_score for _, _, why in out] == [0.9, 0.8, 0.7, 0.6]
    assert out[0][2].rerank_score == pytest.approx(0.9) and out[3][2].rerank_score is None


def test_training_learns_what_the_labels_reward() -> None:
    """Lists where the right product has the best overall look but not the best photo."""
    rng = np.random.default_rng(1)
    lists = []
    for _ in range(60):
        looks = np.sort(rng.uniform(0.5, 0.9, 20))[::-1]
        overall = rng.uniform(0.3, 0.6, 20)
        right = int(rng.integers(1, 5))
        overall[right] = 0.8
        rows = feature_rows([why for _, _, why in explained(list(looks), list(overall))])
        lists.append(QueryList(rows, np.arange(20) == right))
    model, metrics = train(lists, "enc")
    assert recall_at_1(lists, None) == 0.0
    assert metrics["cv_recall_at_1_without"] == 0.0 and metrics["cv_recall_at_1_with"] > 0.9
    assert recall_at_1(lists, model) > 0.9


def test_saved_models_load_back_and_bad_files_say_why(tmp_path: Path) -> None:
    model = fit([QueryList(np.eye(len(FEATURES))[:3], np.array([True, False, False]))] * 3, "e")
    assert Reranker.load(model.save(tmp_path / "m")) == model
    assert Reranker.load(tmp_path / "m") == model  # the folder works too
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RerankerError, match="cannot read"):
        Reranker.load(tmp_path / "bad.json")
    data = json.loads((tmp_path / "m" / "reranker.json").read_text())
    (tmp_path / "old.json").write_text(json.dumps({**data, "features": ["look"]}))
    with pytest.raises(RerankerError, match="train it again"):
        Reranker.load(tmp_path / "old.json")
    other = IndexSchema("p", ("p-v1",), (), "clip:other", 512, "cosinesimil", centroid=True)
    with pytest.raises(RerankerError, match="trained on an index built with 'e'"):
        model.check_index(other)


# ----------------------------------------------------------------------------- real search


@pytest.fixture(scope="module")
def several_photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """12 grocery products with their clean photo and 4 in-store photos each, and the val
    queries whose answer is one of them."""
    folder = tmp_path_factory.mktemp("rerank")
    with GROCERY.joinpath("gallery.csv").open(newline="") as handle:
        rows = [
            {**r, "image": str(GROCERY / r["image"])} for r in list(csv.DictReader(handle))[:12]
        ]
    skus = {row["sku"] for row in rows}
    with GROCERY.joinpath("gallery_natural.csv").open(newline="") as handle:
        natural = [r for r in csv.DictReader(handle) if r["sku"] in skus]
    photos = [
        {"sku": sku, "image": str(GROCERY / r["image"])}
        for sku in sorted(skus)
        for r in [r for r in natural if r["sku"] == sku][:4]
    ]
    with GROCERY.joinpath("queries.csv").open(newline="") as handle:
        queries = [
            {**row, "image": str(GROCERY / row["image"])}
            for row in csv.DictReader(handle)
            if row["split"] == "val" and row["relevant_skus"] in skus
        ][:30]
    return (
        write_catalog(folder / "gallery.csv", rows),
        write_catalog(folder / "photos.csv", photos),
        write_catalog(folder / "queries.csv", queries),
    )


@pytest.fixture(scope="module")
def rerank_alias(os_client, encoder, several_photos) -> str:  # noqa: ANN001
    catalog, photos, _ = several_photos
    alias = f"{RUN_PREFIX}-rerank"
    summary = ingest(os_client, catalog, alias, encoder, photos=photos, image_roots=(GROCERY,))
    assert summary.failed == 0
    return alias


@pytest.mark.slow
def test_products_store_their_overall_look_and_hits_report_it(
    os_client, encoder, rerank_alias, several_photos
) -> None:
    os_client.indices.refresh(index=rerank_alias)
    source = os_client.get(index=rerank_alias, id="Golden-Delicious")["_source"]
    photos = np.array([p["vector"] for p in source["photos"]])
    mean = photos.mean(0)
    assert len(photos) == 5
    assert np.allclose(source[PHOTO_CENTROID], mean / np.linalg.norm(mean), atol=1e-5)

    searcher = Searcher(os_client, rerank_alias, encoder)
    query = str(GROCERY / "gallery" / "Golden-Delicious.jpg")
    hit = searcher.search(SearchParams(image=query, k=3)).hits[0]
    assert hit.sku == "Golden-Delicious"
    if TEST_ENGINE == "elasticsearch":  # no painless vector functions in script fields there
        assert hit.explanation.centroid_similarity is None
        return
    vector = encoder.embed_images([Image.open(query).convert("RGB")])[0]
    assert hit.explanation.centroid_similarity == pytest.approx(
        float(vector @ (mean / np.linalg.norm(mean))), abs=1e-3
    )
    assert hit.explanation.similarity > hit.explanation.centroid_similarity  # its own photo


@pytest.mark.slow
def test_tune_trains_a_reranker_that_search_and_eval_use(
    opensearch_url, rerank_alias, several_photos, tmp_path: Path
) -> None:
    _, _, queries = several_photos
    runner = CliRunner()
    env = {"OPENSEARCH_URL": opensearch_url, "VISEARCH_INDEX": rerank_alias}
    out = tmp_path / "reranker"
    tuned = runner.invoke(
        cli.main, ["tune", str(queries), "--train", "reranker", "--out", str(out), "--json"],
        env=env,
    )  # fmt: skip
    assert tuned.exit_code == 0, tuned.output
    report = json.loads(tuned.stdout)
    assert report["queries"] == 30 and report["cv_folds"] == 5
    assert 0 <= report["cv_recall_at_1_without"] <= 1 and "verdict" in report
    assert Reranker.load(out).meta["index"] == rerank_alias

    query = str(GROCERY / "queries" / "val" / "Golden-Delicious_001.jpg")
    found = runner.invoke(
        cli.main, ["search", "--image", query, "--reranker", str(out), "--json"], env=env
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)["hits"]
    assert all(h["explanation"]["rerank_score"] is not None for h in hits)

    evaluated = runner.invoke(
        cli.main, ["eval", str(queries), "--reranker", str(out), "--k-max", "5", "--json"],
        env=env,
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    runs = json.loads(evaluated.stdout)["runs"]
    assert [r["label"].endswith("+ re-ranker") for r in runs] == [False, True]
    assert runs[0]["queries"] == runs[1]["queries"] == 30


@pytest.mark.slow
def test_an_index_without_centroids_or_another_encoder_refuses_the_reranker(
    os_client, opensearch_url, encoder, rerank_alias, tmp_path: Path
) -> None:
    searcher = Searcher(os_client, rerank_alias, encoder)
    with pytest.raises(RerankerError, match="trained on an index built with"):
        searcher.with_reranker(overall_look_model())  # trained for "enc"
    mapping = os_client.indices.get_mapping(index=rerank_alias)
    for body in mapping.values():
        del body["mappings"]["properties"][PHOTO_CENTROID]
    old = IndexSchema.from_mapping(rerank_alias, mapping)
    assert not old.centroid
    before = Searcher(os_client, rerank_alias, encoder, _schema=[old])
    model = Reranker(old.encoder or "", *[(0.0,) * len(FEATURES)] * 3)
    with pytest.raises(RerankerError, match="rebuild it"):
        before.with_reranker(model)
    runner = CliRunner()
    query = str(GROCERY / "gallery" / "Golden-Delicious.jpg")
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    refused = runner.invoke(
        cli.main, ["search", "--image", query, "--reranker", str(bad)],
        env={"OPENSEARCH_URL": opensearch_url, "VISEARCH_INDEX": rerank_alias},
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "not a visearch re-ranker" in refused.output and "Traceback" not in refused.output
