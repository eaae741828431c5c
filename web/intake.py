"""POST /v1/search bodies -> (SearchRequest, uploaded image bytes), with the size cap enforced
while reading (413 as soon as the body passes it, whatever Content-Length claimed)."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.types import Message

from visearch.web.config import MB, ServiceConfig
from visearch.web.errors import ApiError
from visearch.web.schemas import SearchRequest

_JSON_FIELDS = ("filters", "boosts")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def read_search(request: Request, config: ServiceConfig) -> tuple[Any, bytes | None]:
    """The search parameters and the uploaded image, if any; the body must arrive within
    `config.body_timeout_s` (408) and stay under the upload cap (413)."""
    max_image = config.max_upload_bytes
    try:
        with anyio.fail_after(config.body_timeout_s):
            body = await _read_capped(request, config.max_body_bytes)
    except TimeoutError:
        message = f"the request body did not arrive within {config.body_timeout_s:g}s"
        raise ApiError(408, "request_timeout", message) from None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _FORM_TYPES:
        replay = Request(request.scope, _replay(body))
        form = await replay.form(max_files=2, max_fields=64, max_part_size=MB)
        try:
            fields, upload = await _from_form(form)
            image = await _image_bytes(upload, max_image)
        finally:
            await form.close()
    elif kind in ("application/json", "") or kind.endswith("+json"):
        fields, image = _json_object(body or b"{}", "the request body"), None
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send application/json or multipart/form-data, not {kind!r}",
        )
    return SearchRequest.model_validate(fields), image


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes):  # noqa: ANN202 - an ASGI receive callable
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _from_form(form: FormData) -> tuple[dict[str, Any], UploadFile | None]:
    upload = form.get("image")
    if upload is not None and not isinstance(upload, UploadFile):
        raise ApiError(400, "invalid_params", "image must be a file part (use image_url for URLs)")
    params = form.get("params")
    if isinstance(params, UploadFile):  # a browser's Blob part: JSON with a file name
        params = await params.read(MB + 1)
    fields = _json_object(params, "the params part") if params is not None else {}
    for name in {key for key in form if key not in ("image", "params")}:
        values = [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]
        if not values:
            continue
        if name == "facets":
            fields[name] = _json(values[0], name) if values[0].startswith("[") else values
        elif name in _JSON_FIELDS:
            fields[name] = _json(values[0], name)
        else:
            fields[name] = values[0]
    return fields, upload


async def _image_bytes(upload: UploadFile | None, limit: int) -> bytes | None:
    if upload is None:
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(len(data), limit, "image")
    if not data:
        raise ApiError(400, "invalid_params", "the image part is empty")
    return data


def _json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "invalid_json", f"{what} is not valid JSON: {error}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", f"{what} is nested too deeply") from None


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    value = _json(text, what)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", f"{what} must be a JSON object")
    return value


def _too_large(size: int, limit: int, what: str = "request body") -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"{what} is larger than {limit} bytes (got at least {size}); "
        "query images are limited by --max-upload-mb",
        limit_bytes=limit,
    )
