"""The OpenAPI document, made to say what the server really answers.

FastAPI documents a 422 on every route with parameters; this server answers 400 instead, always
in OpenAI's error shape, so the document lists 400/401/404 (413 for uploads) with that shape and
no 422. Streamed runs document one Server-Sent Event (`event` + `data`) as their item.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """`{"error": {"message", "type", "param", "code"}}`, for every 4xx and 5xx."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


#: What every API route can answer besides its success.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Invalid request: a malformed body or parameter, or a refused action."),
    401: _error("Missing or wrong API key (only when the server has one)."),
    404: _error("No such object."),
}
#: What the routes that start a run (and so may need a sandbox session) can answer too.
RUN_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: _error(
        "Every sandbox session of the server is busy; retry after `Retry-After` "
        "seconds. Nothing was stored."
    ),
}
UPLOAD_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: _error("The file is larger than the server's limit."),
}

#: One event of a run's stream, as `text/event-stream` carries it.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "description": "thread.run.created, ..., done"},
        "data": {
            "type": "string",
            "description": "The event's object as JSON, or `[DONE]` for `done`.",
        },
    },
}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    if isinstance(operation, dict):
                        operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
