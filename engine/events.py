"""The events a run emits: the Assistants stream's names and payloads, shared by every consumer.

The REST server writes them as Server-Sent Events, the library API yields them from an async
iterator and the CLI draws them; all three see the same sequence (spec section 4). Payloads are
plain JSON-ready dicts, exactly what goes after `data:`. Delta payloads follow the SDK's merge
rules: strings are concatenated, so every fragment and every id is sent once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

#: The end of a stream, after the run's terminal event.
DONE_SSE = "event: done\ndata: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class RunEvent:
    #: "thread.run.created", "thread.run.step.delta", "thread.message.delta", ...
    event: str
    data: dict[str, Any]

    def sse(self) -> str:
        return f"event: {self.event}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n"

    @property
    def is_delta(self) -> bool:
        return self.event.endswith(".delta")


def object_event(event: str, obj: BaseModel) -> RunEvent:
    """`thread.created`, `thread.run.*`, `thread.run.step.*`, `thread.message.*` carry the
    whole object as it is at that moment."""
    return RunEvent(event, obj.model_dump(mode="json"))


def step_delta(step_id: str, tool_call: dict[str, Any], index: int = 0) -> RunEvent:
    """A fragment of the step's tool call number `index` (its id, code, or outputs)."""
    return RunEvent(
        "thread.run.step.delta",
        {
            "id": step_id,
            "object": "thread.run.step.delta",
            "delta": {
                "step_details": {
                    "type": "tool_calls",
                    "tool_calls": [{"index": index, **tool_call}],
                }
            },
        },
    )


def message_delta(message_id: str, content: list[dict[str, Any]]) -> RunEvent:
    """Content blocks (each with its `index` in the message's content) or fragments of them."""
    return RunEvent(
        "thread.message.delta",
        {
            "id": message_id,
            "object": "thread.message.delta",
            "delta": {"content": content},
        },
    )


def error_event(message: str, *, type_: str = "server_error") -> RunEvent:
    """A transport-level failure (spec: every SDK raises APIError for it); a failed run is
    `thread.run.failed` instead."""
    return RunEvent(
        "error", {"error": {"message": message, "type": type_, "param": None, "code": None}}
    )
