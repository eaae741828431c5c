"""Where each attribute value of a product comes from: the catalog, a merchandiser's
correction (who, when, what it replaced) or, where the catalog has none, a confident
prediction from the product's photos. What the product panel shows, row by row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visearch.attributes.overrides import _single
from visearch.attributes.predict import FILL_THRESHOLD
from visearch.mappings.fields import OVERRIDES, PREDICTED


def attribute_sources(
    source: Mapping[str, Any], attributes: Sequence[str], threshold: float = FILL_THRESHOLD
) -> dict[str, dict[str, Any]]:
    """attribute -> {value, source, ...} for each attribute with a value or a prediction.

    `source` is one of catalog, corrected (with by, at and the catalog value it replaced),
    predicted (with confidence: only at or above `threshold`, as search fills it) or missing
    (a prediction too unsure to use). `prediction` is what the photos say, where models ran.
    """
    corrections = {o.get("attribute"): o for o in source.get(OVERRIDES) or []}
    guesses = source.get(PREDICTED) or {}
    rows: dict[str, dict[str, Any]] = {}
    for name in attributes:
        value, guess = _single(source.get(name)), guesses.get(name)
        if value is None and guess is None:
            continue
        prediction = {"value": guess["value"], "confidence": guess["confidence"]} if guess else None
        row: dict[str, Any] = {"value": value, "source": "catalog", "prediction": prediction}
        fix = corrections.get(name)
        if value is not None and fix is not None and fix.get("value") == value:
            row.update(source="corrected", by=fix.get("by"), at=fix.get("at"),
                       catalog=fix.get("catalog"))  # fmt: skip
        elif value is None and guess is not None:
            used = guess["confidence"] >= threshold
            row.update(value=guess["value"] if used else None,
                       source="predicted" if used else "missing",
                       confidence=guess["confidence"])  # fmt: skip
        rows[name] = row
    return rows
