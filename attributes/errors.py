"""Attribute errors carry data (the attribute, what was found); the CLI and HTTP layers turn
them into fix-it messages. Each is raised before anything is written."""

from __future__ import annotations

from collections.abc import Sequence


class AttributeError_(ValueError):  # noqa: N801 - `AttributeError` is a builtin
    """Base class of every attribute error."""


class UnknownAttributeError(AttributeError_):
    def __init__(self, attribute: str, known: Sequence[str]) -> None:
        self.attribute, self.known = attribute, tuple(known)
        names = ", ".join(self.known) or "none"
        super().__init__(
            f"unknown attribute {attribute!r}: the index's keyword attributes are {names}"
        )


class TooFewLabelsError(AttributeError_):
    def __init__(self, attribute: str, labelled: int, classes: int, needed: str) -> None:
        self.attribute, self.labelled, self.classes = attribute, labelled, classes
        super().__init__(
            f"too few labels to learn {attribute!r}: {labelled} labelled products in "
            f"{classes} values; {needed}"
        )


class NoModelError(AttributeError_):
    def __init__(self, alias: str, attribute: str | None = None) -> None:
        self.alias, self.attribute = alias, attribute
        what = f"a model for {attribute!r}" if attribute else "attribute models"
        super().__init__(f"{alias!r} has no {what} yet; run `visearch attributes train` first")


class EncoderChangedError(AttributeError_):
    def __init__(self, alias: str, model_encoder: str, index_encoder: str) -> None:
        self.alias = alias
        self.model_encoder, self.index_encoder = model_encoder, index_encoder
        super().__init__(
            f"the attribute models of {alias!r} were trained on {model_encoder!r} vectors but "
            f"the index now holds {index_encoder!r} vectors; run `visearch attributes train` again"
        )


class UnknownProductError(AttributeError_):
    def __init__(self, alias: str, sku: str) -> None:
        self.alias, self.sku = alias, sku
        super().__init__(f"{alias!r} has no product with sku {sku!r}")


class BadValueError(AttributeError_):
    def __init__(self, attribute: str, value: object, reason: str) -> None:
        self.attribute, self.value = attribute, value
        super().__init__(f"bad value {value!r} for {attribute!r}: {reason}")


class ZeroShotError(AttributeError_):
    """A zero-shot model cannot be made: no text tower, no value names, another encoder."""

    def __init__(self, reason: str, attribute: str | None = None) -> None:
        self.reason, self.attribute = reason, attribute
        what = f" for {attribute!r}" if attribute else ""
        super().__init__(f"cannot predict{what} zero-shot: {reason}")
