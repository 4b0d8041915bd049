"""Handing items from a worker thread to an asyncio consumer, cheaply.

A token loop produces thousands of items a second on a small model; waking the event loop for
each (``call_soon_threadsafe``: a write to the loop's self-pipe, then a loop iteration that takes
the GIL from the worker) costs a sizeable share of the token itself. So wake-ups are rationed:

- A consumer with nothing to do asks to be woken (``_wake_wanted``); the producer's next ``put``
  then schedules exactly one wake-up. A first token, or every token of a slow model, is
  therefore delivered at once.
- Right after taking a batch the consumer does not ask: it looks again on a timer, ``batch_s``
  later, taking everything produced meanwhile in one go. Tokens that come fast are delivered in
  batches at most ``batch_s`` old, with one loop iteration per batch and no cross-thread wake-up
  at all. When the timer finds nothing, the consumer asks to be woken again.
- ``put(..., end=True)`` (the last items of a stream: the result, an error) always wakes the
  consumer at once, so the end of a stream is never held back by the timer.

Items are never merged or reordered; only the moment the consumer sees them changes.
``batch_s=0`` turns the timer off: one wake-up per item the consumer is not already due.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

# Longest a streamed item waits for the consumer while tokens arrive faster than this. On the
# tiny test model (~10k tokens/s, 2 cores) one wake-up per token cost ~18% of the token rate;
# 2 ms batches leave ~3%, and 10 ms did no better.
BATCH_S = 0.002


class Channel(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, *, batch_s: float = BATCH_S) -> None:
        self._loop = loop
        self._batch_s = batch_s
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self._wake_wanted = True  # the consumer waits for the producer to wake it
        self._wake_sent = False  # ...and a wake-up was scheduled since it asked
        self._took_batch = False  # the last get() returned items: poll on a timer next
        self.closed = False  # the consumer left: producers may stop

    def put(self, *items: T, end: bool = False) -> None:
        """From any thread. ``end``: wake the consumer now even if it would poll later."""
        with self._lock:
            self._items.extend(items)
            if self._wake_sent or not (self._wake_wanted or end):
                return
            self._wake_sent = True
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the consumer's loop is closed: nobody will read this
            self.closed = True

    async def get(self) -> list[T]:
        """On the consumer's loop: every item queued so far, waiting for at least one."""
        while True:
            with self._lock:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    self._wake_wanted = False
                    self._took_batch = True
                    return items
                poll = self._took_batch and self._batch_s > 0
                self._took_batch = False
                self._wake_wanted = not poll
                self._wake_sent = False
                self._ready.clear()
            timer = self._loop.call_later(self._batch_s, self._ready.set) if poll else None
            try:
                await self._ready.wait()
            finally:
                if timer is not None:
                    timer.cancel()
