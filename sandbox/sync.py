"""The thin synchronous facade: every call runs on one background event loop.

`LoopThread` is that loop and its thread; the sandbox's sessions share one (`background_loop`),
and the engine's `Interpreter` runs its own on the same helper.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .capture import OutputCallback
from .limits import IsolationLevel, SandboxConfig
from .results import Execution
from .session import AsyncSession

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread, for a synchronous facade over async
    code: other threads hand it coroutines with `run`; `stop` ends the loop (left unclosed)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self.loop.is_running()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for its result; never from the loop's thread."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def stop(self, timeout: float | None = None) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout)


_shared: LoopThread | None = None
_loop_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide loop that sync callers share (started on first use)."""
    global _shared
    with _loop_lock:
        if _shared is None:
            _shared = LoopThread("airlock-sandbox")
        return _shared.loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, background_loop())
    return future.result()


class Session:
    """Synchronous twin of AsyncSession, for scripts and the command line."""

    def __init__(
        self, config: SandboxConfig | None = None, *, workspace: Path | None = None
    ) -> None:
        self._session = run_sync(AsyncSession.start(config, workspace=workspace))

    @classmethod
    def wrap(cls, session: AsyncSession) -> Session:
        wrapper = cls.__new__(cls)
        wrapper._session = session
        return wrapper

    @property
    def async_session(self) -> AsyncSession:
        return self._session

    @property
    def isolation(self) -> IsolationLevel:
        return self._session.isolation

    @property
    def images_dir(self) -> Path:
        return self._session.images_dir

    def execute(
        self, code: str, *, timeout: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """`on_output` is called on the background loop's thread."""
        return run_sync(self._session.execute(code, timeout=timeout, on_output=on_output))

    def interrupt(self) -> bool:
        """Cancel the cell another thread is running (see AsyncSession.interrupt).

        Thread-safe; returns whether a cell was running. Must not be called from the
        background loop's own thread.
        """
        loop = background_loop()
        future: Future[bool] = Future()

        def request() -> None:
            try:
                future.set_result(self._session.interrupt())
            except BaseException as error:
                future.set_exception(error)

        loop.call_soon_threadsafe(request)
        return future.result()

    def put_file(self, name: str, content: bytes | Path) -> str:
        return self._session.put_file(name, content)

    def read_file(self, name: str) -> bytes:
        return self._session.read_file(name)

    def copy_file_out(self, name: str, target: Path) -> None:
        self._session.copy_file_out(name, target)

    def copy_file_out_under(self, name: str, folder: Path) -> Path:
        return self._session.copy_file_out_under(name, folder)

    def restart(self) -> None:
        run_sync(self._session.restart())

    def close(self) -> None:
        run_sync(self._session.close())

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
