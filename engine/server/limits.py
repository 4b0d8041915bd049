"""Request body sizes: 413 in OpenAI's error shape, before a body too large is read.

Uploads (`POST .../files`) may be as large as the store takes, plus the multipart framing; every
other body is JSON and at most `JSON_BODY_LIMIT`. A Content-Length over the limit is refused
before anything is parsed or spooled (the body is drained first, so the client, still sending,
reads the answer instead of a broken pipe); a body without one is counted as it arrives and
cut off at the limit.

A body is also bounded in time: when no byte of it arrives for `body_timeout` seconds (a client
that announced a body and never sent it, or stopped halfway), the request is answered 408 and
its connection closed, instead of holding a worker's connection for ever.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body

#: The largest JSON body a route takes: ample for any assistant, thread or run body, and it
#: keeps a runaway client from filling the memory.
JSON_BODY_LIMIT = 16 * 1024 * 1024
#: What a multipart upload may carry beyond the file itself (boundaries, headers, fields).
MULTIPART_SLACK = 1 << 20
#: Seconds a request body may stall (no byte arriving) before the request is answered 408.
BODY_TIMEOUT = 30.0


def _too_large(limit: int) -> str:
    return f"Request body is larger than the limit of {limit} bytes ({limit / 2**20:g} MB)."


def _stalled(timeout: float) -> HTTPException:
    return HTTPException(
        408,
        f"The request body stopped arriving: no byte of it for {timeout:g} s. Nothing "
        "was stored; the connection is closed.",
        headers={"Connection": "close"},
    )


class BodySizeGuard:
    def __init__(self, app: ASGIApp, *, body_timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        is_upload = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/files")
        limit = self._upload_limit(scope) if is_upload else JSON_BODY_LIMIT
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > limit:
            await _drain(receive, self.body_timeout)
            message = _too_large(limit)
            if is_upload:
                message = (
                    f"File is larger than the limit of {limit - MULTIPART_SLACK} bytes; "
                    "nothing was stored."
                )
            body = error_body(
                message,
                param="file" if is_upload else None,
                code="file_too_large" if is_upload else None,
            )
            await JSONResponse(body, status_code=413)(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit, self.body_timeout), send)

    @staticmethod
    def _upload_limit(scope: Scope) -> int | None:
        app = scope.get("app")
        engine = getattr(getattr(app, "state", None), "engine", None)
        if engine is None:
            return None
        limit: int = engine.store.max_file_bytes + MULTIPART_SLACK
        return limit


def _counting(receive: Receive, limit: int, timeout: float) -> Receive:
    received = 0
    complete = False

    async def counted() -> Message:
        nonlocal received, complete
        if complete:  # later calls wait for a disconnect (streaming answers): no deadline
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            # FastAPI re-raises an HTTPException met while reading the body.
            raise _stalled(timeout) from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if received > limit:
                raise HTTPException(413, _too_large(limit))
        else:
            complete = True
        return message

    return counted


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, timeout: float) -> None:
    while True:
        try:
            message: Message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            return  # answered all the same; the server closes a connection left mid-body
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
