"""The JSON shapes of the API (pydantic, so /openapi.json documents them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model

from visearch.plugin.params import Boosts, Mode, ParamSpec, search_parameters

# The request is generated from the library's one definition of the search parameters; only
# the image travels differently: an `image` file part (multipart) or `image_url`.
HTTP_NAMES = {"image": "image_url"}
_IMAGE_HELP = "http(s) URL of a query image (or upload it as the `image` part of a multipart body)"


_TYPES: dict[str, Any] = {
    "image": str | None,
    "text": str | None,
    "tristate": bool | None,
    "flag": bool,
    "filters": dict[str, str | list[str]],
    "names": list[str],
}


def _field(spec: ParamSpec, boosts: Any = None) -> tuple[Any, Any]:
    """The pydantic (type, default) of one search parameter (`boosts`: the nested model)."""
    description = _IMAGE_HELP if spec.kind == "image" else spec.help
    if spec.kind in ("filters", "names"):
        factory = dict if spec.kind == "filters" else list
        return _TYPES[spec.kind], Field(default_factory=factory, description=description)
    if spec.kind == "boosts":
        return boosts | None, Field(None, description=description)
    if spec.kind in ("number", "integer"):
        number = float if spec.kind == "number" else int
        kind = number if spec.default is not None else number | None
        return kind, Field(spec.default, description=description)
    return _TYPES[spec.kind], Field(spec.default, description=description)


_STRICT = ConfigDict(extra="forbid")
BoostsIn = create_model(
    "BoostsIn", __config__=_STRICT, **{p.name: _field(p) for p in search_parameters(Boosts)}
)
SearchRequest = create_model(
    "SearchRequest",
    __config__=_STRICT,
    __doc__=(
        "A search: any mix of image (upload or image_url), text, similar_to, keywords and "
        "filters. In multipart requests the image is the `image` file part and these fields "
        "come as a `params` JSON part and/or as form fields (filters, facets, boosts as JSON)."
    ),
    **{HTTP_NAMES.get(p.name, p.name): _field(p, BoostsIn) for p in search_parameters()},
)


# --------------------------------------------------------------------------- responses
# What the endpoints answer, field for field (the handlers' dicts are validated against these).


class Explanation(BaseModel):
    """Why a hit is where it is; null where that signal played no part."""

    vector_score: float | None = Field(description="OpenSearch's kNN _score, (1 + cos) / 2")
    similarity: float | None = Field(description="cosine similarity to the query vector")
    centroid_similarity: float | None = Field(
        description="cosine similarity to the product's overall look (mean of its photos)"
    )
    vector_rank: int | None = Field(description="rank in the vector search, from 1")
    keyword_score: float | None = Field(description="BM25 score of the keywords (keyword mode)")
    keyword_rank: int | None = Field(description="rank among the products matching the words")
    keyword_match: bool | None = Field(description="whether the product matches the words")
    kind_agreement: float | None = Field(
        description="share of the query photo's nearest products of the same kind (hybrid)"
    )
    exact_match: bool | None = Field(
        description="the query photo is a near-duplicate of this product's (shown first)"
    )
    fused_score: float | None = Field(description="the signals in one score, 0..1")
    rerank_score: float | None = Field(
        description="the learned re-ranker's score, when one re-ordered the top 100"
    )
    popularity_boost: float | None = Field(description="popularity_weight x normalised popularity")
    detected_boost: float | None = Field(
        None, description="detected_weight, when the hit's category is the one in the photo"
    )
    final_score: float | None = Field(description="fused_score + popularity_boost + detected_boost")


class _ProductFields(BaseModel):
    sku: str
    title: str | None
    price: float | None
    in_stock: bool | None
    popularity: float | None
    attributes: dict[str, str] = Field(
        description="keyword attributes (colour, brand, article_type, ... and extra columns)"
    )


_IMAGE_URL = "where a browser can load the product's photo (/images/... or the catalog's URL)"


class AttributeGuess(BaseModel):
    """A value read from a photo by the index's attribute models."""

    value: str
    confidence: float = Field(description="calibrated probability that the value is right, 0..1")


class AttributeSource(BaseModel):
    """One attribute of a product and where its value comes from."""

    value: str | None = Field(description="the value search uses (null: missing)")
    source: Literal["catalog", "corrected", "predicted", "missing"] = Field(
        description="catalog; corrected by a merchandiser; predicted from the photos (the "
        "catalog has none and the prediction is confident); missing (too unsure to fill)"
    )
    prediction: AttributeGuess | None = Field(
        description="what the photos say (null where no model ran)"
    )
    confidence: float | None = Field(None, description="predicted/missing: the prediction's")
    by: str | None = Field(None, description="corrected: who")
    at: str | None = Field(None, description="corrected: when (ISO 8601)")
    catalog: str | None = Field(None, description="corrected: the catalog value it replaced")


class Product(_ProductFields):
    """One product (GET /v1/products/{sku})."""

    image_url: str | None = Field(description=_IMAGE_URL)
    attribute_sources: dict[str, AttributeSource] = Field(
        description="every attribute with a value or a prediction, and where it comes from"
    )


class Hit(_ProductFields):
    """One ranked product, with why it is there."""

    explanation: Explanation
    image_url: str | None = Field(description=_IMAGE_URL)
    predicted: dict[str, AttributeGuess] = Field(
        description="attributes the catalog leaves blank, filled by a confident prediction from "
        "the product's photos (searches with predicted on); `attributes` holds the catalog's",
    )


class FacetValue(BaseModel):
    value: str
    count: int = Field(description="results after toggling this value (its own field ignored)")
    selected: bool


class PriceStats(BaseModel):
    """Over the results; count 0 and null min/max/avg when no product has a price."""

    count: int
    min: float | None
    max: float | None
    avg: float | None


class Timings(BaseModel):
    """Milliseconds per stage."""

    load_ms: float = Field(description="reading and decoding the query image")
    encode_ms: float = Field(description="running the encoder")
    opensearch_took_ms: float = Field(description="OpenSearch's own `took`")
    opensearch_ms: float = Field(description="the round trip to OpenSearch")
    total_ms: float = Field(description="the search library's whole call")
    service_ms: float = Field(description="the whole request in the service")


Facets = dict[str, list[FacetValue]]


class Notice(BaseModel):
    """Something the shopper should know about their filters or an empty result."""

    code: str = Field(description="unknown_value, no_match, missing_field or no_combination")
    message: str = Field(description="one sentence for people")
    field: str | None = Field(description="the filter field it concerns")
    value: str | None = Field(description="the filter value it concerns")
    did_you_mean: list[str] = Field(description="existing values closest to `value`")


class SearchResponse(BaseModel):
    """A page of ranked hits, facet counts and price stats."""

    mode: Mode = Field(description="vector, hybrid (vector + keywords), keywords or browse")
    hits: list[Hit]
    total: int = Field(description="how many results there are to page through")
    page: int
    k: int
    candidates: int | None = Field(description="candidate pool size (null when browsing)")
    facets: Facets = Field(description="field -> values, by count; selected values included")
    price: PriceStats | None
    timings: Timings
    notices: list[Notice] = Field(
        description="filter values no product has (with did_you_mean) and why a result is empty"
    )
    detected: dict[str, AttributeGuess] = Field(
        description="photo queries: what the index's attribute models read in the photo "
        "(empty when no models were trained for this index's encoder)",
    )


class AttributeCoverage(BaseModel):
    catalog: int = Field(description="products with a catalog value (or a correction)")
    predicted: int = Field(description="products without one whose prediction fills it")
    missing: int = Field(description="products with neither")


class CoverageResponse(BaseModel):
    """How much of the catalog each attribute covers (GET /v1/attributes/coverage)."""

    products: int
    threshold: float = Field(description="confidence a prediction needs to fill a value")
    attributes: dict[str, AttributeCoverage]


class Mislabel(BaseModel):
    """A catalog value that a confident prediction disagrees with."""

    sku: str
    title: str | None
    image_url: str | None = Field(description=_IMAGE_URL)
    attribute: str
    catalog: str = Field(description="the catalog's value")
    predicted: str = Field(description="what the photos say")
    confidence: float = Field(description="the prediction's confidence")
    doubt: float = Field(description="1 - the probability of the catalog's value")


class ReviewResponse(BaseModel):
    """Probable mislabels, most doubted first (GET /v1/attributes/review)."""

    threshold: float = Field(description="doubt a catalog value needs to be listed")
    mislabels: list[Mislabel]


class AttributeSet(BaseModel):
    """A merchandiser's correction of one attribute of one product (in search at once)."""

    model_config = _STRICT
    sku: str
    attribute: str
    value: StrictStr = Field(description="the new value (a string)")
    by: str = Field("web", description="who made it (kept with the correction)")


class AttributeRevert(BaseModel):
    """Undo the active correction of one attribute: the catalog value is back."""

    model_config = _STRICT
    sku: str
    attribute: str
    by: str = Field("web", description="who reverted it")


class Correction(BaseModel):
    """A correction as kept in `<alias>-attribute-overrides`."""

    sku: str
    attribute: str
    value: str
    catalog: str | None = Field(description="the catalog value it replaced (null: none)")
    by: str
    at: str
    status: Literal["active", "reverted"]


class FacetsResponse(BaseModel):
    """Facet counts and price stats of a browse."""

    total: int
    facets: Facets
    price: PriceStats | None


class EncoderInfo(BaseModel):
    name: str
    dim: int
    supports_text: bool
    runtime: str = Field(description="what runs the model: torch, or e.g. openvino/int8 x1")


class ServiceSettings(BaseModel):
    """What the page needs to know (GET /v1/config)."""

    alias: str | None = Field(description="the alias searched (null until connected)")
    available: bool = Field(description="a searcher is open")
    encoder: EncoderInfo | None
    text_search: bool = Field(description="text-to-image search works (CLIP encoders)")
    image_search: bool
    facets: list[str] = Field(description="the default facet fields")
    max_upload_bytes: int
    product_images: bool = Field(description="hits carry image URLs (--images-base was given)")


class Check(BaseModel):
    ok: bool
    status: str | None = Field(None, description="the cluster's health colour")
    problem: str | None = Field(None, description="a short code when not ok")


class MicroBatches(BaseModel):
    calls: int
    images: int


class EncoderCheck(Check):
    name: str | None = None
    dim: int | None = None
    supports_text: bool | None = None
    runtime: str | None = Field(default=None, description="torch, or e.g. openvino/int8 x1")
    micro_batches: MicroBatches | None = None


class HealthChecks(BaseModel):
    opensearch: Check | None = None
    index: Check | None = None
    encoder: EncoderCheck | None = None
    checked_at: float = Field(description="when the background monitor last checked (Unix time)")


class Health(BaseModel):
    """/healthz, from the background monitor's last check (absent fields are left out)."""

    status: Literal["ok", "unavailable"]
    checks: HealthChecks


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERROR_TEXT = {
    400: "bad parameters (an unknown field lists the valid ones), or a forbidden image_url",
    404: "no such product",
    409: "nothing to undo (the product has no active correction of that attribute)",
    408: "the request body did not arrive within --body-timeout-s",
    413: "image larger than --max-upload-mb",
    415: "the upload (or what image_url serves) is not a supported image, or the body is "
    "neither JSON nor multipart",
    422: "an image that cannot be decoded or fetched",
    502: "OpenSearch answered with an error",
    503: "OpenSearch unreachable or no index behind the alias (image searches: too much image "
    "work at once); Retry-After says when to try again",
    504: "slower than --timeout-s",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the error statuses an endpoint can answer."""
    return {status: {"model": ErrorBody, "description": _ERROR_TEXT[status]} for status in statuses}
