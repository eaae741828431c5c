"""Every failure becomes `{"error": {"code", "message", ...}}` with the status that says whose
fault it is: 4xx the caller's (400 parameters, 404 sku, 413 size, 415 not an image, 422 an
image that cannot be used), 5xx ours or OpenSearch's (502 error answer, 503 unreachable or
no index, 504 too slow)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from visearch.plugin.errors import (
    EncoderMismatchError,
    IndexNotFoundError,
    LimitExceededError,
    ProductNotFoundError,
    QueryImageError,
    SearchBackendError,
    SearchError,
    SearchTimeoutError,
    UnknownFieldError,
    UnsupportedQueryError,
)
from visearch.vectors.images import BlockedURLError
from visearch.web.context import current_request_id

log = logging.getLogger("visearch.web")


class ApiError(Exception):
    """An error with its HTTP status, a stable code and extra JSON fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


_UNAVAILABLE = "the search backend is not available; try again shortly"


def to_api_error(error: Exception) -> ApiError:
    """The plugin's and the loader's errors, classified; anything else is a 500. A 5xx says
    only what kind of failure it was: the cluster's own words (hosts, index names, exception
    text) stay in the server log."""
    match error:
        case ApiError():
            return error
        case UnknownFieldError():
            return ApiError(
                400, "unknown_field", str(error), field=error.field, valid_fields=list(error.valid)
            )
        case LimitExceededError():
            return ApiError(400, "limit_exceeded", str(error), field=error.name,
                            limit=error.limit, given=error.given)  # fmt: skip
        case ProductNotFoundError():
            # Not str(error): that names the alias, which is the cluster's business.
            message = f"no product with sku {error.sku!r}"
            return ApiError(404, "product_not_found", message, sku=error.sku)
        case UnsupportedQueryError():
            return ApiError(400, "unsupported_query", str(error))
        case QueryImageError():
            return ApiError(422, "image_unusable", str(error))
        case ValueError():  # every other caller mistake of plugin/ (InvalidParamsError, ...)
            return ApiError(400, "invalid_params", str(error))
        case SearchTimeoutError():
            return ApiError(504, "timeout", "the search ran out of time")
        case IndexNotFoundError():
            return ApiError(503, "index_not_found", _UNAVAILABLE, retry_after=5)
        case EncoderMismatchError():
            message = "the service's encoder does not match the index; it must be restarted"
            return ApiError(503, "encoder_mismatch", message)
        case SearchBackendError():
            cause = error.__cause__
            if isinstance(cause, ConnectionTimeout):
                return ApiError(504, "opensearch_timeout", "the search backend did not answer")
            if isinstance(cause, OpenSearchConnectionError):
                return ApiError(503, "opensearch_unavailable", _UNAVAILABLE, retry_after=2)
            return ApiError(502, "opensearch_error", "the search backend failed to answer")
    return ApiError(500, "internal_error", "internal error; the log has the details")


def image_url_error(error: Exception) -> ApiError:
    """A refused or failed image_url, without the addresses its host resolved to."""
    log.warning("image_url refused or unreadable: %s", error)
    if isinstance(error, BlockedURLError):
        message = "image_url must name a public host (its address is not a public one)"
        return ApiError(400, "image_url_forbidden", message)
    reason = getattr(error, "reason", "")
    return ApiError(422, "image_url_unreadable", f"image_url could not be read: {reason}")


def error_response(error: ApiError) -> JSONResponse:
    body = {"code": error.code, "message": error.message, **error.extra}
    body["request_id"] = current_request_id()
    headers = {}
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
    return JSONResponse({"error": body}, status_code=error.status, headers=headers)


def install(app: FastAPI) -> None:
    """Exception handlers that turn known errors into the JSON error shape."""

    async def on_api_error(_: Request, error: Exception) -> JSONResponse:
        api = to_api_error(error)
        if api.status >= 500:
            log.error("%s: %s", api.code, error, exc_info=api.code == "internal_error")
        return error_response(api)

    async def on_validation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError | ValidationError)
        problems = [
            {"field": ".".join(str(part) for part in item["loc"]), "problem": item["msg"]}
            for item in error.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        return error_response(ApiError(400, "invalid_params", message, problems=problems))

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
        return error_response(ApiError(error.status_code, code, str(error.detail)))

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    # Anything else reaches web.context.RequestContext, which answers a JSON 500.
    for kind in (ApiError, SearchError, ValueError):
        app.add_exception_handler(kind, on_api_error)
