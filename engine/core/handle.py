"""A run in flight, as its readers see it: its events (kept, so a late reader replays them), its
cancel request and its end. The run loop writes to it; the server, the library and the CLI read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..schemas import Run, Thread
from .events import RunEvent


class RunHandle:
    """A run in flight: its events so far (kept, so a late reader replays them), its cancel
    request, and its end."""

    def __init__(self, run: Run, thread: Thread | None = None) -> None:
        #: The run as the loop last saved it.
        self.run = run
        #: Set for a run created with its thread (`thread.created` opens its events).
        self.thread = thread
        self.cancel_requested = asyncio.Event()
        self._events: list[RunEvent] = []
        self._new_event = asyncio.Event()
        self._finished = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        #: The files the run's code produced, once it has ended (images shown, files written).
        self.generated_file_ids: list[str] = []
        #: /mnt/data path -> id, for the files among them that the code wrote
        self.generated_paths: dict[str, str] = {}

    def emit(self, event: RunEvent) -> None:
        self._events.append(event)
        self._new_event.set()
        self._new_event = asyncio.Event()

    def finish(self) -> None:
        self._finished.set()
        self._new_event.set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    async def events(self) -> AsyncIterator[RunEvent]:
        """Every event of the run from its first, then live ones until the run has ended
        (the terminal `thread.run.*` event is the last; `done` is the transport's to add)."""
        index = 0
        while True:
            while index < len(self._events):
                yield self._events[index]
                index += 1
            if self._finished.is_set():
                return
            await self._new_event.wait()

    async def wait(self) -> Run:
        await self._finished.wait()
        return self.run
