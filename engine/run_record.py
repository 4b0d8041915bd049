"""The record of a run as it happens: its steps and its messages, each stored before it is
announced, with the events the stream sends for them (spec section 4's order)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .events import message_delta, object_event, step_delta
from .ids import new_id
from .schemas import (
    ImageFile,
    ImageFileContent,
    Message,
    MessageCreationRef,
    MessageCreationStepDetails,
    MessageIncompleteDetails,
    Run,
    RunStep,
    StepLastError,
    Text,
    TextContent,
    ToolCallsStepDetails,
    Usage,
    now,
)
from .store import Store

if TYPE_CHECKING:
    from .engine import RunHandle

T = TypeVar("T")

# Terminal statuses of a step, and what the run's open message becomes, per run outcome.
_STEP_END = {
    "cancelled": "cancelled",
    "expired": "expired",
    "failed": "failed",
    "incomplete": "cancelled",
    "completed": "completed",
}
_MESSAGE_REASON = {
    "cancelled": "run_cancelled",
    "expired": "run_expired",
    "failed": "run_failed",
    "incomplete": "run_cancelled",
}


class RunRecord:
    """The message or code step being written, and the images waiting for the next message."""

    def __init__(self, store: Store, handle: RunHandle) -> None:
        self.store = store
        self.handle = handle
        #: Images shown since the last message was opened: they open the next one.
        self.pending_images: list[str] = []
        self.open_message: tuple[RunStep, Message] | None = None
        self.open_tool_step: RunStep | None = None
        #: step id -> the id of its code call (sent once, in the step's first delta)
        self.call_ids: dict[str, str] = {}

    @property
    def run(self) -> Run:
        return self.handle.run

    async def ensure_message(self, text: str = "") -> tuple[RunStep, Message]:
        """The message being written, opened now (with the images shown since the last one)
        if there is none; `text` is added to it."""
        if self.open_message is None:
            await self._open_message()
        if text:
            self.add_text(text)
        assert self.open_message is not None
        return self.open_message

    def add_text(self, text: str) -> None:
        assert self.open_message is not None
        step, message = self.open_message
        self.handle.emit(
            message_delta(
                message.id,
                [{"index": len(message.content) - 1, "type": "text", "text": {"value": text}}],
            )
        )
        self.open_message = step, _append_text(message, text)

    async def _open_message(self) -> None:
        created = now()
        images = [ImageFileContent(image_file=ImageFile(file_id=i)) for i in self.pending_images]
        self.pending_images = []
        message = Message(
            thread_id=self.run.thread_id,
            created_at=created,
            status="in_progress",
            role="assistant",
            assistant_id=self.run.assistant_id,
            run_id=self.run.id,
            content=list(images),
            attachments=[],
        )
        step = RunStep(
            run_id=self.run.id,
            assistant_id=self.run.assistant_id,
            thread_id=self.run.thread_id,
            type="message_creation",
            created_at=created,
            step_details=MessageCreationStepDetails(
                message_creation=MessageCreationRef(message_id=message.id)
            ),
        )
        await self._db(self.store.add_message, message)
        await self._db(self.store.add_run_step, step)
        self._emit_object("thread.run.step.created", step)
        self._emit_object("thread.run.step.in_progress", step)
        # Announced empty, as the SDK expects: each block then arrives as a delta at its index.
        announced = message.model_copy(update={"content": []})
        self._emit_object("thread.message.created", announced)
        self._emit_object("thread.message.in_progress", announced)
        for index, block in enumerate(images):
            self.handle.emit(
                message_delta(message.id, [{"index": index, **block.model_dump(mode="json")}])
            )
        message = message.model_copy(
            update={"content": [*images, TextContent(text=Text(value=""))]}
        )
        self.open_message = (step, message)

    async def close_message(
        self, *, usage: Usage | None = None, outcome: str = "completed"
    ) -> None:
        if self.open_message is None:
            return
        step, message = self.open_message
        self.open_message = None
        ended = now()
        if outcome == "completed":
            if message.status == "in_progress":
                message = message.model_copy(update={"status": "completed", "completed_at": ended})
        else:
            message = message.model_copy(
                update={
                    "status": "incomplete",
                    "incomplete_at": ended,
                    "incomplete_details": MessageIncompleteDetails.model_validate(
                        {"reason": _MESSAGE_REASON[outcome]}
                    ),
                }
            )
        await self._db(self.store.save_message, message)
        self._emit_object(f"thread.message.{message.status}", message)
        await self.save_step(self.ended_step(step, outcome, usage or Usage()))

    async def ensure_tool_step(self) -> RunStep:
        if self.open_tool_step is not None:
            return self.open_tool_step
        await self.close_message()
        step = RunStep(
            run_id=self.run.id,
            assistant_id=self.run.assistant_id,
            thread_id=self.run.thread_id,
            type="tool_calls",
            step_details=ToolCallsStepDetails(),
        )
        await self._db(self.store.add_run_step, step)
        self._emit_object("thread.run.step.created", step)
        self._emit_object("thread.run.step.in_progress", step)
        call_id = new_id("call_")
        self.call_ids[step.id] = call_id
        self.handle.emit(
            step_delta(
                step.id,
                {
                    "id": call_id,
                    "type": "code_interpreter",
                    "code_interpreter": {"input": "", "outputs": []},
                },
            )
        )
        self.open_tool_step = step
        return step

    async def record_code(self, code: str) -> RunStep:
        """The code call, complete: stored before its cell runs, so that a client polling the
        step during a long cell sees what is running."""
        step = await self.ensure_tool_step()
        self.open_tool_step = await self._db(
            self.store.save_run_step,
            step.model_copy(
                update={
                    "step_details": ToolCallsStepDetails.model_validate(
                        {
                            "tool_calls": [
                                {
                                    "id": self.call_id(step),
                                    "type": "code_interpreter",
                                    "code_interpreter": {"input": code, "outputs": []},
                                }
                            ]
                        }
                    )
                }
            ),
        )
        return self.open_tool_step

    def call_id(self, step: RunStep) -> str:
        return self.call_ids[step.id]

    def ended_step(self, step: RunStep, outcome: str, usage: Usage | None) -> RunStep:
        status = _STEP_END[outcome]
        ended = now()
        stamp = {
            "completed": "completed_at",
            "cancelled": "cancelled_at",
            "expired": "expired_at",
            "failed": "failed_at",
        }[status]
        update: dict[str, Any] = {"status": status, stamp: ended, "usage": usage}
        if status == "failed":
            update["last_error"] = StepLastError(code="server_error", message="the run failed")
        return step.model_copy(update=update)

    async def save_step(self, step: RunStep) -> None:
        await self._db(self.store.save_run_step, step)
        self._emit_object(f"thread.run.step.{step.status}", step)

    async def close_open(self, outcome: str) -> None:
        """End whatever step or message is still open when the run ends early."""
        if self.open_tool_step is not None:
            step, self.open_tool_step = self.open_tool_step, None
            await self.save_step(self.ended_step(step, outcome, None))
        await self.close_message(outcome=outcome)

    def _emit_object(self, event: str, obj: Any) -> None:
        self.handle.emit(object_event(event, obj))

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)


def _append_text(message: Message, text: str) -> Message:
    content = list(message.content)
    last = content[-1]
    assert isinstance(last, TextContent)
    content[-1] = TextContent(text=Text(value=last.text.value + text))
    return message.model_copy(update={"content": content})
