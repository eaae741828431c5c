"""What the attribute models read and how they are kept: colour features of real catalog
photos (named colours, where they sit), older stored features never mixed with new ones, and
hidden-layer models that round-trip through the cluster and predict as they did."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from support import FASHION, fashion_rows
from visearch.attributes.colour import (
    COLOUR_DIM,
    REGION_OFFSET,
    colour_features,
    colour_features_batch,
)
from visearch.attributes.colour_regions import PALETTE_NAMES
from visearch.attributes.dataset import Products
from visearch.attributes.detect import detect_attributes
from visearch.attributes.features import photo_row
from visearch.attributes.model import AttributeModel
from visearch.attributes.store import load_models, save_models
from visearch.attributes.train import TrainConfig, train_models

OLD_COLOUR_DIM = 84  # the length of version 1's features


def _photo(row: dict[str, str]) -> Image.Image:
    with Image.open(FASHION / row["image"]) as image:
        return image.convert("RGB")


def _share(features: np.ndarray, *names: str) -> float:
    """The foreground's share of the named prototypes (features hold square roots)."""
    return sum(float(features[REGION_OFFSET + PALETTE_NAMES.index(n)]) ** 2 for n in names)


def test_colour_features_name_the_foreground_colour_of_real_photos() -> None:
    rows = fashion_rows(300)
    by_colour = {c: [r for r in rows if r["colour"] == c][:8] for c in ("Black", "White", "Red")}
    feats = {c: [colour_features(_photo(r)) for r in found] for c, found in by_colour.items()}
    for found in feats.values():
        for features in found:
            assert features.shape == (COLOUR_DIM,) and np.isfinite(features).all()
    dark = {c: np.mean([_share(f, "black", "dark grey") for f in fs]) for c, fs in feats.items()}
    light = {c: np.mean([_share(f, "white", "light grey") for f in fs]) for c, fs in feats.items()}
    red = {c: np.mean([_share(f, "red", "maroon") for f in fs]) for c, fs in feats.items()}
    assert dark["Black"] > 2 * max(dark["White"], dark["Red"])
    assert light["White"] > 2 * max(light["Black"], light["Red"])
    assert red["Red"] > 2 * max(red["Black"], red["White"])


def test_features_of_an_older_version_are_read_as_unknown_not_mixed() -> None:
    vector = np.ones(16, dtype=np.float32)
    old = photo_row(vector, [0.5] * OLD_COLOUR_DIM)
    assert old.shape == (16 + COLOUR_DIM,) and np.isnan(old[16:]).all()
    new = photo_row(vector, colour_features(_photo(fashion_rows(1)[0])))
    assert np.isfinite(new).all()
    # A model trained on the old layout reads rows of another length: it is skipped, not fed.
    dim = 16 + OLD_COLOUR_DIM
    stale = AttributeModel(
        "colour_group", ("Black", "White"), np.zeros(dim), np.ones(dim), np.zeros((dim, 2)),
        np.zeros(2),
    )  # fmt: skip
    assert detect_attributes({"colour_group": stale}, vector, _photo(fashion_rows(1)[0])) == {}


@pytest.fixture(scope="module")
def products(encoder) -> Products:  # noqa: ANN001
    """60 real products: their EfficientNet vectors and colour features, one photo each."""
    rows = fashion_rows(60)
    photos = [_photo(r) for r in rows]
    vectors = np.asarray(encoder.embed_images(photos))
    features = np.stack(
        [photo_row(v, colour_features(p)) for v, p in zip(vectors, photos, strict=True)]
    )
    values = {"category": [r["category"] for r in rows]}
    return Products(
        [r["sku"] for r in rows], features, np.arange(len(rows)), values, [{} for _ in rows]
    )


def test_hidden_layer_models_round_trip_through_the_cluster(
    os_client, index_name, products
) -> None:
    config = TrainConfig(reduced_dim=16, validation_share=0.2, hidden=32, hidden_from=0)
    model = train_models(products, ["category"], "efficientnet-lite0", config)["category"]
    assert model.hidden_weight is not None and model.hidden_weight.shape == (model.dim, 32)
    assert model.meta["hidden"] == 32 and model.meta["colour_version"] >= 2
    save_models(os_client, index_name, [model])
    loaded = load_models(os_client, index_name, "efficientnet-lite0")["category"]
    assert loaded.id == model.id
    probs = loaded.probabilities(products.rows)
    assert np.allclose(probs, model.probabilities(products.rows), atol=1e-5)
    truth = np.array([products.values["category"][i] for i in products.owner])
    accuracy = (np.array(loaded.classes)[probs.argmax(axis=1)] == truth).mean()
    assert accuracy >= 0.9  # categories of the photos it learned from


def test_linear_models_stored_before_the_hidden_layer_still_load(
    os_client, index_name, products
) -> None:
    config = TrainConfig(reduced_dim=16, validation_share=0.2)  # too few for a hidden layer
    model = train_models(products, ["category"], "efficientnet-lite0", config)["category"]
    assert model.hidden_weight is None and model.meta["hidden"] == 0
    document = model.as_document()
    document["format"] = 1  # as a model trained before the hidden layer existed was stored
    del document["hidden"]
    os_client.indices.create(index=f"{index_name}-attribute-models")
    os_client.index(
        index=f"{index_name}-attribute-models", id="category", body=document, refresh=True
    )
    loaded = load_models(os_client, index_name, "efficientnet-lite0")["category"]
    assert loaded.id == model.id
    assert np.allclose(loaded.probabilities(products.rows), model.probabilities(products.rows))


def test_a_batch_of_mixed_photos_gets_each_photos_own_features() -> None:
    # Batches group thumbnails by size; a plain photo (no foreground) counts whole.
    photos = [_photo(row) for row in fashion_rows(6)]
    photos += [photos[0].resize((300, 120)), photos[1].convert("L"), Image.new("RGB", (40, 90))]
    batch = colour_features_batch(photos)
    alone = np.stack([colour_features(photo) for photo in photos])
    assert batch.shape == (len(photos), COLOUR_DIM)
    assert np.array_equal(batch, alone)
    assert len({row.tobytes() for row in batch}) == len(photos)
