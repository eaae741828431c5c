"""Attributes from photos: models learned from the catalog, predictions beside catalog values,
probable mislabels, and merchandisers' corrections that survive ingests and rebuilds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import FASHION, RUN_PREFIX, fashion_rows, ingest, write_catalog
from visearch.attributes.colour import COLOUR_DIM, colour_features
from visearch.attributes.errors import (
    BadValueError,
    TooFewLabelsError,
    UnknownAttributeError,
    UnknownProductError,
)
from visearch.attributes.overrides import list_overrides, revert_override, set_override
from visearch.attributes.predict import FILL_THRESHOLD
from visearch.attributes.service import coverage, review, train_alias
from visearch.attributes.store import load_models, models_index
from visearch.attributes.train import TrainConfig, in_share
from visearch.commands.search import render
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher, open_searcher

pytestmark = pytest.mark.slow

PRODUCTS = 90
BLANK = slice(80, 90)
TRAINED_SHOE = 36  # sku 10037, sports shoes, outside the 20% held back to calibrate
# cross_fit_from=0: the review's cross-fitting runs on this small catalog too (by default it
# needs 1,000 fitted products; halves of 72 judge category well, colour poorly).
CONFIG = TrainConfig(reduced_dim=32, validation_share=0.2, max_iter=100, cross_fit_from=0)


def _rows() -> list[dict[str, str]]:
    rows = fashion_rows(PRODUCTS)
    for i, row in enumerate(rows):  # a rare attribute: too few labels to learn
        row["pattern"] = "striped" if i < 4 else ""
    # A shoe the catalog calls apparel: the probable mislabel the model must flag.
    shoe = next(r for r in rows[60:] if r["category"] == "Footwear")
    shoe["category"] = "Apparel"
    # Another, among the products the model's weights are fitted on (not held back).
    rows[TRAINED_SHOE]["category"] = "Apparel"
    for row in rows[BLANK]:  # colours the catalog lacks: predictions may fill them
        row["colour_group"] = ""
    return rows


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:  # noqa: ANN001
    return write_catalog(tmp_path_factory.mktemp("attributes") / "catalog.csv", _rows())


@pytest.fixture(scope="module")
def alias(os_client, encoder, catalog) -> str:  # noqa: ANN001
    name = f"{RUN_PREFIX}-attributes"
    summary = ingest(os_client, catalog, name, encoder, images_dir=FASHION)
    assert (summary.embedded, summary.failed) == (PRODUCTS, 0)
    return name


@pytest.fixture(scope="module")
def trained(os_client, alias) -> dict:  # noqa: ANN001
    return train_alias(os_client, alias, ["category", "colour_group"], CONFIG)


def _source(client, alias: str, sku: str) -> dict:  # noqa: ANN001
    return client.get(index=alias, id=sku)["_source"]


def test_ingest_stores_each_photos_own_colour_features(os_client, alias) -> None:
    # Ingest computes them for a chunk of products at once: each must get its own photo's.
    for row in fashion_rows(PRODUCTS)[::7]:
        photo = _source(os_client, alias, row["sku"])["photos"][0]
        with Image.open(FASHION / row["image"]) as image:
            alone = colour_features(image.convert("RGB"))
        assert len(photo["colour_features"]) == COLOUR_DIM
        assert np.allclose(photo["colour_features"], alone, atol=1e-6), row["sku"]


def test_training_stores_versioned_models_and_predictions(os_client, alias, trained) -> None:
    assert trained["products"] == PRODUCTS
    assert trained["predictions_written"] == PRODUCTS
    models = load_models(os_client, alias, trained["encoder"])
    assert set(models) == {"category", "colour_group"}
    assert models["category"].encoder == "efficientnet-lite0"
    assert trained["models"]["category"]["model"] == models["category"].id
    row = fashion_rows(1)[0]
    source = _source(os_client, alias, row["sku"])
    predicted = source["predicted"]["category"]
    assert predicted["value"] == row["category"] == source["category"]
    assert 0.5 < predicted["confidence"] <= 1.0
    assert predicted["model"] == models["category"].id


def test_predictions_never_overwrite_catalog_values(os_client, alias, trained) -> None:
    rows = _rows()
    shoe = next(r for r in rows[60:] if r["category"] == "Apparel" and "Shoe" in r["article_type"])
    source = _source(os_client, alias, shoe["sku"])
    assert source["category"] == "Apparel"  # the catalog's (wrong) value stays
    assert source["predicted"]["category"]["value"] == "Footwear"


def test_review_lists_the_mislabelled_shoe_first(os_client, alias, trained) -> None:
    listed = review(os_client, alias, ["category"], threshold=0.5)["mislabels"]
    assert listed, "the shoe labelled Apparel should be listed"
    first = listed[0]
    assert (first["catalog"], first["predicted"]) == ("Apparel", "Footwear")
    assert first["image"].endswith(".jpg")
    doubts = [row["doubt"] for row in listed]
    assert doubts == sorted(doubts, reverse=True)


def test_review_also_finds_a_mislabel_the_model_was_trained_on(os_client, alias, trained) -> None:
    """A model repeats the labels it was fitted on, wrong ones too: `train` writes each
    fitted product's doubt from weights fitted on the other products (cross-fitting)."""
    shoe = fashion_rows(PRODUCTS)[TRAINED_SHOE]
    assert shoe["category"] == "Footwear" and not in_share(shoe["sku"], 0.2, "calibrate")
    listed = review(os_client, alias, ["category"], threshold=0.5)["mislabels"]
    found = {row["sku"]: (row["catalog"], row["predicted"]) for row in listed}
    assert found.get(shoe["sku"]) == ("Apparel", "Footwear")
    assert found.get(_held_back_shoe()["sku"]) == ("Apparel", "Footwear")


def _held_back_shoe() -> dict[str, str]:
    return next(
        r for r in _rows()[60:] if r["category"] == "Apparel" and "Shoe" in r["article_type"]
    )


def test_coverage_counts_catalog_predicted_and_missing(os_client, alias, trained) -> None:
    rows = coverage(os_client, alias, ["category", "pattern"])["attributes"]
    assert rows["category"] == {"catalog": PRODUCTS, "predicted": 0, "missing": 0}
    assert rows["pattern"]["catalog"] == 4


def test_bad_training_input_is_refused_and_changes_nothing(os_client, alias, trained) -> None:
    before = load_models(os_client, alias, trained["encoder"])
    with pytest.raises(UnknownAttributeError, match="'shape'.*category"):
        train_alias(os_client, alias, ["category", "shape"], CONFIG)
    with pytest.raises(UnknownAttributeError, match="title"):
        train_alias(os_client, alias, ["title"], CONFIG)
    with pytest.raises(TooFewLabelsError, match="'pattern': 4 labelled"):
        train_alias(os_client, alias, ["category", "pattern"], CONFIG)
    after = load_models(os_client, alias, trained["encoder"])
    assert {k: m.id for k, m in after.items()} == {k: m.id for k, m in before.items()}


def test_models_of_a_fresh_alias_are_none(os_client, index_name) -> None:
    assert load_models(os_client, index_name, "efficientnet-lite0") == {}
    assert not os_client.indices.exists(index=models_index(index_name))


def test_a_new_product_is_predicted_at_ingest(os_client, encoder, alias, trained, tmp_path):  # noqa: ANN001, ANN201
    rows = _rows()
    extra = fashion_rows(PRODUCTS + 1)[-1]
    path = write_catalog(tmp_path / "catalog.csv", [*rows, {**extra, "pattern": ""}])
    ingest(os_client, path, alias, encoder, images_dir=FASHION)
    predicted = _source(os_client, alias, extra["sku"])["predicted"]
    assert set(predicted) == {"category", "colour_group"}
    assert predicted["category"]["value"] == extra["category"]


def test_corrections_survive_ingest_and_rebuild_until_the_catalog_changes(
    os_client, encoder, alias, trained, catalog, tmp_path
) -> None:
    row = fashion_rows(3)[2]
    done = set_override(os_client, alias, row["sku"], "colour_group", "Purple", "merch-1")
    assert (done.catalog, done.value, done.by) == (row["colour_group"], "Purple", "merch-1")
    assert _source(os_client, alias, row["sku"])["colour_group"] == "Purple"  # at once
    hits = os_client.search(index=alias, body={"query": {"term": {"colour_group": "Purple"}}})
    assert row["sku"] in {hit["_id"] for hit in hits["hits"]["hits"]}

    ingest(os_client, catalog, alias, encoder, images_dir=FASHION)
    assert _source(os_client, alias, row["sku"])["colour_group"] == "Purple"
    ingest(os_client, catalog, alias, encoder, images_dir=FASHION, rebuild=True)
    source = _source(os_client, alias, row["sku"])
    assert source["colour_group"] == "Purple"
    assert source["overrides"][0]["by"] == "merch-1"
    assert [o.value for o in list_overrides(os_client, alias, sku=row["sku"])] == ["Purple"]

    # The catalog changes its value later: the catalog wins.
    rows = _rows()
    rows[2]["colour_group"] = "Green"
    changed = write_catalog(tmp_path / "changed.csv", rows)
    ingest(os_client, changed, alias, encoder, images_dir=FASHION)
    source = _source(os_client, alias, row["sku"])
    assert source["colour_group"] == "Green"
    assert source["overrides"] == []
    ingest(os_client, catalog, alias, encoder, images_dir=FASHION)  # back to the catalog


def test_revert_puts_the_catalog_value_back(os_client, alias, trained) -> None:
    row = fashion_rows(5)[4]
    set_override(os_client, alias, row["sku"], "category", "Accessories", "merch-2")
    reverted = revert_override(os_client, alias, row["sku"], "category", "merch-3")
    assert reverted.value == "Accessories"
    assert _source(os_client, alias, row["sku"])["category"] == row["category"]
    assert list_overrides(os_client, alias, sku=row["sku"]) == []
    history = list_overrides(os_client, alias, sku=row["sku"], include_reverted=True)
    assert [o.status for o in history] == ["reverted"]


@pytest.mark.parametrize(
    ("sku", "attribute", "value", "error", "message"),
    [
        ("nope-123", "colour_group", "Red", UnknownProductError, "no product with sku 'nope-123'"),
        (None, "colour_group", "Red", UnknownAttributeError, "unknown attribute 'shade'"),
        (None, "colour_group", 7, BadValueError, "must be a string"),
        (None, "colour_group", "  ", BadValueError, "must not be empty"),
    ],
)
def test_bad_corrections_are_refused_and_change_nothing(
    os_client, alias, trained, sku, attribute, value, error, message
) -> None:
    row = fashion_rows(7)[6]
    attribute = "shade" if error is UnknownAttributeError else attribute
    before = _source(os_client, alias, row["sku"])
    with pytest.raises(error, match=message):
        set_override(os_client, alias, sku or row["sku"], attribute, value, "merch")
    assert _source(os_client, alias, row["sku"]) == before
    assert list_overrides(os_client, alias, sku=row["sku"], include_reverted=True) == []


def test_cli_reports_coverage_and_refuses_an_unknown_sku(opensearch_url, alias, trained) -> None:
    import json

    from click.testing import CliRunner

    from visearch import cli

    where = ["--opensearch-url", opensearch_url, "--index", alias]
    result = CliRunner().invoke(
        cli.main, ["attributes", "coverage", *where, "--attributes", "category", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["attributes"]["category"]["catalog"] == PRODUCTS
    result = CliRunner().invoke(
        cli.main, ["attributes", "set", *where, "nope-9", "colour_group", "Red"]
    )
    assert result.exit_code == 1
    assert "no product with sku 'nope-9'" in result.output
    result = CliRunner().invoke(cli.main, ["attributes", "review", *where, "--attributes", "hue"])
    assert result.exit_code == 1
    assert "unknown attribute 'hue'" in result.output


def _filled(client, alias: str) -> tuple[str, str, float]:  # noqa: ANN001
    """The blank-coloured product whose predicted colour is the most confident."""
    found = []
    for row in _rows()[BLANK]:
        predicted = _source(client, alias, row["sku"])["predicted"]["colour_group"]
        found.append((predicted["confidence"], row["sku"], predicted["value"]))
    confidence, sku, value = max(found)
    assert confidence >= FILL_THRESHOLD, f"no blank colour is predicted confidently: {found}"
    return sku, value, confidence


def test_a_filter_also_finds_products_whose_photo_predicts_the_missing_value(
    os_client, alias, trained
) -> None:
    sku, value, confidence = _filled(os_client, alias)
    searcher = open_searcher(os_client, alias)
    asked = SearchParams(filters={"colour_group": value.lower()}, k=100)  # case is forgiven
    on = {hit.sku: hit for hit in searcher.search(asked).hits}
    assert sku in on
    assert on[sku].predicted == {"colour_group": {"value": value, "confidence": confidence}}
    assert "colour_group" not in on[sku].attributes  # the catalog's stay apart
    off = searcher.search(SearchParams(filters={"colour_group": value}, k=100, predicted=False))
    assert sku not in {hit.sku for hit in off.hits}
    assert all(hit.predicted == {} for hit in off.hits)
    assert {hit.sku for hit in off.hits} < set(on)


def test_facet_counts_include_predicted_values_as_the_hits_do(os_client, alias, trained) -> None:
    sku, value, _ = _filled(os_client, alias)
    searcher = open_searcher(os_client, alias)
    for predicted in (True, False):
        browse = SearchParams(facets=("colour_group",), k=1, predicted=predicted)
        counts = {v.value: v.count for v in searcher.search(browse).facets["colour_group"]}
        chosen = SearchParams(
            filters={"colour_group": value}, facets=("colour_group",), k=100, predicted=predicted
        )
        result = searcher.search(chosen)
        shown = {v.value: v.count for v in result.facets["colour_group"]}
        assert counts[value] == shown[value] == result.total == len(result.hits)
        assert (sku in {hit.sku for hit in result.hits}) is predicted


def test_a_photo_query_reports_the_attributes_detected_in_it(
    os_client, encoder, alias, trained
) -> None:
    row = fashion_rows(1)[0]
    searcher = open_searcher(os_client, alias, load_encoder=lambda _: encoder)
    result = searcher.search(SearchParams(image=str(FASHION / row["image"]), k=3))
    assert set(result.detected) == {"category", "colour_group"}
    assert result.detected["category"]["value"] == row["category"]
    assert all(0.0 < guess["confidence"] <= 1.0 for guess in result.detected.values())
    assert "detected: category " + row["category"] in render(result.as_dict())
    words = searcher.search(SearchParams(keywords="shirt", k=1))
    assert words.detected == {}


def test_an_index_without_predictions_detects_nothing(os_client, encoder, alias) -> None:
    bare = Searcher(os_client, alias, encoder)
    object.__setattr__(bare, "_schema", [replace(bare.schema, predicted_fields=())])
    row = fashion_rows(1)[0]
    assert bare.search(SearchParams(image=str(FASHION / row["image"]), k=1)).detected == {}
