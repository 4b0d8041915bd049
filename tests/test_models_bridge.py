"""The worker-thread -> event-loop channel: nothing lost or reordered, the first item and the end
of a stream delivered at once, fast items batched without a wake-up each. Real threads, a real
loop; timeouts only guard against a hang."""

from __future__ import annotations

import asyncio
import threading

import pytest

from models.bridge import Channel

GUARD_S = 10.0  # a hang fails the test instead of blocking the run
HOUR = 3600.0  # a polling timer that never fires within a test


async def test_every_item_arrives_in_order() -> None:
    channel: Channel[int] = Channel(asyncio.get_running_loop())
    n = 20_000

    def produce() -> None:
        for i in range(n):
            channel.put(i)
        channel.put(-1, end=True)

    thread = threading.Thread(target=produce)
    thread.start()
    got: list[int] = []
    while not got or got[-1] != -1:
        got += await asyncio.wait_for(channel.get(), GUARD_S)
    thread.join()
    assert got == [*range(n), -1]


async def test_first_item_wakes_a_waiting_consumer_at_once() -> None:
    channel: Channel[str] = Channel(asyncio.get_running_loop(), batch_s=HOUR)
    thread = threading.Thread(target=channel.put, args=("a",))
    thread.start()
    assert await asyncio.wait_for(channel.get(), GUARD_S) == ["a"]
    thread.join()


async def test_items_after_a_batch_wait_for_the_end_or_the_timer() -> None:
    """Once the consumer has taken a batch, later items do not wake it: with an hour-long timer
    only ``end`` does, and then everything queued meanwhile comes in one batch."""
    channel: Channel[str] = Channel(asyncio.get_running_loop(), batch_s=HOUR)
    took_first = threading.Event()

    def produce() -> None:
        channel.put("a")
        took_first.wait(GUARD_S)
        channel.put("b")
        channel.put("c")
        channel.put("d", end=True)

    thread = threading.Thread(target=produce)
    thread.start()
    assert await asyncio.wait_for(channel.get(), GUARD_S) == ["a"]
    took_first.set()
    assert await asyncio.wait_for(channel.get(), GUARD_S) == ["b", "c", "d"]
    thread.join()


@pytest.mark.parametrize("batch_s", [0.001, 0])
async def test_a_later_item_reaches_the_consumer_without_an_end(batch_s: float) -> None:
    """With batching the timer delivers it; with batch_s=0 (no timer) the item itself wakes
    the consumer, as the first one did."""
    channel: Channel[str] = Channel(asyncio.get_running_loop(), batch_s=batch_s)
    took_first = threading.Event()

    def produce() -> None:
        channel.put("a")
        took_first.wait(GUARD_S)
        channel.put("b")

    thread = threading.Thread(target=produce)
    thread.start()
    assert await asyncio.wait_for(channel.get(), GUARD_S) == ["a"]
    took_first.set()
    assert await asyncio.wait_for(channel.get(), GUARD_S) == ["b"]
    thread.join()


def test_put_after_the_loop_closed_marks_the_channel_closed() -> None:
    loop = asyncio.new_event_loop()
    channel: Channel[int] = Channel(loop)
    loop.close()
    channel.put(1, end=True)
    assert channel.closed
