"""The warm pool hands out started kernels with the analysis stack already imported."""

from __future__ import annotations

import time

from sandbox import KernelPool, SandboxConfig
from tests.conftest import TEST_LIMITS


async def test_pooled_session_is_ready_and_preloaded() -> None:
    async with KernelPool(SandboxConfig(limits=TEST_LIMITS), size=1) as pool:
        assert pool.ready_count == 1
        started = time.monotonic()
        session = await pool.acquire()
        acquire_seconds = time.monotonic() - started
        try:
            result = await session.execute(
                "import sys\nprint('pandas' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n"
                "print(sorted(k for k in globals() if not k.startswith('_')))"
            )
            assert result.stdout.splitlines()[0] == "True True"
            # Preloading binds no names: the user's namespace starts clean.
            assert "pandas" not in result.stdout.splitlines()[1]
            assert result.execution_count == 1
        finally:
            await session.close()
        assert acquire_seconds < 5  # generous: a warm hand-over takes milliseconds


async def test_pool_refills_and_sessions_are_distinct() -> None:
    async with KernelPool(SandboxConfig(limits=TEST_LIMITS), size=1) as pool:
        first = await pool.acquire()
        second = await pool.acquire()  # the pool was empty: this one starts (or is refilled)
        try:
            assert first.id != second.id
            assert first.workspace.root != second.workspace.root
            await first.execute("marker = 1")
            check = await second.execute("print('marker' in globals())")
            assert check.stdout == "False\n"
        finally:
            await first.close()
            await second.close()
        await pool.start()
        assert pool.ready_count == 1


async def test_a_dead_pooled_kernel_is_never_handed_out() -> None:
    async with KernelPool(SandboxConfig(limits=TEST_LIMITS), size=1) as pool:
        waiting = pool._ready._queue[0]
        await waiting.kernel.kill()
        session = await pool.acquire()
        try:
            assert session is not waiting
            assert (await session.execute("print('alive')")).stdout == "alive\n"
        finally:
            await session.close()
