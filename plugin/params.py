"""What a caller may ask of a search, checked as a whole before any JSON is built.

`SearchParams` is frozen and normalised on construction (filter values become tuples of
strings, blank text becomes None), so two equal requests build equal JSON. Builders
(`with_filter`, `without_filter`, `with_page`, or `dataclasses.replace`) return new, re-checked
objects. Pages are 0-based: page 0 is the first `k` results.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal, Union

from PIL import Image

from visearch.plugin.errors import InvalidParamsError, LimitExceededError

MAX_CANDIDATES = 10_000
"""The k-NN plugin's largest k, and the index template's max_result_window."""
DEFAULT_CANDIDATES = 200
"""N when the caller gives none: fixed, so every page of one query ranks the same pool."""
MAX_FACET_SIZE = 1_000
# Limits checked before the cluster sees a request: past them a search fails there (too many
# clauses or terms) or costs more than any shopper's query needs.
MAX_KEYWORD_WORDS = 64
MAX_TEXT_CHARS = 1_000
MAX_FILTER_FIELDS = 32
MAX_FILTER_VALUES = 1_024  # across all filters
MAX_VALUE_CHARS = 256  # keyword fields index values up to 256 characters
MAX_FACETS = 32
FUSIONS = ("linear", "rrf")
DEFAULT_FUSION = "linear"  # measured by bench/relevance.py
DEFAULT_KEYWORD_WEIGHT = 0.4

ImageInput = Union[str, os.PathLike, bytes, Image.Image]  # noqa: UP007 - a runtime alias
FilterInput = Mapping[str, "str | int | Sequence[str | int]"]
Mode = Literal["vector", "hybrid", "keywords", "browse"]
# How a parameter travels outside Python; the CLI and the HTTP schema are generated from these.
Kind = Literal[
    "image", "text", "number", "integer", "tristate", "flag", "filters", "names", "boosts"
]


@dataclass(frozen=True)
class ParamSpec:
    """One search parameter as the entry points see it (see `search_parameters`)."""

    name: str
    kind: Kind
    default: Any
    help: str
    flag: str
    """The CLI option's name without dashes (`filter` for filters: it is given once per value)."""


def _param(
    kind: Kind, help: str, default: Any = None, *, factory: Any = None, flag: str = ""
) -> Any:
    metadata = {"kind": kind, "help": help, "flag": flag}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def search_parameters(cls: type | None = None) -> tuple[ParamSpec, ...]:
    """Every parameter of `SearchParams` (or of `Boosts`), in declaration order: the one
    definition the CLI options and the HTTP request schema are generated from."""
    specs = []
    for item in fields(cls or SearchParams):
        meta = item.metadata
        default = item.default_factory() if callable(item.default_factory) else item.default
        flag = meta.get("flag") or item.name.replace("_", "-")
        specs.append(ParamSpec(item.name, meta["kind"], default, meta["help"], flag))
    return tuple(specs)


@dataclass(frozen=True)
class Boosts:
    """Business rules applied after fusion; see plugin/README.md for how they combine."""

    in_stock_first: bool = _param(
        "flag", "Boost: in-stock products first (a stable partition of the ranked list).", False
    )
    popularity_weight: float = _param(
        "number", "Boost: final = fused + w * popularity, min-max normalised over the pool.", 0.0
    )
    detected_weight: float = _param(
        "number", "Boost: final = fused + w if a hit's category is the query photo's.", 0.0
    )

    def __post_init__(self) -> None:
        if not isinstance(self.in_stock_first, bool):
            raise InvalidParamsError("boosts.in_stock_first must be true or false")
        for name in ("popularity_weight", "detected_weight"):
            weight = getattr(self, name)
            if not _is_number(weight) or not math.isfinite(weight):
                raise InvalidParamsError(f"boosts.{name} must be a finite number")
            if weight < 0:
                raise InvalidParamsError(f"boosts.{name} must not be negative")


@dataclass(frozen=True)
class SearchParams:
    """One search: a query (image, text, keywords or just filters), filters, facets, a page."""

    image: ImageInput | None = _param(
        "image",
        "Query photo: a path or an http(s) URL (the library also takes bytes or a PIL image).",
    )
    text: str | None = _param("text", "Text to match visually (text-to-image; CLIP encoders only).")
    image_weight: float = _param(
        "number", "With image and text: v = normalise(image_weight*v_img + text_weight*v_txt).", 1.0
    )
    text_weight: float = _param("number", "Weight of the text vector (see image_weight).", 1.0)
    keywords: str | None = _param(
        "text",
        "Words matched against title, attributes and description; with a photo, they refine it.",
    )
    filters: FilterInput = _param(
        "filters",
        "Attribute filter FIELD=VALUE: OR within a field, AND across fields.",
        factory=dict,
        flag="filter",
    )
    price_min: float | None = _param("number", "Lowest price.")
    price_max: float | None = _param("number", "Highest price.")
    in_stock: bool | None = _param("tristate", "Only products in (or out of) stock.")
    k: int = _param("integer", "Results per page.", 20)
    page: int = _param("integer", "Page number, from 0.", 0)
    facets: tuple[str, ...] = _param(
        "names",
        "Count the values of this attribute; a filter on it is a multi-select selection.",
        (),
        flag="facet",
    )
    facet_size: int = _param(
        "integer", "At most this many values per facet (selected values always count).", 50
    )
    min_score: float | None = _param(
        "number", "Minimum cosine similarity (-1..1) of a vector candidate."
    )
    boosts: Boosts = _param("boosts", "Business boosts applied after fusion.", factory=Boosts)
    candidates: int | None = _param(
        "integer", "Size N of the candidate pool (default 200); pages past it are empty."
    )
    similar_to: str | None = _param(
        "text", "More like this: the sku whose stored vector is the query (it is left out)."
    )
    keyword_weight: float = _param(
        "number", "With a photo and words: the words' share of the ranking, 0..1.",
        DEFAULT_KEYWORD_WEIGHT,
    )  # fmt: skip
    fusion: str | None = _param(
        "text", f"How look and words combine: {' or '.join(FUSIONS)} (default {DEFAULT_FUSION})."
    )
    predicted: bool = _param(
        "flag",
        "Filters and facets also count products the catalog leaves blank whose photo predicts "
        "the value confidently (`visearch attributes train`); hits mark such values.",
        True,
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "text", _blank_to_none(self.text, "text"))
        set_(self, "keywords", _blank_to_none(self.keywords, "keywords"))
        set_(self, "similar_to", _blank_to_none(self.similar_to, "similar_to"))
        set_(self, "filters", _normalise_filters(self.filters))
        set_(self, "facets", _normalise_facets(self.facets))
        if isinstance(self.boosts, Mapping):
            set_(self, "boosts", _boosts_from_mapping(self.boosts))
        self._check_image()
        self._check_weights()
        self._check_numbers()
        self._check_limits()
        self._check_fusion()
        self._check_combinations()

    # ------------------------------------------------------------------ derived

    @property
    def has_vector_query(self) -> bool:
        return self.image is not None or self.text is not None or self.similar_to is not None

    @property
    def mode(self) -> Mode:
        if self.has_vector_query:
            return "hybrid" if self.keywords else "vector"
        return "keywords" if self.keywords else "browse"

    @property
    def pool_size(self) -> int:
        """N: how many candidates the vector (or keyword) search fetches."""
        return DEFAULT_CANDIDATES if self.candidates is None else self.candidates

    @property
    def has_filters(self) -> bool:
        return bool(self.filters) or self.in_stock is not None or self._has_price_range

    # ------------------------------------------------------------------ builders

    def with_filter(self, name: str, values: str | int | Sequence[str | int]) -> SearchParams:
        """A copy whose filter on `name` is `values` (replacing any earlier one), page 0."""
        return replace(self, filters={**self.filters, name: values}, page=0)

    def without_filter(self, name: str) -> SearchParams:
        """A copy without the filter on `name`, page 0."""
        return replace(
            self, filters={key: v for key, v in self.filters.items() if key != name}, page=0
        )

    def with_page(self, page: int) -> SearchParams:
        return replace(self, page=page)

    # ------------------------------------------------------------------ checks

    @property
    def _has_price_range(self) -> bool:
        return self.price_min is not None or self.price_max is not None

    def _check_image(self) -> None:
        image = self.image
        if image is None or isinstance(image, Image.Image):
            return
        if isinstance(image, bytes | bytearray):
            if not image:
                raise InvalidParamsError("image bytes are empty")
            return
        if isinstance(image, os.PathLike):
            image = os.fspath(image)
        if not isinstance(image, str):
            raise InvalidParamsError(
                "image must be a path, an http(s) URL, bytes or a PIL image, "
                f"not {type(image).__name__}"
            )
        if not image.strip():
            raise InvalidParamsError("image path or URL is empty")

    def _check_weights(self) -> None:
        for name in ("image_weight", "text_weight"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise InvalidParamsError(f"{name} must be a finite number >= 0, got {value!r}")
        given = [
            weight
            for weight, present in (
                (self.image_weight, self.image is not None),
                (self.text_weight, self.text is not None),
            )
            if present
        ]
        if given and not any(given):
            raise InvalidParamsError("the weights of the given image/text are all 0")

    def _check_numbers(self) -> None:
        _check_int("k", self.k, 1, MAX_CANDIDATES)
        _check_int("page", self.page, 0, MAX_CANDIDATES)
        _check_int("facet_size", self.facet_size, 1, MAX_FACET_SIZE)
        if (self.page + 1) * self.k > MAX_CANDIDATES:
            raise InvalidParamsError(
                f"page {self.page} of size {self.k} ends past result {MAX_CANDIDATES}, "
                "the deepest a search can page; narrow the query with filters"
            )
        if self.candidates is not None:
            _check_int("candidates", self.candidates, 1, MAX_CANDIDATES)
        for name in ("price_min", "price_max"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or not math.isfinite(value)):
                raise InvalidParamsError(f"{name} must be a finite number, got {value!r}")
        low, high = self.price_min, self.price_max
        if low is not None and high is not None and low > high:
            raise InvalidParamsError(f"price_min {low} is greater than price_max {high}")
        if self.in_stock is not None and not isinstance(self.in_stock, bool):
            raise InvalidParamsError(f"in_stock must be true, false or None, not {self.in_stock!r}")
        score = self.min_score
        if score is not None and (not _is_number(score) or not -1.0 <= score <= 1.0):
            raise InvalidParamsError(f"min_score is a cosine similarity in -1..1, got {score!r}")
        if not isinstance(self.boosts, Boosts):
            raise InvalidParamsError("boosts must be a Boosts or a mapping of its fields")
        if not isinstance(self.predicted, bool):
            raise InvalidParamsError(f"predicted must be true or false, not {self.predicted!r}")

    def _check_fusion(self) -> None:
        if self.fusion is None:
            object.__setattr__(self, "fusion", DEFAULT_FUSION)
        if self.fusion not in FUSIONS:
            raise InvalidParamsError(
                f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}"
            )
        weight = self.keyword_weight
        if not _is_number(weight) or not 0.0 <= weight <= 1.0:
            raise InvalidParamsError(f"keyword_weight must be a number in 0..1, got {weight!r}")

    def _check_limits(self) -> None:
        words = len(set((self.keywords or "").lower().split()))
        if words > MAX_KEYWORD_WORDS:
            raise LimitExceededError("keywords", MAX_KEYWORD_WORDS, words, "distinct words")
        for name in ("text", "keywords", "similar_to"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_TEXT_CHARS:
                raise LimitExceededError(name, MAX_TEXT_CHARS, len(value), "characters")
        if len(self.filters) > MAX_FILTER_FIELDS:
            raise LimitExceededError("filters", MAX_FILTER_FIELDS, len(self.filters), "fields")
        values = sum(len(v) for v in self.filters.values())
        if values > MAX_FILTER_VALUES:
            raise LimitExceededError("filters", MAX_FILTER_VALUES, values, "values")
        longest = max((len(v) for vs in self.filters.values() for v in vs), default=0)
        if longest > MAX_VALUE_CHARS:
            raise LimitExceededError("filter value", MAX_VALUE_CHARS, longest, "characters")
        if len(self.facets) > MAX_FACETS:
            raise LimitExceededError("facets", MAX_FACETS, len(self.facets), "fields")
        longest_name = max((len(n) for n in (*self.filters, *self.facets)), default=0)
        if longest_name > MAX_VALUE_CHARS:
            raise LimitExceededError("field name", MAX_VALUE_CHARS, longest_name, "characters")

    def _check_combinations(self) -> None:
        # Facets alone browse the whole catalog: the counts are the answer (a shop's landing page).
        if not (self.has_vector_query or self.keywords or self.has_filters or self.facets):
            raise InvalidParamsError(
                "nothing to search for: give an image, a text, keywords, filters or facets"
            )
        if self.similar_to is not None and (self.image is not None or self.text is not None):
            raise InvalidParamsError("similar_to is the query: give no image or text with it")
        if self.min_score is not None and not self.has_vector_query:
            raise InvalidParamsError("min_score needs an image or text query (it is a similarity)")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidParamsError(f"{name} must be an integer in {low}..{high}, got {value!r}")


def _blank_to_none(value: object, name: str) -> str | None:
    """An empty search box means "no text", not a search for the empty string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParamsError(f"{name} must be a string, not {type(value).__name__}")
    return value if value.strip() else None


def _filter_value(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidParamsError(
            f"filter {name!r}: values are strings, got {type(value).__name__} {value!r}"
        )
    text = str(value)
    if not text:
        raise InvalidParamsError(f"filter {name!r} has an empty value")
    return text


def _normalise_filters(filters: object) -> Mapping[str, tuple[str, ...]]:
    """field -> tuple of distinct string values, in the caller's order; read-only."""
    if not isinstance(filters, Mapping):
        raise InvalidParamsError("filters must be a mapping of field -> value(s)")
    out: dict[str, tuple[str, ...]] = {}
    for name, raw in filters.items():
        if not isinstance(name, str) or not name:
            raise InvalidParamsError(f"filter field names are non-empty strings, got {name!r}")
        values = [raw] if isinstance(raw, str | int) else raw
        if isinstance(values, set | frozenset):
            values = sorted(values, key=str)  # a set has no order; the JSON must have one
        if not isinstance(values, Sequence):
            raise InvalidParamsError(
                f"filter {name!r}: values are strings (or a list of them), "
                f"got {type(values).__name__} {values!r}"
            )
        normalised = tuple(dict.fromkeys(_filter_value(name, value) for value in values))
        if not normalised:
            raise InvalidParamsError(f"filter {name!r} has no values")
        out[name] = normalised
    return MappingProxyType(out)


def _normalise_facets(facets: object) -> tuple[str, ...]:
    if isinstance(facets, str) or not isinstance(facets, Sequence | set | frozenset):
        raise InvalidParamsError("facets must be a list of field names")
    for name in facets:
        if not isinstance(name, str) or not name:
            raise InvalidParamsError(f"facet names are non-empty strings, got {name!r}")
    return tuple(dict.fromkeys(facets))


def _boosts_from_mapping(raw: Mapping[str, object]) -> Boosts:
    valid = [item.name for item in fields(Boosts)]
    if unknown := set(raw) - set(valid):
        raise InvalidParamsError(f"unknown boosts {sorted(unknown)}; valid: {', '.join(valid)}")
    return Boosts(**raw)  # type: ignore[arg-type]
