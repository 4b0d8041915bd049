"""A blocking facade over any backend, for scripts and sync callers.

It runs the backend's own async code on a private event loop in a daemon thread, so there is one
implementation of every backend and the facade works whether or not the caller has a loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from .base import ChatMessage, ChatResult, CodeTool, ModelBackend, SamplingParams, StreamItem

T = TypeVar("T")


class SyncModel:
    def __init__(self, backend: ModelBackend) -> None:
        self.backend = backend
        # Its own loop thread, not sandbox.sync.LoopThread: models may not import sandbox.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="airlock-model-loop", daemon=True
        )
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
    ) -> ChatResult:
        return self._run(self.backend.chat(messages, code_tool=code_tool, sampling=sampling))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
    ) -> Iterator[StreamItem]:
        """Deltas, then the ChatResult; closing the iterator early stops generation."""
        agen = self.backend.stream(messages, code_tool=code_tool, sampling=sampling)
        try:
            while True:
                try:
                    yield self._run(anext(agen))  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            self._run(agen.aclose())  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self.backend.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncModel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
