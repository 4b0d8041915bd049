"""A session's life: state across cells, results, timeouts, restarts and kernel deaths."""

from __future__ import annotations

import asyncio
import os
import signal

from sandbox import AsyncSession, Limits, SandboxConfig, Session
from tests.conftest import TEST_LIMITS


async def test_state_persists_across_cells(session: AsyncSession) -> None:
    first = await session.execute("total = 40\nprint('set')")
    second = await session.execute("total + 2")
    assert first.ok and first.stdout == "set\n"
    assert second.result is not None and second.result.text == "42"
    assert (first.execution_count, second.execution_count) == (1, 2)
    assert second.duration > 0


async def test_streams_keep_their_order_and_names(session: AsyncSession) -> None:
    result = await session.execute(
        "import sys\nprint('one')\nsys.stdout.flush()\n"
        "print('two', file=sys.stderr)\nsys.stderr.flush()\nprint('three')"
    )
    assert [c.name for c in result.streams] == ["stdout", "stderr", "stdout"]
    assert result.stdout == "one\nthree\n" and result.stderr == "two\n"
    assert result.logs == "one\ntwo\nthree\n"


async def test_error_has_name_value_and_plain_traceback(session: AsyncSession) -> None:
    result = await session.execute("def f():\n    return 1 / 0\nf()")
    assert not result.ok and result.error is not None
    assert result.error.name == "ZeroDivisionError"
    assert result.error.value == "division by zero"
    assert "\x1b[" not in result.error.traceback
    assert "return 1 / 0" in result.error.traceback
    assert result.logs.endswith(result.error.traceback)


async def test_rich_outputs_are_kept(session: AsyncSession) -> None:
    result = await session.execute(
        "from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))\n'done'"
    )
    html = [d for d in result.displays if "text/html" in d.data]
    assert html and html[0].data["text/html"] == "<b>hi</b>"
    assert result.result is not None and result.result.text == "'done'"


async def test_timeout_interrupts_and_keeps_state(session: AsyncSession) -> None:
    await session.execute("kept = 'still here'")
    result = await session.execute("import time\ntime.sleep(60)", timeout=1)
    assert result.timed_out and result.restart is None
    assert result.error is not None and result.error.name == "TimeoutError"
    assert "interrupted" in result.error.value
    after = await session.execute("print(kept)")
    assert after.stdout == "still here\n"


async def test_uninterruptible_loop_is_killed_and_session_recovers(
    session: AsyncSession,
) -> None:
    await session.execute("lost = 1")
    result = await session.execute(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        timeout=1,
    )
    assert result.timed_out and result.restart is not None
    assert result.error is not None and "restarted" in result.error.value
    assert "did not stop" in result.restart.reason
    after = await session.execute("print('lost' in globals())")
    assert after.ok and after.stdout == "False\n"


async def test_segfault_is_reported_and_kernel_restarted(session: AsyncSession) -> None:
    result = await session.execute("import ctypes\nctypes.string_at(0)")
    assert result.restart is not None and result.restart.reason == "segmentation fault"
    assert result.error is not None and "segmentation fault" in result.error.value
    assert (await session.execute("print(2 + 2)")).stdout == "4\n"


async def test_exit_status_is_reported(session: AsyncSession) -> None:
    result = await session.execute("import os\nos._exit(3)")
    assert result.restart is not None
    assert result.restart.reason == "the kernel exited with status 3"
    assert (await session.execute("1 + 1")).ok


async def test_kernel_killed_from_outside_between_cells(session: AsyncSession) -> None:
    await session.execute("x = 1")
    pid = session.kernel.kernel_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(session.kernel.wait_exit(), timeout=30)
    result = await session.execute("print('x' in globals())")
    assert result.ok and result.stdout == "False\n"
    assert result.restart is not None and "SIGKILL" in result.restart.reason
    assert any("restarted" in notice for notice in result.notices)


async def test_kernel_killed_from_outside_during_a_cell(session: AsyncSession) -> None:
    pid = session.kernel.kernel_pid()
    assert pid is not None
    cell = asyncio.ensure_future(
        session.execute("import time\nopen('started', 'w').close()\ntime.sleep(60)")
    )
    # The cell announces itself through the workspace; then the kernel is killed mid-cell.
    marker = session.workspace.root / "started"
    for _ in range(600):
        if marker.exists() or cell.done():
            break
        await asyncio.sleep(0.05)
    assert marker.exists()
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(cell, timeout=30)
    assert result.restart is not None and "SIGKILL" in result.restart.reason
    assert result.error is not None and result.error.name == "KernelRestarted"
    assert (await session.execute("print(1)")).stdout == "1\n"


async def test_manual_restart_clears_variables(session: AsyncSession) -> None:
    await session.execute("gone = True")
    await session.restart()
    result = await session.execute("'gone' in globals()")
    assert result.result is not None and result.result.text == "False"


def test_sync_facade_runs_the_same_core() -> None:
    with Session(SandboxConfig(limits=TEST_LIMITS)) as session:
        assert session.execute("a = 6 * 7").ok
        assert session.execute("print(a)").stdout == "42\n"


async def test_other_python_environment_can_run_the_kernel(tmp_path: object) -> None:
    import sys
    from pathlib import Path

    config = SandboxConfig(limits=Limits(timeout=20), python=Path(sys.executable))
    async with await AsyncSession.start(config) as started:
        result = await started.execute("import sys; print(sys.executable)")
    assert result.stdout.strip() == sys.executable
