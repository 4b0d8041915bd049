"""Every error the server answers, in OpenAI's shape: `{"error": {message, type, param, code}}`.

The SDK maps the status to its exception class (400 BadRequestError, 401 AuthenticationError,
404 NotFoundError, ...) and retries 408/409/429/5xx, so permanent refusals are 400 or 404 and
never 409. Malformed input is always a 4xx: FastAPI's 422 validation errors become 400 with a
message naming the field, and the catch-all 500 is only for bugs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.sessions import SessionCapacityError
from ..store.errors import FileTooLargeError, InvalidRequestError, NotFoundError

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error answer the routes raise directly (401, 400 for things the store never sees)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code


def error_body(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, type_=type_, param=param, code=code),
        status_code=status,
        headers=dict(headers or {}),
    )


#: A multipart `file` part that arrived as a plain field: its Content-Disposition had no
#: `filename="..."`, typically because it named the file only as RFC 5987 `filename*=UTF-8''...`,
#: which multipart/form-data does not use (RFC 7578 section 4.2) and the parser ignores.
FILE_PART_WITHOUT_FILENAME = (
    "The 'file' part has no filename, so it is not a file upload: its Content-Disposition needs "
    "filename=\"NAME\" (UTF-8 is fine there). An RFC 5987 filename*=UTF-8''... parameter alone "
    "is not used in multipart/form-data (RFC 7578 section 4.2). Nothing was stored."
)

#: What OpenAI answered for the one-error-at-a-time cases, by pydantic's error type.
_MESSAGES = {
    "missing": "Missing required parameter: '{param}'.",
    "extra_forbidden": "Unrecognized request argument supplied: {param}",
}


def _param_path(loc: Sequence[int | str], body: Any) -> str:
    """`('body', 'tools', 0, 'function', 'name')` -> `tools[0].function.name`.

    Pydantic puts union member labels (`str`, `list[...]`, a discriminator's tag) into `loc`;
    walking the request body along it tells those from real keys: a label is a part that is not
    a key of the value reached so far (the last part excepted: a missing field is not a key).
    """
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    path = ""
    node: Any = body
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
            path += f"[{part}]"
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(node, Mapping) and part in node:
            path += f".{part}" if path else str(part)
            node = node[part]
        elif last and (isinstance(node, Mapping) or node is body):
            path += f".{part}" if path else str(part)
        # else: a union label, or a part below a scalar: not part of the parameter's name
    return path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """One readable sentence for one error (OpenAI reports one), and its parameter.

    The deepest error is the most telling: for `content: [{...}]` against `str | list[...]`,
    what is wrong inside the list, not that the list is not a string."""
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = max(errors, key=lambda error: len(error.get("loc", ())))
    loc: Sequence[int | str] = first.get("loc", ())
    kind = first.get("type", "")
    body = getattr(exc, "body", None)
    if kind == "json_invalid":
        return (
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
            "but what was sent was not valid JSON.)"
        ), None
    if tuple(loc) == ("body",):
        if kind == "missing":
            return "The request needs a JSON body.", None
        return f"The request body must be a JSON object, not {_short(first.get('input'))}.", None
    param = _param_path(loc, body if loc and loc[0] == "body" else None) or None
    if kind == "metadata_limit":  # a complete sentence of its own (schemas/base.py)
        return str(first.get("msg")), param
    if param == "file" and isinstance(first.get("input"), str):
        return FILE_PART_WITHOUT_FILENAME, param
    template = _MESSAGES.get(kind)
    if template is not None and param:
        message = template.format(param=param)
    else:
        message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}"
        if "input" in first and kind != "missing":
            message += f" (got {_short(first['input'])})"
        message += "."
    if len(errors) > 1:
        more = len(errors) - 1
        message += f" ({more} more problem{'s' if more > 1 else ''} after this one.)"
    return message, param


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(
        exc.status, exc.message, type_=exc.type, param=exc.param, code=exc.code, headers=headers
    )


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return error_response(404, str(exc))


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRequestError)
    if isinstance(exc, FileTooLargeError):
        return error_response(413, str(exc), param=exc.param, code="file_too_large")
    return error_response(400, str(exc), param=exc.param)


async def _capacity(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SessionCapacityError)
    # Retryable: the SDK retries a 429 after Retry-After.
    return error_response(
        429,
        str(exc),
        type_="requests",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, param = validation_message(exc)
    return error_response(400, message, param=param)


async def _pydantic(_request: Request, exc: Exception) -> JSONResponse:
    # A body that validated on its own but not once merged into the stored object.
    assert isinstance(exc, pydantic.ValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "Invalid request.")
    param = ".".join(str(part) for part in errors[0]["loc"]) or None
    return error_response(400, f"Invalid value for '{param}': {errors[0]['msg']}.", param=param)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
        headers["Allow"] = ", ".join(_allowed_methods(request))
    else:
        message = str(exc.detail)
    type_ = "server_error" if exc.status_code >= 500 else "invalid_request_error"
    return error_response(exc.status_code, message, type_=type_, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes (Starlette names only the first route's),
    read from the OpenAPI document: FastAPI's own route tree is private and keeps changing."""
    path = request.url.path
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in item}
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception(
        "unexpected error answering %s %s", request.method, request.url.path, exc_info=exc
    )
    return error_response(
        500, "The server had an error while processing your request.", type_="server_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(InvalidRequestError, _invalid)
    app.add_exception_handler(SessionCapacityError, _capacity)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(pydantic.ValidationError, _pydantic)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
