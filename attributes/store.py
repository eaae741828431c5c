"""Attribute models live in the cluster, in `<alias>-attribute-models` (one document per
attribute, id = the attribute), so every host that ingests or serves the alias sees the same
models. Each carries its id (a hash of its weights) and the encoder whose vectors it read:
models of another encoder are refused, as an adapter of another model is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opensearchpy import NotFoundError

from visearch.attributes.errors import EncoderChangedError, NoModelError
from visearch.attributes.model import AttributeModel

_MAPPING = {
    "dynamic": False,
    "properties": {"attribute": {"type": "keyword"}, "model_id": {"type": "keyword"}},
}


def models_index(alias: str) -> str:
    return f"{alias}-attribute-models"


def save_models(client: Any, alias: str, models: Iterable[AttributeModel]) -> list[str]:
    """Store `models` (each replaces the alias's model of its attribute); their ids."""
    index = models_index(alias)
    if not client.indices.exists(index=index):
        settings = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
        client.indices.create(
            index=index, body={"settings": settings, "mappings": _MAPPING}, ignore=400
        )  # created meanwhile by another host
    ids = []
    for model in models:
        client.index(index=index, id=model.attribute, body=model.as_document(), refresh=True)
        ids.append(model.id)
    return ids


def load_models(
    client: Any, alias: str, encoder: str | None, attributes: Iterable[str] | None = None
) -> dict[str, AttributeModel]:
    """The alias's models (only `attributes` when given; {} when none was trained).

    A model trained on another encoder's vectors than `encoder` (the index's) raises
    EncoderChangedError: its predictions would be noise.
    """
    index = models_index(alias)
    wanted = list(attributes) if attributes is not None else None
    try:
        if wanted is None:
            hits = client.search(index=index, body={"size": 1000, "query": {"match_all": {}}})
            docs = [hit["_source"] for hit in hits["hits"]["hits"]]
        else:
            found = client.mget(index=index, body={"ids": wanted})["docs"]
            docs = [doc["_source"] for doc in found if doc.get("found")]
    except NotFoundError:
        return {}
    models = {doc["attribute"]: AttributeModel.from_document(doc) for doc in docs}
    for model in models.values():
        if encoder is not None and model.encoder != encoder:
            raise EncoderChangedError(alias, model.encoder, encoder)
    return models


def require_models(
    client: Any, alias: str, encoder: str | None, attributes: Iterable[str] | None = None
) -> Mapping[str, AttributeModel]:
    """Like load_models, but NoModelError when a wanted model (or any) is missing."""
    models = load_models(client, alias, encoder, attributes)
    for name in attributes or ():
        if name not in models:
            raise NoModelError(alias, name)
    if not models:
        raise NoModelError(alias)
    return models
