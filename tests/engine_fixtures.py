"""Shared helpers for the engine run-loop tests: a recording scripted backend, an engine on a
real store in tmp_path with a real sandbox, and small wrappers to start runs and read results.

The backend is the real `ScriptedBackend`; the only additions are (1) the script is chosen by
the run's prompt (so one engine can serve several runs with different scripts) and (2) every
conversation it is sent is recorded, so a test can check what the model saw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core import AssistPolicy, Engine, EngineSettings, RunHandle, RunLimits
from engine.core.events import RunEvent
from engine.schemas import (
    Assistant,
    AssistantCreate,
    CodeInterpreterTool,
    File,
    Message,
    MessageCreate,
    Run,
    RunCreate,
    RunStep,
    TextContent,
    Thread,
    ThreadCreate,
)
from models import ChatMessage, CodeTool, SamplingParams, StreamItem
from models.scripted import ScriptedBackend
from sandbox import SandboxConfig
from tests.conftest import TEST_LIMITS

Script = list[dict[str, str]]

#: Generous bound for anything a run does (kernel start, a few cells, the store).
DEADLINE = 90.0


@dataclass
class ModelCall:
    """One call of the model: the conversation it received and whether code was allowed."""

    messages: list[ChatMessage]
    code_tool: CodeTool
    temperature: float | None = None

    def last(self, role: str) -> ChatMessage:
        return [m for m in self.messages if m.role == role][-1]

    @property
    def user_prompt(self) -> str:
        return self.last("user").content


@dataclass
class RecordingScripted(ScriptedBackend):
    """`ScriptedBackend` with one script per prompt: the script whose key the last user message
    starts with answers (else `default`); every call's conversation is kept in `calls`."""

    scripts: dict[str, Script] = field(default_factory=dict)
    default: Script = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)
    #: Keyed by the last user message: an error the loop restates has a script of its own.
    replays_by_position: bool = False

    def __post_init__(self) -> None:
        super().__init__([], name="scripted")

    def script(self, prompt: str, items: Script) -> str:
        """Register `items` for runs whose prompt starts with `prompt`; returns `prompt`."""
        ScriptedBackend(items)  # validates the items
        self.scripts[prompt] = items
        return prompt

    def calls_for(self, prompt: str) -> list[ModelCall]:
        return [c for c in self.calls if c.user_prompt.startswith(prompt)]

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        self.calls.append(
            ModelCall(list(messages), code_tool, sampling.temperature if sampling else None)
        )
        users = [m.content for m in messages if m.role == "user"]
        last_user = users[-1] if users else ""
        # Longest matching key first, so "a b" wins over "a".
        items = self.default
        for key in sorted(self.scripts, key=len, reverse=True):
            if last_user.startswith(key):
                items = self.scripts[key]
                break
        self.items = list(items)
        async for item in super().stream(
            messages, code_tool=code_tool, sampling=sampling, cancel=cancel
        ):
            yield item


def settings(assist: AssistPolicy | None = None, **limits: Any) -> EngineSettings:
    return EngineSettings(
        sandbox=SandboxConfig(limits=TEST_LIMITS),
        limits=RunLimits(**limits),
        assist=assist or AssistPolicy(),
    )


async def open_engine(
    backend: ScriptedBackend, data_dir: Path, engine_settings: EngineSettings | None = None
) -> Engine:
    return await Engine.open(backend, data_dir, settings=engine_settings or settings())


class Harness:
    """An engine with an assistant (code interpreter on), and shortcuts to run prompts."""

    def __init__(self, engine: Engine, backend: RecordingScripted) -> None:
        self.engine = engine
        self.backend = backend
        self.store = engine.store
        self.assistant: Assistant = engine.store.create_assistant(
            AssistantCreate(model="scripted", name="test", tools=[CodeInterpreterTool()])
        )

    async def thread(self, **body: Any) -> Thread:
        return await asyncio.to_thread(self.store.create_thread, ThreadCreate.model_validate(body))

    async def start(
        self,
        prompt: str,
        script: Script | None = None,
        *,
        thread_id: str | None = None,
        attachments: Sequence[str] = (),
        assistant_id: str | None = None,
        **run_body: Any,
    ) -> RunHandle:
        """Add `prompt` (with its script) to the thread (a new one by default) and start a run."""
        if script is not None:
            self.backend.script(prompt, script)
        if thread_id is None:
            thread_id = (await self.thread()).id
        message = MessageCreate.model_validate(
            {
                "role": "user",
                "content": prompt,
                "attachments": [
                    {"file_id": f, "tools": [{"type": "code_interpreter"}]} for f in attachments
                ],
            }
        )
        body = RunCreate.model_validate(
            {
                "assistant_id": assistant_id or self.assistant.id,
                "additional_messages": [message],
                **run_body,
            }
        )
        return await self.engine.create_run(thread_id, body)

    async def run(self, prompt: str, script: Script | None = None, **kwargs: Any) -> Run:
        handle = await self.start(prompt, script, **kwargs)
        return await finished(handle)

    def steps(self, run: Run) -> list[RunStep]:
        return self.store.list_run_steps(run.thread_id, run.id, order="asc", limit=100).data

    def messages(self, run: Run, role: str = "assistant") -> list[Message]:
        return [
            m
            for m in self.store.list_messages(
                run.thread_id, run_id=run.id, order="asc", limit=100
            ).data
            if m.role == role
        ]

    def tool_steps(self, run: Run) -> list[RunStep]:
        return [s for s in self.steps(run) if s.type == "tool_calls"]

    def logs(self, run: Run) -> str:
        """Every logs output of the run's code calls, joined."""
        out = []
        for step in self.tool_steps(run):
            for call in step.step_details.tool_calls:  # type: ignore[union-attr]
                out += [
                    o.logs  # type: ignore[union-attr]
                    for o in call.code_interpreter.outputs  # type: ignore[union-attr]
                    if o.type == "logs"
                ]
        return "\n".join(out)

    def upload(self, name: str, content: bytes, purpose: str = "assistants") -> File:
        import io

        return self.store.create_file(io.BytesIO(content), name, purpose)

    def file_bytes(self, file_id: str) -> bytes:
        with self.store.open_file_content(file_id) as source:
            return source.read()


async def finished(handle: RunHandle, deadline: float = DEADLINE) -> Run:
    return await asyncio.wait_for(handle.wait(), deadline)


async def collect(handle: RunHandle, deadline: float = DEADLINE) -> list[RunEvent]:
    async def gather() -> list[RunEvent]:
        return [event async for event in handle.events()]

    return await asyncio.wait_for(gather(), deadline)


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]],
    deadline: float = DEADLINE,
    what: str = "condition",
) -> None:
    """Poll `predicate` (cheaply, yielding to the loop) until it holds; fail after `deadline`."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def message_text(message: Message) -> str:
    return "".join(b.text.value for b in message.content if isinstance(b, TextContent))


def code(*lines: str) -> dict[str, str]:
    return {"code": "\n".join(lines)}


def text(value: str) -> dict[str, str]:
    return {"text": value}
