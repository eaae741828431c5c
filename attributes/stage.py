"""The ingest stage "attributes: predict + apply overrides", given to the applier once per run.

It holds the alias's models and active corrections (read once, at the start of the run), puts
each correction over the catalog value it replaced, and predicts every attribute of an
embedded or copied product from its photo rows. Predictions never touch catalog values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visearch.attributes.errors import EncoderChangedError
from visearch.attributes.features import product_rows
from visearch.attributes.model import AttributeModel
from visearch.attributes.overrides import Override, active_overrides
from visearch.attributes.predict import predict_document
from visearch.attributes.store import load_models
from visearch.mappings.fields import OVERRIDES, PHOTO_VECTOR, PREDICTED


class AttributeStage:
    def __init__(
        self, models: Mapping[str, AttributeModel], overrides: Mapping[str, list[Override]]
    ) -> None:
        self.models = dict(models)
        self.overrides = dict(overrides)

    @classmethod
    def load(cls, client: Any, alias: str, encoder: str, live: str | None) -> AttributeStage:
        """The alias's models (none when they were trained on another encoder's vectors: a
        rebuild with a new encoder must be trained again) and corrections. Both live in
        indices of their own, so a first build (`live` None) finds them too."""
        try:
            models = load_models(client, alias, encoder)
        except EncoderChangedError:
            models = {}
        return cls(models, active_overrides(client, alias))

    def product(self, product: Any) -> Any:
        """`product` (an ingest Product) with its corrections over its catalog values."""
        held = [o for o in self.overrides.get(product.sku, ()) if
                o.holds_over(product.attributes.get(o.attribute))]  # fmt: skip
        if not held:
            return product
        attributes = {**product.attributes, **{o.attribute: o.value for o in held}}
        return dataclasses.replace(product, attributes=attributes)

    def fields(self, product: Any) -> dict[str, Any]:
        """The corrections field of a document (a list: a partial update replaces it whole)."""
        held = [o for o in self.overrides.get(product.sku, ()) if
                product.attributes.get(o.attribute) == o.value]  # fmt: skip
        return {OVERRIDES: [o.as_field() for o in held]}

    def predicted(self, photos: Sequence[Mapping[str, Any]], values: Mapping[str, Any],
                  sku: str | None = None) -> dict[str, Any]:  # fmt: skip
        """The `predicted` field of a document from its stored photos; {} without models.
        `sku`: the product's, so that its own photos in a neighbour memory do not vote."""
        photos = [p for p in photos if p.get(PHOTO_VECTOR) is not None]
        if not self.models or not photos:
            return {}
        rows = product_rows(photos)
        if rows.shape[1] != next(iter(self.models.values())).mean.shape[0]:
            return {}  # another vector size: the models are stale until trained again
        return {PREDICTED: predict_document(self.models, np.asarray(rows), values, sku)}
