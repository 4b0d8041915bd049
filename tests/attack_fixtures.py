"""The attack catalogue run once per isolation level and pytest session, shared by the
`test_attacks_*` files: each case is then one parametrized test reading its outcome.

Running the whole catalogue once (rather than once per test) lets the runner share sessions
between independent cases and start fresh ones only for destructive cases: about two minutes
at one level on two cores.
"""

from __future__ import annotations

import functools

import pytest

from engine.devtools.security import CASES, CaseResult, Outcome, SecurityReport, run_matrix
from engine.devtools.security.catalogue import AttackCase
from sandbox import IsolationLevel
from tests.conftest import require_level

#: Cases that breach because of a bug outside sandbox/ (see the reason): xfail(strict=True).
KNOWN_BUGS: dict[str, str] = {}


@functools.cache
def report_for(level: IsolationLevel, ids: tuple[str, ...] | None = None) -> SecurityReport:
    """The catalogue (or the cases `ids`) run at `level`, once per pytest session."""
    cases = None if ids is None else [c for c in CASES if c.id in ids]
    return run_matrix([level], cases)


def outcome(
    level: IsolationLevel, case: AttackCase, ids: tuple[str, ...] | None = None
) -> CaseResult:
    require_level(level)
    result = report_for(level, ids).get(case.id, level)
    assert result is not None, f"{case.id} was not run"
    return result


def assert_held(
    level: IsolationLevel, case: AttackCase, ids: tuple[str, ...] | None = None
) -> None:
    result = outcome(level, case, ids)
    assert result.outcome is Outcome.HELD, (
        f"{case.id} at {level}: {result.outcome}: {result.detail}\n{result.output}"
    )


def params(cases: tuple[AttackCase, ...] = CASES) -> list[object]:
    """One pytest param per case, known bugs marked xfail(strict=True)."""
    found: list[object] = []
    for case in cases:
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case.id])]
            if case.id in KNOWN_BUGS
            else []
        )
        found.append(pytest.param(case, id=case.id, marks=marks))
    return found
