"""`Interpreter`: the library API's synchronous facade over `AsyncInterpreter`, for scripts and
notebooks; every method blocks on a private event loop (a `sandbox.sync.LoopThread`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from models import ModelBackend, ModelsConfig
from sandbox.sync import LoopThread

from ..core import Engine, EngineSettings
from ..core.events import RunEvent
from ..schemas import File, Message, Run, Thread
from .interpreter import AsyncInterpreter, FileArg, RunResult

T = TypeVar("T")


class Interpreter:
    """The synchronous facade: the same methods, blocking, on a private event loop (a
    `sandbox.sync.LoopThread` of its own, not the sandbox's shared one)."""

    def __init__(
        self,
        model: str | ModelBackend | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        instructions: str | None = None,
        settings: EngineSettings | None = None,
        models_config: ModelsConfig | None = None,
    ) -> None:
        self._loop = LoopThread("airlock-interpreter")
        try:
            self._core = self._call(
                AsyncInterpreter.open(
                    model,
                    data_dir,
                    instructions=instructions,
                    settings=settings,
                    models_config=models_config,
                )
            )
        except BaseException:
            self._loop.stop(timeout=10)
            raise

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coroutine)

    @property
    def engine(self) -> Engine:
        return self._core.engine

    def run(
        self, prompt: str, *, files: Sequence[FileArg] = (), thread: str | None = None
    ) -> RunResult:
        return self._call(self._core.run(prompt, files=files, thread=thread))

    def stream(
        self, prompt: str, *, files: Sequence[FileArg] = (), thread: str | None = None
    ) -> Iterator[RunEvent]:
        handle = self._call(self._core.start(prompt, files=files, thread=thread))
        events = handle.events()
        try:
            while True:
                try:
                    yield self._call(_next(events))
                except StopAsyncIteration:
                    return
        finally:
            self._call(_close(events))

    def cancel(self, run: Run) -> Run:
        return self._call(self._core.cancel(run))

    def result(self, run: Run) -> RunResult:
        return self._call(self._core.result(run))

    def new_thread(self) -> Thread:
        return self._call(self._core.new_thread())

    def upload(self, path: FileArg, *, purpose: str = "assistants") -> File:
        return self._call(self._core.upload(path, purpose=purpose))

    def download(self, file: File | str, target: FileArg) -> Path:
        return self._call(self._core.download(file, target))

    def save_files(self, result: RunResult, folder: FileArg) -> list[Path]:
        return self._call(self._core.save_files(result, folder))

    def export_notebook(self, thread_id: str, path: FileArg) -> Path:
        return self._call(self._core.export_notebook(thread_id, path))

    def messages(self, thread_id: str) -> list[Message]:
        return self._call(self._core.messages(thread_id))

    def close(self) -> None:
        if self._loop.running:
            try:
                self._call(self._core.aclose())
            finally:
                self._loop.stop(timeout=10)

    def __enter__(self) -> Interpreter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _next(events: AsyncIterator[RunEvent]) -> RunEvent:
    return await anext(events)


async def _close(events: AsyncIterator[RunEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
