"""The neighbours' vote of the attribute models: a product's own photos never vouch for its
catalog value (training, re-predicting and ingest alike), the shared memory is stored once
beside the models and replaced with them, and training is the same on every run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from support import FASHION, fashion_rows
from visearch.attributes.colour import colour_features
from visearch.attributes.dataset import Products
from visearch.attributes.features import photo_row
from visearch.attributes.model import CLIP
from visearch.attributes.neighbours import sku_key
from visearch.attributes.predict import predict_document, product_probabilities
from visearch.attributes.store import load_models, models_index, save_models
from visearch.attributes.train import TrainConfig, train_models

# A vote forced on (a real catalog needs 1,000 training products before one is tried).
VOTING = TrainConfig(
    reduced_dim=16, validation_share=0.2, neighbours_from=0, neighbour_weights=(4.0,)
)


@pytest.fixture(scope="module")
def products(encoder) -> Products:  # noqa: ANN001
    """80 real products, one photo each; one shoe the catalog calls Apparel."""
    rows = fashion_rows(80)
    photos = []
    for row in rows:
        with Image.open(FASHION / row["image"]) as image:
            photos.append(image.convert("RGB"))
    vectors = np.asarray(encoder.embed_images(photos))
    features = np.stack(
        [photo_row(v, colour_features(p)) for v, p in zip(vectors, photos, strict=True)]
    )
    category = [r["category"] for r in rows]
    category[_shoe()] = "Apparel"
    return Products(
        [r["sku"] for r in rows],
        features,
        np.arange(len(rows)),
        {"category": category},
        [{} for _ in rows],
    )


def _shoe() -> int:
    return next(i for i, r in enumerate(fashion_rows(80)) if r["category"] == "Footwear")


def test_a_product_in_the_memory_is_not_vouched_for_by_its_own_photos(products) -> None:
    model = train_models(products, ["category"], "efficientnet-lite0", VOTING)["category"]
    assert model.neighbours is not None and model.meta["neighbour_weight"] == 4.0
    assert model.clip == CLIP
    shoe, apparel = _shoe(), model.classes.index("Apparel")
    keys = np.array([sku_key(s) for s in products.skus], dtype=np.uint32)
    everything = np.arange(len(products.skus))
    fair = product_probabilities(model, products.rows, products.owner, everything, keys)
    own = product_probabilities(model, products.rows, products.owner, everything)
    assert model.classes[int(fair[shoe].argmax())] == "Footwear"
    assert 1.0 - fair[shoe, apparel] > 0.5  # doubted: a probable mislabel
    assert own[shoe, apparel] > fair[shoe, apparel] + 0.1  # what its own label would add
    # Ingest re-predicts a product it holds the same way: by sku.
    values = {"category": "Apparel"}
    row = products.rows[shoe : shoe + 1]
    at_ingest = predict_document({"category": model}, row, values, products.skus[shoe])
    assert at_ingest["category"]["value"] == "Footwear"
    assert at_ingest["category"]["doubt"] == pytest.approx(1.0 - fair[shoe, apparel], abs=1e-3)


def test_the_memory_is_stored_once_and_replaced_with_its_models(
    os_client, index_name, products
) -> None:
    models = train_models(products, ["category"], "efficientnet-lite0", VOTING)
    twin = {"gender": _relabelled(models["category"], "gender")}
    save_models(os_client, index_name, [*models.values(), *twin.values()])
    loaded = load_models(os_client, index_name, "efficientnet-lite0")
    assert set(loaded) == {"category", "gender"}  # the memory document is not a model
    assert loaded["category"].id == models["category"].id
    assert loaded["category"].neighbours.memory is loaded["gender"].neighbours.memory
    keys = np.array([sku_key(s) for s in products.skus], dtype=np.uint32)
    everything = np.arange(len(products.skus))
    before = product_probabilities(models["category"], products.rows, products.owner,
                                   everything, keys)  # fmt: skip
    after = product_probabilities(loaded["category"], products.rows, products.owner,
                                  everything, keys)  # fmt: skip
    assert np.allclose(before, after, atol=1e-5)
    assert _memories(os_client, index_name) == [models["category"].neighbours.memory.id]
    # Trained again on other products: the new memory replaces the old once both models do.
    fewer = _last(products, 70)
    again = train_models(fewer, ["category"], "efficientnet-lite0", VOTING)["category"]
    save_models(os_client, index_name, [again, _relabelled(again, "gender")])
    assert _memories(os_client, index_name) == [again.neighbours.memory.id]


def test_training_gives_the_same_models_on_every_run(products) -> None:
    config = TrainConfig(
        reduced_dim=16, validation_share=0.2, hidden=32, hidden_from=0, neighbours_from=0
    )
    first = train_models(products, ["category"], "efficientnet-lite0", config)["category"]
    second = train_models(products, ["category"], "efficientnet-lite0", config)["category"]
    assert first.hidden_weight is not None
    assert first.id == second.id


def _relabelled(model, attribute: str):  # noqa: ANN001, ANN202
    from dataclasses import replace

    return replace(model, attribute=attribute, meta={**model.meta})


def _last(products: Products, n: int) -> Products:
    return Products(
        products.skus[-n:],
        products.rows[-n:],
        np.arange(n),
        {name: values[-n:] for name, values in products.values.items()},
        products.predicted[-n:],
    )


def _memories(client, alias: str) -> list[str]:  # noqa: ANN001
    body = {"query": {"bool": {"must_not": {"exists": {"field": "attribute"}}}}, "_source": False}
    return sorted(hit["_id"] for hit in client.search(index=models_index(alias), body=body)
                  ["hits"]["hits"])  # fmt: skip
