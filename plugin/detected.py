"""What the index's attribute models detect in a shopper's photo, with the models cached.

The models live in the cluster (attributes/store.py); a Searcher reads them at most once per
MODELS_TTL_S, and only for an index with predictions (none were trained otherwise), so a
search of an index without them makes no extra request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opensearchpy.exceptions import TransportError
from PIL import Image

from visearch.attributes.detect import detect_attributes
from visearch.attributes.errors import EncoderChangedError
from visearch.attributes.model import AttributeModel
from visearch.attributes.store import load_models
from visearch.plugin.params import SearchParams
from visearch.plugin.schema import IndexSchema

MODELS_TTL_S = 60.0


@dataclass
class AttributeDetector:
    _held: list[tuple[float, dict[str, AttributeModel]]] = field(default_factory=list)
    """(read at, the alias's models)."""

    def models(self, client: Any, schema: IndexSchema) -> dict[str, AttributeModel]:
        """The alias's models for its encoder; none when the index has no predictions, the
        models belong to another encoder or cannot be read: detection is extra information,
        never a reason for a search to fail."""
        if not schema.predicted_fields:
            return {}
        if not self._held or time.monotonic() - self._held[0][0] > MODELS_TTL_S:
            try:
                models = load_models(client, schema.alias, schema.encoder)
            except (EncoderChangedError, TransportError, ValueError, KeyError):
                models = {}
            self._held[:] = [(time.monotonic(), models)]
        return self._held[0][1]

    def detect(
        self,
        client: Any,
        schema: IndexSchema,
        params: SearchParams,
        vector: Any,
        image: Image.Image | None,
    ) -> dict[str, dict[str, Any]]:
        """attribute -> {value, confidence} read in the query photo. Only for a photo alone:
        a vector blended with text, or a stored product's, is not the shopper's photo."""
        if params.image is None or params.text is not None or vector is None:
            return {}
        models = self.models(client, schema)
        return detect_attributes(models, np.asarray(vector), image) if models else {}

    def clear(self) -> None:
        self._held.clear()
