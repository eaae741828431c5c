"""Plain data passed between the ingest stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Product:
    """One valid catalog row. `image` is a path relative to the catalog, absolute, or a URL."""

    sku: str
    image: str
    title: str = ""
    description: str = ""
    price: float | None = None
    in_stock: bool | None = None
    popularity: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    line: int = 0  # where it came from, for error messages
    extra_images: tuple[str, ...] = ()  # more photos of the same product

    @property
    def images(self) -> tuple[str, ...]:
        """Every photo, the main one first."""
        return (self.image, *self.extra_images)


@dataclass(frozen=True)
class RowError:
    """Why one record could not be used; one JSONL line in the run's error report."""

    sku: str | None
    stage: str  # read | validate | image | embed | index | delete
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"sku": self.sku, "line": self.line, "stage": self.stage, "reason": self.reason}
