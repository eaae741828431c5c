"""What `visearch attributes train|coverage|review` do, as library calls on an alias."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from opensearchpy import NotFoundError, helpers

from visearch.attributes.dataset import Products, check_attributes, load_products
from visearch.attributes.model import AttributeModel
from visearch.attributes.neighbours import sku_key
from visearch.attributes.predict import (
    FILL_THRESHOLD,
    REVIEW_THRESHOLD,
    predictions,
    product_probabilities,
)
from visearch.attributes.store import MODEL_DOCUMENTS, models_index, save_models
from visearch.attributes.train import TrainConfig, train_for_review
from visearch.attributes.zero_shot import check_text_tower, value_names, zero_shot_model
from visearch.mappings.fields import PHOTO_IMAGE, PHOTOS_FIELD, PREDICTED


def index_encoder(client: Any, alias: str) -> str | None:
    """The encoder the alias's index records in its mapping."""
    mapping = client.indices.get_mapping(index=alias)
    encoders = {(body["mappings"].get("_meta") or {}).get("encoder") for body in mapping.values()}
    return next(iter(encoders)) if len(encoders) == 1 else None


def modelled_attributes(client: Any, alias: str) -> list[str]:
    """The attributes the alias has models of (what the catalog-health view shows)."""
    body = {"size": 1000, "_source": ["attribute"], "query": MODEL_DOCUMENTS}
    try:
        hits = client.search(index=models_index(alias), body=body)["hits"]["hits"]
    except NotFoundError:
        return []
    return sorted(hit["_source"]["attribute"] for hit in hits)


def train_alias(
    client: Any, alias: str, attributes: Sequence[str], config: TrainConfig | None = None
) -> dict[str, Any]:
    """Train, store and apply one model per attribute; what was learned, per attribute."""
    chosen = check_attributes(client, alias, attributes)
    encoder = index_encoder(client, alias) or ""
    products = load_products(client, alias, chosen)
    models, unseen = train_for_review(products, chosen, encoder, config or TrainConfig())
    save_models(client, alias, models.values())
    written = write_predictions(client, alias, models, products, unseen)
    return {
        "alias": alias,
        "encoder": encoder,
        "products": len(products.skus),
        "predictions_written": written,
        "models": {name: _summary(model) for name, model in models.items()},
    }


def zero_shot_alias(
    client: Any, alias: str, values: Mapping[str, Sequence[str] | None], encoder: Any
) -> dict[str, Any]:
    """Make, store and apply a zero-shot model per attribute of `values` (attribute -> its
    value names; None: the names the catalog uses) with `encoder`'s text tower; everything
    is checked before anything is written."""
    chosen = check_attributes(client, alias, values)
    recorded = index_encoder(client, alias)
    check_text_tower(encoder, recorded)
    names = {
        name: value_names(name, _given_or_catalog(client, alias, name, values[name]))
        for name in chosen
    }
    products = load_products(client, alias, chosen)
    models = {name: zero_shot_model(name, names[name], encoder, products) for name in chosen}
    save_models(client, alias, models.values())
    written = write_predictions(client, alias, models, products)
    return {
        "alias": alias,
        "encoder": encoder.name,
        "products": len(products.skus),
        "predictions_written": written,
        "models": {name: _summary(model) for name, model in models.items()},
    }


def _given_or_catalog(
    client: Any, alias: str, name: str, given: Sequence[str] | None
) -> Sequence[str]:
    return catalog_values(client, alias, name) if given is None else given


def catalog_values(client: Any, alias: str, attribute: str, limit: int = 1000) -> list[str]:
    """The values the catalog gives `attribute` (at most `limit`, most used first)."""
    body = {"size": 0, "aggs": {"values": {"terms": {"field": attribute, "size": limit}}}}
    buckets = client.search(index=alias, body=body)["aggregations"]["values"]["buckets"]
    return [str(bucket["key"]) for bucket in buckets]


def _summary(model: AttributeModel) -> dict[str, Any]:
    return {
        "model": model.id,
        "values": len(model.classes),
        "temperature": round(model.temperature, 3),
        **model.meta,
    }


def write_predictions(
    client: Any,
    alias: str,
    models: Mapping[str, AttributeModel],
    products: Products,
    unseen: Mapping[str, np.ndarray] | None = None,
) -> int:
    """Store every product's predictions beside its values (partial updates); how many.
    `unseen`: per attribute, probabilities from weights that never fitted each product
    (train_for_review), used instead of the model's own, so the doubt `review` lists is
    not blind to the mislabels the model was trained on."""
    everything = np.arange(len(products.skus))
    keys = np.array([sku_key(sku) for sku in products.skus], dtype=np.uint32)
    fields: list[dict[str, Any]] = [{} for _ in everything]
    for name, model in models.items():
        probs = (unseen or {}).get(name)
        if probs is None:
            probs = product_probabilities(model, products.rows, products.owner, everything, keys)
        for i, found in enumerate(predictions(model, probs, products.values[name])):
            fields[i][name] = found.as_field()
    actions = (
        {"_op_type": "update", "_index": alias, "_id": sku, "doc": {PREDICTED: field}}
        for sku, field in zip(products.skus, fields, strict=True)
    )
    written, _ = helpers.bulk(client, actions, chunk_size=500, refresh=True)
    return int(written)


def coverage(
    client: Any, alias: str, attributes: Sequence[str], threshold: float = FILL_THRESHOLD
) -> dict[str, Any]:
    """Per attribute: products with a catalog value, with only a confident prediction, and
    with neither."""
    chosen = check_attributes(client, alias, attributes)
    aggs = {}
    for name in chosen:
        filled = {
            "bool": {
                "must_not": [{"exists": {"field": name}}],
                "filter": [{"range": {f"{PREDICTED}.{name}.confidence": {"gte": threshold}}}],
            }
        }
        aggs[name] = {
            "filters": {"filters": {"catalog": {"exists": {"field": name}}, "predicted": filled}}
        }
    body = {"size": 0, "track_total_hits": True, "aggs": aggs}
    response = client.search(index=alias, body=body)
    total = int(response["hits"]["total"]["value"])
    rows = {}
    for name in chosen:
        buckets = response["aggregations"][name]["buckets"]
        catalog, predicted = buckets["catalog"]["doc_count"], buckets["predicted"]["doc_count"]
        rows[name] = {
            "catalog": catalog,
            "predicted": predicted,
            "missing": total - catalog - predicted,
        }
    return {"alias": alias, "products": total, "threshold": threshold, "attributes": rows}


def review(
    client: Any,
    alias: str,
    attributes: Sequence[str],
    threshold: float = REVIEW_THRESHOLD,
    limit: int = 50,
) -> dict[str, Any]:
    """Probable mislabels: catalog values a confident prediction disagrees with, most doubted
    first, each with the product's main photo."""
    chosen = check_attributes(client, alias, attributes)
    found = sorted(
        (row for name in chosen for row in _doubted(client, alias, name, threshold, limit)),
        key=lambda row: (-row["doubt"], row["sku"], row["attribute"]),
    )
    return {"alias": alias, "threshold": threshold, "mislabels": found[:limit]}


def _doubted(
    client: Any, alias: str, name: str, threshold: float, limit: int
) -> Iterator[dict[str, Any]]:
    field = f"{PREDICTED}.{name}"
    body = {
        "size": limit,
        "query": {"range": {f"{field}.doubt": {"gte": threshold}}},
        "sort": [{f"{field}.doubt": "desc"}, {"sku": "asc"}],
        "_source": ["sku", "title", name, field, f"{PHOTOS_FIELD}.{PHOTO_IMAGE}"],
    }
    for hit in client.search(index=alias, body=body)["hits"]["hits"]:
        source = hit["_source"]
        predicted = source[PREDICTED][name]
        if source.get(name) in (None, predicted["value"]):  # changed since it was predicted
            continue
        photos = source.get(PHOTOS_FIELD) or [{}]
        yield {
            "sku": hit["_id"],
            "title": source.get("title"),
            "attribute": name,
            "catalog": source.get(name),
            "predicted": predicted["value"],
            "confidence": predicted["confidence"],
            "doubt": predicted["doubt"],
            "model": predicted.get("model"),
            "image": photos[0].get(PHOTO_IMAGE),
        }
