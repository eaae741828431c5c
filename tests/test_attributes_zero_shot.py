"""Zero-shot attribute models on a CLIP index: an attribute with too few labels to learn is
predicted from its value names through the text tower, stored and used like a trained model.

The CLIP here has random weights, so only the plumbing is checked (what is stored, where the
predictions land, the same threshold path), never whether a prediction is right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import FASHION, RUN_PREFIX, fashion_rows, ingest, write_catalog
from visearch.attributes.errors import TooFewLabelsError, UnknownAttributeError, ZeroShotError
from visearch.attributes.service import train_alias, zero_shot_alias
from visearch.attributes.sources import attribute_sources
from visearch.attributes.store import load_models, models_index
from visearch.attributes.zero_shot import ZERO_SHOT
from visearch.plugin.params import SearchParams
from visearch.plugin.search import open_searcher
from visearch.scripts.random_clip import save_random_clip, tiny_config

pytestmark = pytest.mark.slow

PRODUCTS = 30
PATTERNS = ["striped", "plain", "checked"]


def _rows() -> list[dict[str, str]]:
    rows = fashion_rows(PRODUCTS)
    for i, row in enumerate(rows):  # four labels: too few to learn
        row["pattern"] = "striped" if i < 4 else ""
    return rows


@pytest.fixture(scope="module")
def clip(tmp_path_factory):  # noqa: ANN001, ANN201
    from visearch.vectors import load_encoder

    folder = save_random_clip(tmp_path_factory.mktemp("models") / "tiny-clip", tiny_config())
    return load_encoder(f"clip:{folder}", device="cpu")


@pytest.fixture(scope="module")
def alias(os_client, clip, tmp_path_factory) -> str:  # noqa: ANN001
    name = f"{RUN_PREFIX}-zero-shot"
    catalog = write_catalog(tmp_path_factory.mktemp("zero-shot") / "catalog.csv", _rows())
    summary = ingest(os_client, catalog, name, clip, images_dir=FASHION)
    assert (summary.embedded, summary.failed) == (PRODUCTS, 0)
    return name


@pytest.fixture(scope="module")
def made(os_client, alias, clip) -> dict:  # noqa: ANN001
    with pytest.raises(TooFewLabelsError, match="'pattern': 4 labelled"):
        train_alias(os_client, alias, ["pattern"])  # what zero-shot is for
    return zero_shot_alias(os_client, alias, {"pattern": PATTERNS, "colour_group": None}, clip)


def _source(client, alias: str, sku: str) -> dict:  # noqa: ANN001
    return client.get(index=alias, id=sku)["_source"]


def _models(client, alias: str) -> dict:  # noqa: ANN001
    return {name: model.id for name, model in load_models(client, alias, None).items()}


def test_zero_shot_models_are_stored_with_their_kind_and_value_names(
    os_client, alias, clip, made
) -> None:
    models = load_models(os_client, alias, clip.name)
    assert set(models) == {"pattern", "colour_group"}
    pattern, colour = models["pattern"], models["colour_group"]
    assert (pattern.kind, pattern.encoder) == (ZERO_SHOT, clip.name)
    assert list(pattern.classes) == pattern.meta["value_names"] == PATTERNS
    assert pattern.meta["prompt"] == "a photo of a {value} product"
    catalog_colours = {row["colour_group"] for row in _rows()}
    assert set(colour.classes) == catalog_colours  # the catalog's value names
    # Calibrated like a trained model where the catalog labels enough products.
    assert made["models"]["colour_group"]["calibration_products"] == PRODUCTS
    assert made["models"]["pattern"]["calibration_products"] == 4
    assert pattern.temperature == 1.0  # too few to fit: CLIP's own scale
    assert made["models"]["pattern"]["model"] == pattern.id
    assert made["predictions_written"] == PRODUCTS


def test_predictions_land_beside_catalog_values_with_confidence(os_client, alias, made) -> None:
    models = load_models(os_client, alias, None)
    for i, row in enumerate(_rows()[:8]):
        source = _source(os_client, alias, row["sku"])
        guess = source["predicted"]["pattern"]
        assert guess["value"] in PATTERNS
        assert 0.0 < guess["confidence"] <= 1.0
        assert guess["model"] == models["pattern"].id
        assert ("doubt" in guess) is (i < 4)  # doubt only of a catalog value
        rows = attribute_sources(source, ["pattern"], threshold=0.0)
        expected = "catalog" if i < 4 else "predicted"
        assert rows["pattern"]["source"] == expected
        assert rows["pattern"]["value"] == (row["pattern"] or guess["value"])


def test_filters_count_zero_shot_predictions_at_the_same_threshold(os_client, alias, made) -> None:
    searcher = open_searcher(os_client, alias)
    threshold = searcher.schema.fill_threshold
    for row in _rows()[4:10]:
        guess = _source(os_client, alias, row["sku"])["predicted"]["pattern"]
        found = searcher.search(SearchParams(filters={"pattern": guess["value"]}, k=100))
        assert (row["sku"] in {hit.sku for hit in found.hits}) is (guess["confidence"] >= threshold)


def test_a_photo_query_detects_zero_shot_attributes(os_client, alias, clip, made) -> None:
    searcher = open_searcher(os_client, alias, load_encoder=lambda _: clip)
    row = _rows()[0]
    detected = searcher.search(SearchParams(image=str(FASHION / row["image"]), k=3)).detected
    assert detected["pattern"]["value"] in PATTERNS
    assert 0.0 < detected["pattern"]["confidence"] <= 1.0


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"shade": ["red", "blue"]}, UnknownAttributeError, "unknown attribute 'shade'"),
        ({"pattern": []}, ZeroShotError, "'pattern' zero-shot: it needs at least two value"),
        ({"pattern": ["striped", " striped "]}, ZeroShotError, "got striped"),
        ({"pattern": ["striped", 7]}, ZeroShotError, "value names must be strings"),
    ],
)
def test_bad_zero_shot_input_is_refused_and_changes_nothing(
    os_client, alias, clip, made, values, error, message
) -> None:
    before = _models(os_client, alias)
    sku = _rows()[5]["sku"]
    document = _source(os_client, alias, sku)
    with pytest.raises(error, match=message):
        zero_shot_alias(os_client, alias, values, clip)
    assert _models(os_client, alias) == before
    assert _source(os_client, alias, sku) == document


def test_an_encoder_without_a_text_tower_is_refused(
    os_client, encoder, index_name, tmp_path: Path
) -> None:
    rows = _rows()[:6]
    ingest(os_client, write_catalog(tmp_path / "c.csv", rows), index_name, encoder,
           images_dir=FASHION)  # fmt: skip
    with pytest.raises(ZeroShotError, match="'efficientnet-lite0' has no text tower"):
        zero_shot_alias(os_client, index_name, {"pattern": PATTERNS}, encoder)
    assert not os_client.indices.exists(index=models_index(index_name))
    assert "predicted" not in _source(os_client, index_name, rows[0]["sku"])


def test_cli_makes_zero_shot_models_and_explains_refusals(
    opensearch_url, os_client, alias, made, encoder, index_name, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from visearch import cli

    where = ["--opensearch-url", opensearch_url, "--index", alias]
    result = CliRunner().invoke(
        cli.main, ["attributes", "train", *where, "--zero-shot", "pattern=dotted,plain", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stderr may show the model loading
    assert set(data["models"]) == {"pattern"}  # --zero-shot alone trains nothing else
    assert data["models"]["pattern"]["kind"] == ZERO_SHOT
    assert data["models"]["pattern"]["value_names"] == ["dotted", "plain"]
    result = CliRunner().invoke(cli.main, ["attributes", "train", *where, "--zero-shot", "pattern"])
    assert result.exit_code == 1  # the catalog names one pattern only
    assert "at least two value names" in result.output and "Traceback" not in result.output

    rows = _rows()[:4]
    ingest(os_client, write_catalog(tmp_path / "c.csv", rows), index_name, encoder,
           images_dir=FASHION)  # fmt: skip
    flat = ["--opensearch-url", opensearch_url, "--index", index_name]
    result = CliRunner().invoke(cli.main, ["attributes", "train", *flat, "--zero-shot", "pattern"])
    assert result.exit_code == 1
    assert "no text tower" in result.output and "CLIP" in result.output
