"""Runs the attack catalogue at one or more isolation levels and reports a matrix of outcomes.

    from engine.devtools.security import run_matrix
    report = run_matrix()                  # every level, every case
    report.print()                         # a rich table; report.markdown() for a file

Per level: one victim session is started before any attack (with a file in its workspace), and
one shared attacker session serves the cases that leave nothing behind; destructive cases get a
session of their own. After each case the runner checks what the case's own check does not:
the victim still answers `1+1` without having been restarted and its workspace is untouched,
the attacked session works (or was restarted, with a reason), the stand-in server lives.

The parts: `level_run` (one level's sessions and cases), `report` (the results and their
matrix); this module runs the levels in turn inside one `Arena`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sandbox import IsolationLevel, Limits, probe
from sandbox.session_root import default_root

from .arena import Arena
from .catalogue import CASES, AttackCase
from .level_run import LevelRun
from .report import CaseResult, Outcome, SecurityReport

#: Small limits, so that the bombs end quickly.
ATTACK_LIMITS = Limits(
    timeout=15,
    interrupt_grace=2,
    memory_mb=768,
    max_processes=96,
    max_file_mb=64,
    max_workspace_mb=64,
    max_workspace_files=2000,
    max_output_bytes=64 * 1024,
    tmp_mb=64,
)
#: The environment variable the runner sets to the canary (the kernel must never see it).
SECRET_ENV = "AIRLOCK_ATTACK_SECRET"

Progress = Callable[[CaseResult], None]


async def run_level(
    level: IsolationLevel,
    cases: Sequence[AttackCase] = CASES,
    *,
    arena: Arena,
    limits: Limits = ATTACK_LIMITS,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Run `cases` at `level` against `arena`; unavailable levels give `n/a` throughout."""
    check = await asyncio.to_thread(lambda: probe().check(level))
    results: list[CaseResult] = []
    if not check.available:
        for case in cases:
            results.append(
                CaseResult(
                    case.id,
                    str(case.category),
                    level,
                    Outcome.NOT_APPLICABLE,
                    f"level unavailable: {check.detail}",
                )
            )
        return results
    async with LevelRun(level, arena, limits) as run:
        for case in cases:
            result = await run.run(case)
            results.append(result)
            if progress is not None:
                progress(result)
    return results


async def run_matrix_async(
    levels: Iterable[IsolationLevel] | None = None,
    cases: Sequence[AttackCase] | None = None,
    *,
    limits: Limits = ATTACK_LIMITS,
    progress: Progress | None = None,
) -> SecurityReport:
    chosen = list(levels) if levels is not None else list(IsolationLevel)
    selected = tuple(cases) if cases is not None else CASES
    report = SecurityReport(chosen, selected)
    with Arena() as arena, _secret_in_environment(arena.canary):
        for level in chosen:
            for result in await run_level(
                level, selected, arena=arena, limits=limits, progress=progress
            ):
                report.add(result)
    return report


def run_matrix(
    levels: Iterable[IsolationLevel] | None = None,
    cases: Sequence[AttackCase] | None = None,
    *,
    limits: Limits = ATTACK_LIMITS,
    progress: Progress | None = None,
) -> SecurityReport:
    """Run the catalogue at each level (default: all three) and return the matrix; the entry
    point of `airlock bench security`. Call it outside a running event loop."""
    return asyncio.run(run_matrix_async(levels, cases, limits=limits, progress=progress))


@contextlib.contextmanager
def _secret_in_environment(canary: str) -> Any:
    previous = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = canary
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous


__all__ = [
    "ATTACK_LIMITS",
    "CaseResult",
    "Outcome",
    "SecurityReport",
    "default_root",
    "run_level",
    "run_matrix",
    "run_matrix_async",
]
