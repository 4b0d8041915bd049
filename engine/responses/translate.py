"""A run's Assistants events as a Responses stream: `response.created` ... `response.completed`.

Every event carries `type` and a `sequence_number` (0, 1, 2...), and the item events their
`item_id` and `output_index` (the item's place in the final `output`, the same order as the
run's steps). Code reaches the client as `response.code_interpreter_call_code.delta` fragments
that add up to the item's final `code`; the code is known complete when the cell's first output
arrives or its step ends, which is when `.code.done` and `.interpreting` are sent. The terminal
event carries the Response derived from the stored run, like a GET would.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..engine import RunHandle
from ..events import RunEvent
from ..schemas import CodeInterpreterToolCall, Message, RunStep, ToolCallsStepDetails
from .build import ResponseBuilder, assemble, call_item_id
from .schemas import CodeInterpreterCallItem, OutputText, ResponseRecord
from .service import ResponsesService

log = logging.getLogger(__name__)

_TERMINAL = {
    "thread.run.completed": "response.completed",
    "thread.run.incomplete": "response.incomplete",
    "thread.run.failed": "response.failed",
    "thread.run.expired": "response.failed",
    "thread.run.cancelled": "response.failed",
}
_STEP_END = (
    "thread.run.step.completed",
    "thread.run.step.failed",
    "thread.run.step.cancelled",
    "thread.run.step.expired",
)
_MESSAGE_END = ("thread.message.completed", "thread.message.incomplete")


@dataclass
class _Item:
    id: str
    index: int
    text: str = ""
    code_done: bool = False


class StreamTranslator:
    def __init__(
        self,
        service: ResponsesService,
        record: ResponseRecord,
        handle: RunHandle,
        builder: ResponseBuilder,
    ) -> None:
        self.service = service
        self.record = record
        self.handle = handle
        self.builder = builder
        self.container_id = record.container_id or ""
        self.sequence = 0
        #: step id (code calls) or message id -> its item
        self.items: dict[str, _Item] = {}

    def _sse(self, type_: str, **fields: Any) -> str:
        data = {"type": type_, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return f"event: {type_}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"

    def _new_item(self, key: str, item_id: str) -> _Item:
        item = self.items[key] = _Item(item_id, len(self.items))
        return item

    async def stream(self) -> AsyncIterator[str]:
        try:
            start = assemble(self.record, self.handle.run, []).model_copy(
                update={"status": "in_progress"}
            )
            payload = start.model_dump(mode="json")
            yield self._sse("response.created", response=payload)
            yield self._sse("response.in_progress", response=payload)
            async for event in self.handle.events():
                for chunk in await self._translate(event):
                    yield chunk
        except Exception as exc:  # a bug in the plumbing, not a failed response
            log.exception("response %s: stream broke", self.record.id)
            yield self._sse(
                "error", code="server_error", message=f"The stream broke: {exc}", param=None
            )

    async def _translate(self, event: RunEvent) -> list[str]:
        name, data = event.event, event.data
        if name == "thread.run.step.created" and data.get("type") == "tool_calls":
            return self._call_added(RunStep.model_validate(data))
        if name == "thread.run.step.delta":
            return self._call_delta(data)
        if name in _STEP_END and data.get("type") == "tool_calls":
            return await self._call_done(RunStep.model_validate(data))
        if name == "thread.message.created":
            return self._message_added(Message.model_validate(data))
        if name == "thread.message.delta":
            return self._message_delta(data)
        if name in _MESSAGE_END:
            return await self._message_done(Message.model_validate(data))
        if name in _TERMINAL:
            await self.service.settled(self.record.id)
            response = await asyncio.to_thread(self.builder.response, self.record)
            return [self._sse(_TERMINAL[name], response=response.model_dump(mode="json"))]
        if name == "error":
            error = data.get("error") or {}
            return [
                self._sse(
                    "error",
                    code=error.get("code") or "server_error",
                    message=error.get("message") or "error",
                    param=None,
                )
            ]
        return []

    # ------------------------------------------------------------ code calls

    def _call_added(self, step: RunStep) -> list[str]:
        item = self._new_item(step.id, call_item_id(step.id))
        added = CodeInterpreterCallItem(
            id=item.id, status="in_progress", container_id=self.container_id, code="", outputs=None
        )
        return [
            self._sse(
                "response.output_item.added",
                output_index=item.index,
                item=added.model_dump(mode="json"),
            ),
            self._sse(
                "response.code_interpreter_call.in_progress",
                item_id=item.id,
                output_index=item.index,
            ),
        ]

    def _call_delta(self, data: dict[str, Any]) -> list[str]:
        item = self.items.get(str(data.get("id")))
        if item is None:
            return []
        chunks = []
        for call in data.get("delta", {}).get("step_details", {}).get("tool_calls", []):
            fragment = call.get("code_interpreter") or {}
            code = fragment.get("input")
            if code:
                item.text += code
                chunks.append(
                    self._sse(
                        "response.code_interpreter_call_code.delta",
                        item_id=item.id,
                        output_index=item.index,
                        delta=code,
                    )
                )
            if fragment.get("outputs"):
                chunks += self._code_done(item, item.text)
        return chunks

    def _code_done(self, item: _Item, code: str) -> list[str]:
        if item.code_done:
            return []
        item.code_done = True
        chunks = []
        if code != item.text and code.startswith(item.text):
            chunks.append(
                self._sse(
                    "response.code_interpreter_call_code.delta",
                    item_id=item.id,
                    output_index=item.index,
                    delta=code[len(item.text) :],
                )
            )
            item.text = code
        chunks.append(
            self._sse(
                "response.code_interpreter_call_code.done",
                item_id=item.id,
                output_index=item.index,
                code=code,
            )
        )
        chunks.append(
            self._sse(
                "response.code_interpreter_call.interpreting",
                item_id=item.id,
                output_index=item.index,
            )
        )
        return chunks

    async def _call_done(self, step: RunStep) -> list[str]:
        item = self.items.get(step.id) or self._new_item(step.id, call_item_id(step.id))
        assert isinstance(step.step_details, ToolCallsStepDetails)
        calls = [c for c in step.step_details.tool_calls if isinstance(c, CodeInterpreterToolCall)]
        final = (
            (await asyncio.to_thread(self.builder.call_item, step, calls[0], self.container_id))
            if calls
            else CodeInterpreterCallItem(
                id=item.id,
                status="incomplete",
                container_id=self.container_id,
                code=item.text,
                outputs=None,
            )
        )
        chunks = self._code_done(item, final.code or "")
        if final.status == "completed":
            chunks.append(
                self._sse(
                    "response.code_interpreter_call.completed",
                    item_id=item.id,
                    output_index=item.index,
                )
            )
        chunks.append(
            self._sse(
                "response.output_item.done",
                output_index=item.index,
                item=final.model_dump(mode="json"),
            )
        )
        return chunks

    # ------------------------------------------------------------ messages

    def _message_added(self, message: Message) -> list[str]:
        item = self._new_item(message.id, message.id)
        added = {
            "type": "message",
            "id": item.id,
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        return [
            self._sse("response.output_item.added", output_index=item.index, item=added),
            self._sse(
                "response.content_part.added",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part=OutputText(text="").model_dump(mode="json"),
            ),
        ]

    def _message_delta(self, data: dict[str, Any]) -> list[str]:
        item = self.items.get(str(data.get("id")))
        if item is None:
            return []
        chunks = []
        for block in data.get("delta", {}).get("content", []):
            value = (block.get("text") or {}).get("value") if block.get("type") == "text" else None
            if value:
                item.text += value
                chunks.append(
                    self._sse(
                        "response.output_text.delta",
                        item_id=item.id,
                        output_index=item.index,
                        content_index=0,
                        delta=value,
                        logprobs=[],
                    )
                )
        return chunks

    async def _message_done(self, message: Message) -> list[str]:
        item = self.items.get(message.id) or self._new_item(message.id, message.id)
        final = await asyncio.to_thread(
            self.builder.message_item, message, self.record.container_id
        )
        part = final.content[0]
        chunks = []
        if part.text != item.text and part.text.startswith(item.text):
            chunks.append(
                self._sse(
                    "response.output_text.delta",
                    item_id=item.id,
                    output_index=item.index,
                    content_index=0,
                    delta=part.text[len(item.text) :],
                    logprobs=[],
                )
            )
        for index, annotation in enumerate(part.annotations):
            chunks.append(
                self._sse(
                    "response.output_text.annotation.added",
                    item_id=item.id,
                    output_index=item.index,
                    content_index=0,
                    annotation_index=index,
                    annotation=annotation.model_dump(mode="json"),
                )
            )
        chunks.append(
            self._sse(
                "response.output_text.done",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                text=part.text,
                logprobs=[],
            )
        )
        chunks.append(
            self._sse(
                "response.content_part.done",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part=part.model_dump(mode="json"),
            )
        )
        chunks.append(
            self._sse(
                "response.output_item.done",
                output_index=item.index,
                item=final.model_dump(mode="json"),
            )
        )
        return chunks
