"""The JSON shapes of the API (pydantic, so /openapi.json documents them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from visearch.plugin.params import Boosts, ParamSpec, search_parameters

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
