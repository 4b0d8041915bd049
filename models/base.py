"""The one interface every model backend implements, and the types it speaks.

A backend turns a conversation into either a final text answer or a call of the code tool
(a function named ``python`` whose single argument is the Python source, as OpenAI's code
interpreter presents itself). It streams: ``stream()`` yields ``TextDelta``/``CodeDelta`` items as
they are generated and always ends with exactly one ``ChatResult``. The concatenation of the text
deltas equals ``ChatResult.text`` and that of the code deltas equals ``ChatResult.code``.

Cancellation: stop iterating (``aclose()`` on the stream, ``break``, or cancel the task) or set the
``cancel`` event. With the event the stream still ends with a ``ChatResult`` whose finish_reason is
``"cancelled"`` and which holds what was generated so far; either way generation stops.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReason: TypeAlias = Literal["stop", "length", "cancelled"]
# True: the model may call the code tool or answer; "required": it must call it; False: text only.
CodeTool: TypeAlias = bool | Literal["required"]

CODE_TOOL_NAME = "python"


class ModelError(Exception):
    """A backend could not produce a result (bad spec, server error, context overflow...)."""


class ContextOverflowError(ModelError):
    """The conversation does not fit in the model's context window."""


class ModelConnectionError(ModelError):
    """An endpoint could not be reached, after the configured retries."""


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:16]


@dataclass(frozen=True, slots=True)
class CodeCall:
    """A call of the ``python`` tool: the source to run and the id its output will answer."""

    code: str
    call_id: str = field(default_factory=new_call_id)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn. An assistant turn may carry a ``code_call`` (content is then any prose that came
    with it); a tool turn carries the output of the call named by ``call_id``."""

    role: Role
    content: str = ""
    code_call: CodeCall | None = None
    call_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown role {self.role!r}")
        if self.code_call is not None and self.role != "assistant":
            raise ValueError("only an assistant message can carry a code call")
        if (self.role == "tool") != (self.call_id is not None):
            raise ValueError("a tool message, and only a tool message, needs a call_id")

    @classmethod
    def system(cls, content: str) -> ChatMessage:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> ChatMessage:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str) -> ChatMessage:
        return cls("assistant", content)

    @classmethod
    def code(cls, code: str, call_id: str | None = None, content: str = "") -> ChatMessage:
        call = CodeCall(code) if call_id is None else CodeCall(code, call_id)
        return cls("assistant", content, code_call=call)

    @classmethod
    def tool(cls, call_id: str, output: str) -> ChatMessage:
        return cls("tool", output, call_id=call_id)


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. ``cached_tokens``: prompt tokens whose evaluation was reused from an earlier
    call (prefix caching). ``estimated`` is true when a backend had no tokenizer's count to
    report and used its documented approximation instead."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class CodeDelta:
    code: str


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The outcome of one model call: a code call when ``code`` is not None, else a text answer."""

    text: str
    code: str | None
    usage: Usage
    finish_reason: FinishReason
    call_id: str | None = None
    model: str = ""

    @property
    def is_code(self) -> bool:
        return self.code is not None

    def to_message(self) -> ChatMessage:
        """The assistant turn to append to the conversation."""
        if self.code is None:
            return ChatMessage.assistant(self.text)
        return ChatMessage.code(self.code, self.call_id, content=self.text)


StreamItem: TypeAlias = TextDelta | CodeDelta | ChatResult


def make_result(
    text: str,
    code: str | None,
    usage: Usage,
    finish_reason: FinishReason,
    *,
    model: str,
    call_id: str | None = None,
) -> ChatResult:
    """A ChatResult whose code call, if any, has an id."""
    if code is not None and call_id is None:
        call_id = new_call_id()
    return ChatResult(
        text, code, usage, finish_reason, call_id if code is not None else None, model
    )


class ModelBackend(ABC):
    """A model that can be asked to continue a conversation. Safe to share between concurrent
    conversations; each call is independent (the conversation is passed whole every time)."""

    name: str = ""
    #: Tokens the model reads and writes in one call, when the backend knows it (the engine
    #: keeps prompts within it, less the room for the reply).
    context_window: int | None = None
    #: Replies come from a fixed script, chosen by their position in the conversation: turns
    #: taken out of it would replay earlier replies (the run loop then leaves them in).
    replays_by_position: bool = False

    @abstractmethod
    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Deltas as they are generated, then one final ChatResult."""

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> ChatResult:
        result: ChatResult | None = None
        async for item in self.stream(
            messages, code_tool=code_tool, sampling=sampling, cancel=cancel
        ):
            if isinstance(item, ChatResult):
                result = item
        if result is None:  # a backend bug, not a model outcome
            raise ModelError(f"{self.name}: stream ended without a result")
        return result

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the backend holds (threads, connections, the loaded model)."""

    async def __aenter__(self) -> ModelBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def check_conversation(messages: Sequence[ChatMessage]) -> None:
    """Reject conversations no backend can render: empty, or a tool output with no call."""
    if not messages:
        raise ValueError("empty conversation")
    open_calls: set[str] = set()
    for message in messages:
        if message.code_call is not None:
            open_calls.add(message.code_call.call_id)
        elif message.role == "tool" and message.call_id not in open_calls:
            raise ValueError(f"tool output for unknown call {message.call_id!r}")
