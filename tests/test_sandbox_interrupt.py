"""Cancelling the running cell from outside: AsyncSession.interrupt and Session.interrupt."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox import AsyncSession, SandboxConfig, Session
from sandbox.results import Execution
from tests.conftest import TEST_LIMITS

#: The cell announces that it has really started by creating this workspace file.
STARTED = "started"
ANNOUNCE = f"open({STARTED!r}, 'w').close()\n"
#: How long a cell may take to start (a cold kernel on a loaded machine), generously.
START_DEADLINE = 60.0


async def _wait_started(session: AsyncSession, cell: asyncio.Future[Execution]) -> None:
    marker = session.workspace.host_path(STARTED)
    deadline = time.monotonic() + START_DEADLINE
    for _ in range(int(START_DEADLINE / 0.05)):  # polls a file: nothing to await instead
        if marker.exists() or cell.done() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert marker.exists(), "the cell never started"
    assert not cell.done()


async def test_interrupt_stops_the_cell_and_keeps_state(session: AsyncSession) -> None:
    assert (await session.execute("kept = 'still here'")).ok
    cell = asyncio.ensure_future(session.execute(f"import time\n{ANNOUNCE}time.sleep(60)"))
    await _wait_started(session, cell)
    started = time.monotonic()
    assert session.interrupt() is True
    result = await asyncio.wait_for(cell, timeout=30)
    assert time.monotonic() - started < 30
    assert result.cancelled and not result.timed_out and result.restart is None
    assert result.error is not None and result.error.name == "KeyboardInterrupt"
    assert "TimeoutError" not in result.logs
    after = await session.execute("print(kept)")
    assert after.ok and not after.cancelled and after.stdout == "still here\n"


async def test_cell_ignoring_sigint_is_killed_after_the_grace(session: AsyncSession) -> None:
    await session.execute("lost = 1")
    cell = asyncio.ensure_future(
        session.execute(
            f"import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n{ANNOUNCE}"
            "time.sleep(60)"
        )
    )
    await _wait_started(session, cell)
    started = time.monotonic()
    assert session.interrupt() is True
    result = await asyncio.wait_for(cell, timeout=30)
    assert time.monotonic() - started >= TEST_LIMITS.interrupt_grace
    assert result.cancelled and not result.timed_out
    assert result.restart is not None and "cancelled" in result.restart.reason
    assert "time limit" not in result.restart.reason
    assert result.error is not None and result.error.name == "KernelRestarted"
    after = await session.execute("print('lost' in globals())")
    assert after.ok and not after.cancelled and after.stdout == "False\n"


async def test_interrupt_while_idle_does_nothing(session: AsyncSession) -> None:
    assert (await session.execute("x = 1")).ok
    assert session.interrupt() is False
    assert session.interrupt() is False
    result = await session.execute("import time\ntime.sleep(0.5)\nprint(x + 1)")
    assert result.ok and not result.cancelled and not result.timed_out
    assert result.stdout == "2\n"


def test_sync_interrupt_from_another_thread() -> None:
    with (
        Session(SandboxConfig(limits=TEST_LIMITS)) as session,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        assert session.interrupt() is False
        assert session.execute("kept = 3").ok
        cell = pool.submit(session.execute, f"import time\n{ANNOUNCE}time.sleep(60)")
        marker: Path = session.async_session.workspace.host_path(STARTED)
        deadline = time.monotonic() + START_DEADLINE
        while not marker.exists() and not cell.done() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists() and not cell.done()
        assert session.interrupt() is True
        result = cell.result(timeout=30)
        assert result.cancelled and not result.timed_out
        assert result.error is not None and result.error.name == "KeyboardInterrupt"
        assert session.execute("print(kept)").stdout == "3\n"
        assert session.interrupt() is False
