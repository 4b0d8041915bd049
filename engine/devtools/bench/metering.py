"""Model time, per task, by wrapping the model backend.

Run steps carry timestamps at 1 s resolution only, so the benchmarks time the model where it
is called: `MeteredBackend` wraps any backend and adds the time from the start of each
`stream()` call to its final `ChatResult` (perf_counter) to the `TaskMeter` of the task that
made the call. Which task that is comes from a context variable: the bench sets it before it
creates the task's run, and the engine starts the run loop with `asyncio.create_task`, which
copies the context, so every model call of that run sees the task's meter (and no other
task's, however many run at once).

The meter also keeps when the last model call ended; `engine_runs` uses it to time the cell
that call asked for (from the end of the call to the step's completion event).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from models import (
    ChatMessage,
    ChatResult,
    CodeTool,
    ModelBackend,
    ModelError,
    SamplingParams,
    StreamItem,
)
from models.scripted import ScriptedBackend


@dataclass
class TaskMeter:
    model_s: float = 0.0
    model_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    #: perf_counter when the last model call ended (None before the first).
    last_model_end: float | None = None
    calls: list[float] = field(default_factory=list)


CURRENT_METER: contextvars.ContextVar[TaskMeter | None] = contextvars.ContextVar(
    "airlock_bench_meter", default=None
)


class MeteredBackend(ModelBackend):
    """`inner`, with each call's time and tokens added to the calling task's meter."""

    def __init__(self, inner: ModelBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.context_window = inner.context_window
        self.replays_by_position = inner.replays_by_position

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        meter = CURRENT_METER.get()
        started = time.perf_counter()
        try:
            async for item in self.inner.stream(
                messages, code_tool=code_tool, sampling=sampling, cancel=cancel
            ):
                if isinstance(item, ChatResult) and meter is not None:
                    ended = time.perf_counter()
                    meter.model_s += ended - started
                    meter.calls.append(ended - started)
                    meter.model_calls += 1
                    meter.tokens_in += item.usage.prompt_tokens
                    meter.tokens_out += item.usage.completion_tokens
                    meter.last_model_end = ended
                yield item
        finally:
            if meter is not None and (meter.last_model_end or 0.0) < started:
                # A call that ended without a result (an error): its time still counts.
                meter.model_s += time.perf_counter() - started
                meter.last_model_end = time.perf_counter()

    async def aclose(self) -> None:
        await self.inner.aclose()


class KeyedScriptBackend(ModelBackend):
    """A scripted model per task: the last user message picks the script (`key_of`).
    Scripts can be added while the engine runs; every conversation sent is kept per key."""

    replays_by_position = True

    def __init__(self, name: str, key_of: Callable[[str], str | None]) -> None:
        self.name = name
        self._key_of = key_of
        self._scripts: dict[str, ScriptedBackend] = {}
        self.calls: dict[str, list[list[ChatMessage]]] = {}

    def add(self, key: str, script: list[dict[str, str]]) -> None:
        self._scripts[key] = ScriptedBackend(script, name=self.name)
        self.calls[key] = []

    def key_for(self, messages: Sequence[ChatMessage]) -> str | None:
        for message in reversed(messages):
            if message.role == "user":
                return self._key_of(message.content)
        return None

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        key = self.key_for(messages)
        if key is None or key not in self._scripts:
            raise ModelError(f"{self.name}: no script for the last user message")
        self.calls[key].append(list(messages))
        async for item in self._scripts[key].stream(
            messages, code_tool=code_tool, sampling=sampling, cancel=cancel
        ):
            yield item


def marker_key(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    """A `key_of` that takes the first group of `pattern` in the user message."""

    def key_of(text: str) -> str | None:
        found = pattern.search(text)
        return found.group(1) if found else None

    return key_of
