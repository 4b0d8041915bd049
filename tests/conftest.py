"""Fixtures shared by the whole suite. Backend-specific ones live beside their tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox import AsyncSession, IsolationLevel, Limits, SandboxConfig, probe

#: Small limits so that the limit tests finish fast; everything else uses defaults.
TEST_LIMITS = Limits(
    timeout=20,
    interrupt_grace=2,
    memory_mb=768,
    max_processes=96,
    max_file_mb=64,
    max_workspace_mb=64,
    max_output_bytes=64 * 1024,
    tmp_mb=256,
)


def level_available(level: IsolationLevel) -> tuple[bool, str]:
    check = probe().check(level)
    return check.available, check.detail


def require_level(level: IsolationLevel) -> None:
    ok, why = level_available(level)
    if not ok:
        pytest.skip(f"isolation level {level} unavailable here: {why}")


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    """A session at the best level this machine allows, with the test limits."""
    async with await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS)) as started:
        yield started


@pytest.fixture(scope="session")
def best_level() -> IsolationLevel:
    return probe().best
