"""/openapi.json: FastAPI's schema plus the request models that POST /v1/search reads itself
(it parses JSON and multipart bodies by hand to enforce the size cap while reading), without
the 422 FastAPI adds to every route with parameters: this service answers bad parameters
with 400 and its own error body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from visearch.web.schemas import SearchRequest

_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            models = SearchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(models.pop("$defs", {}))
            components["SearchRequest"] = models
            _drop_validation_422(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_validation_422(schema: dict[str, Any]) -> None:
    """Remove FastAPI's automatic 422 (a RequestValidationError is answered 400 here)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref == _FASTAPI_422:
                del responses["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
