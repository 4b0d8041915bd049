"""Server-Sent Events for `"stream": true` runs (spec section 4).

A run's events are replayed from its first (`thread.created` for `/threads/runs`, then
`thread.run.created`, ...) to its terminal `thread.run.*` event, then `event: done` with
`data: [DONE]`. A client that goes away only stops its own stream: the run goes on, as hosted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from ..engine import RunHandle
from ..events import DONE_SSE, error_event
from .openapi import SSE_EVENT_SCHEMA

log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Proxies (nginx) must not buffer the stream.
    "X-Accel-Buffering": "no",
}

#: For the OpenAPI document: what a streamed run answers.
SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The Run object, or with `stream: true` a `text/event-stream` of run "
        "events ending with `event: done`.",
        "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
    },
}


async def run_event_stream(handle: RunHandle) -> AsyncIterator[str]:
    try:
        async for event in handle.events():
            yield event.sse()
    except Exception as exc:  # a bug in the run loop's plumbing, not a failed run
        log.exception("run %s: event stream broke", handle.run.id)
        yield error_event(f"The event stream broke: {exc}").sse()
    yield DONE_SSE


def sse_response(handle: RunHandle) -> StreamingResponse:
    return StreamingResponse(
        run_event_stream(handle), media_type="text/event-stream", headers=SSE_HEADERS
    )
