"""Handing items from a worker thread to an asyncio consumer, cheaply.

A token loop produces hundreds of items a second; waking the event loop for each would cost more
than the tokens on a small model. The worker appends under a lock and schedules one wake-up only
when the consumer is not already due one; the consumer takes everything queued at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Channel(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self._wake_pending = False
        self.closed = False  # the consumer left: producers may stop

    def put(self, *items: T) -> None:
        """From any thread."""
        with self._lock:
            self._items.extend(items)
            if self._wake_pending:
                return
            self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the consumer's loop is closed: nobody will read this
            self.closed = True

    async def get(self) -> list[T]:
        """On the consumer's loop: every item queued so far, waiting for at least one."""
        await self._ready.wait()
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._wake_pending = False
            self._ready.clear()
        return items
