"""Attribute models live in the cluster, in `<alias>-attribute-models` (one document per
attribute, id = the attribute), so every host that ingests or serves the alias sees the same
models. Each carries its id (a hash of its weights) and the encoder whose vectors it read:
models of another encoder are refused, as an adapter of another model is. The neighbour
memory the models of one training run share (attributes/neighbours.py) is one more document
there, id = its memory id and no `attribute`, kept while a model refers to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opensearchpy import NotFoundError

from visearch.attributes.errors import EncoderChangedError, NoModelError
from visearch.attributes.model import AttributeModel
from visearch.attributes.neighbours import Memory

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
    models = list(models)
    memories = {m.neighbours.memory.id: m.neighbours.memory for m in models if m.neighbours}
    for memory_id, memory in memories.items():  # before the models that refer to it
        client.index(index=index, id=memory_id, body=memory.as_document(), refresh=True)
    ids = []
    for model in models:
        client.index(index=index, id=model.attribute, body=model.as_document(), refresh=True)
        ids.append(model.id)
    _drop_unused_memories(client, index)
    return ids


MODEL_DOCUMENTS = {"exists": {"field": "attribute"}}
"""The query for the model documents (not the neighbour memories beside them)."""


def _drop_unused_memories(client: Any, index: str) -> None:
    """Delete the memories no stored model refers to any more (replaced by a later run)."""
    body = {"size": 1000, "_source": ["neighbours.memory_id"], "query": MODEL_DOCUMENTS}
    hits = client.search(index=index, body=body)["hits"]["hits"]
    used = [(h["_source"].get("neighbours") or {}).get("memory_id") for h in hits]
    unused = {"bool": {"must_not": [MODEL_DOCUMENTS, {"ids": {"values": [u for u in used if u]}}]}}
    # Found, then deleted by id: `_delete_by_query` is a module some clusters lack (the
    # Elasticsearch node from Maven Central), and there are only a few memories.
    stale = client.search(index=index, body={"size": 1000, "_source": False, "query": unused})
    for hit in stale["hits"]["hits"]:
        client.delete(index=index, id=hit["_id"], refresh=True, ignore=404)


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
            hits = client.search(index=index, body={"size": 1000, "query": MODEL_DOCUMENTS})
            docs = [hit["_source"] for hit in hits["hits"]["hits"]]
        else:
            found = client.mget(index=index, body={"ids": wanted})["docs"]
            docs = [doc["_source"] for doc in found if doc.get("found")]
        memories = _memories(client, index, docs)
    except NotFoundError:
        return {}
    models = {doc["attribute"]: AttributeModel.from_document(doc, memories) for doc in docs}
    for model in models.values():
        if encoder is not None and model.encoder != encoder:
            raise EncoderChangedError(alias, model.encoder, encoder)
    return models


def _memories(client: Any, index: str, docs: list[dict[str, Any]]) -> dict[str, Memory]:
    """The memories the model documents `docs` refer to, each read (and held) once."""
    ids = sorted({d["neighbours"]["memory_id"] for d in docs if d.get("neighbours")})
    if not ids:
        return {}
    found = client.mget(index=index, body={"ids": ids})["docs"]
    return {d["_id"]: Memory.from_document(d["_source"]) for d in found if d.get("found")}


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
