"""The JSON shapes of the API (pydantic, so /openapi.json documents them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BoostsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    in_stock_first: bool = False
    popularity_weight: float = 0.0


class SearchRequest(BaseModel):
    """A search: any mix of image (upload or image_url), text, similar_to, keywords and
    filters. In multipart requests the image is the `image` file part and these fields come
    as a `params` JSON part and/or as form fields (filters, facets, boosts as JSON)."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, description="http(s) URL of a query image")
    text: str | None = Field(None, description="text-to-image query (CLIP encoders only)")
    similar_to: str | None = Field(None, description="sku: more products like this one")
    keywords: str | None = Field(None, description="BM25 over title and description")
    filters: dict[str, str | list[str]] = Field(
        default_factory=dict, description="field -> value(s): OR within a field, AND across"
    )
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    facets: list[str] = Field(
        default_factory=list, description="fields to count; a filter on one is a selection"
    )
    facet_size: int = 50
    k: int = Field(20, description="page size")
    page: int = Field(0, description="0-based page")
    candidates: int | None = Field(None, description="candidate pool size N (default 200)")
    min_score: float | None = Field(None, description="minimum cosine similarity, -1..1")
    image_weight: float = 1.0
    text_weight: float = 1.0
    boosts: BoostsIn | None = None


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    message: str
    request_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "bad parameters (an unknown field lists the valid ones), or a forbidden image_url",
        404: "no such product",
        413: "image larger than --max-upload-mb",
        415: "the upload (or what image_url serves) is not a supported image",
        422: "an image that cannot be decoded or fetched",
        502: "OpenSearch answered with an error",
        503: "OpenSearch unreachable, or no index behind the alias",
        504: "slower than --timeout-s",
    }.items()
}
