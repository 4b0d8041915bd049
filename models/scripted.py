"""``scripted:PATH``: a backend that replays a JSON script, for tests, demos and benchmarks.

PATH holds a JSON list; item n answers the n-th model call of a run: ``{"code": "..."}`` is a call
of the code tool, ``{"text": "..."}`` a final answer. n is computed from the conversation alone
(the number of assistant turns after the last user message), so one backend can serve any number
of concurrent runs. Past the end of the list the answer is a final text saying the script is
exhausted. Replies stream in a few deltas. Token usage uses the regex word-piece approximation of
``models.tokens`` (so ``Usage.estimated`` is true). Sampling settings are ignored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from .base import (
    ChatMessage,
    CodeDelta,
    CodeTool,
    ModelBackend,
    ModelError,
    SamplingParams,
    StreamItem,
    TextDelta,
    Usage,
    check_conversation,
    make_result,
)
from .tokens import approx_prompt_tokens, approx_tokens

_PIECES = 3  # deltas per reply: enough to exercise a consumer's streaming path


class ScriptedBackend(ModelBackend):
    replays_by_position = True

    def __init__(self, items: Sequence[dict[str, str]], *, name: str = "scripted") -> None:
        for index, item in enumerate(items):
            if (
                not isinstance(item, dict)
                or len(item) != 1
                or not (isinstance(item.get("code"), str) or isinstance(item.get("text"), str))
            ):
                raise ModelError(f'{name}: item {index} must be {{"code": str}} or {{"text": str}}')
        self.items = list(items)
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedBackend:
        try:
            items = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read script {path}: {exc}") from exc
        if not isinstance(items, list):
            raise ModelError(f"script {path} must hold a JSON list")
        return cls(items, name=f"scripted:{path}")

    @staticmethod
    def call_index(messages: Sequence[ChatMessage]) -> int:
        """Assistant turns since the last user message: which script item this call receives."""
        index = 0
        for message in reversed(messages):
            if message.role == "user":
                break
            if message.role == "assistant":
                index += 1
        return index

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        check_conversation(messages)
        n = self.call_index(messages)
        item = self.items[n] if n < len(self.items) else None
        if item is not None and "code" in item and code_tool:
            body, is_code = item["code"], True
        elif item is not None:
            body, is_code = item.get("text", item.get("code", "")), False
        else:
            body = (
                f"The script is exhausted: it has {len(self.items)} items, this was call {n + 1}."
            )
            is_code = False
        usage = Usage(
            approx_prompt_tokens(
                m.content + (m.code_call.code if m.code_call else "") for m in messages
            ),
            approx_tokens(body),
            estimated=True,
        )
        sent = 0
        step = max(1, -(-len(body) // _PIECES))
        while sent < len(body):
            if cancel is not None and cancel.is_set():
                break
            piece = body[sent : sent + step]
            sent += len(piece)
            yield CodeDelta(piece) if is_code else TextDelta(piece)
            await asyncio.sleep(0)  # a real yield point, as a model's stream has
        cancelled = sent < len(body)
        done = body[:sent]
        yield make_result(
            "" if is_code else done,
            done if is_code else None,
            usage,
            "cancelled" if cancelled else "stop",
            model=self.name,
        )
