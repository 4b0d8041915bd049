"""The attack catalogue run once per isolation level and pytest session, shared by the
`test_attacks_*` files: each case is then one parametrized test reading its outcome.

Running the whole catalogue once (rather than once per test) lets the runner share sessions
between independent cases and start fresh ones only for destructive cases: about two minutes
at one level on two cores.
"""

from __future__ import annotations

import functools

import pytest

from engine.security import CASES, CaseResult, Outcome, SecurityReport, run_matrix
from engine.security.catalogue import AttackCase
from sandbox import IsolationLevel
from tests.conftest import require_level

#: Cases that breach because of a bug outside sandbox/ (see the reason): xfail(strict=True).
KNOWN_BUGS: dict[str, str] = {
    "upload-name-dots": (
        "BUG: Store.create_file (engine/store/store.py:139) keeps '..' (and '.') as a file's "
        "name; a client saving by filename writes outside its folder. Refuse or replace names "
        "that are empty, '.' or '..' after basename()"),
    "upload-name-control": (
        "BUG: ThreadSession._free_name (engine/sessions.py:77) loops forever on a name the "
        "workspace refuses (control characters): _exists() answers True for every candidate, "
        "and stage() runs on the event loop, so one upload hangs the server. Fall back to the "
        "file id when safe_relative_path() refuses the name"),
    "upload-name-long": (
        "BUG: ThreadSession._exists (engine/sessions.py:84) lets OSError(ENAMETOOLONG) from "
        "Path.is_symlink() escape for a >255-byte upload name (and put_file would raise it "
        "too); the run fails instead of staging the file. Cap the name at 255 bytes (keeping "
        "the suffix) or use the file id in _free_name"),
}


@functools.cache
def report_for(level: IsolationLevel, ids: tuple[str, ...] | None = None) -> SecurityReport:
    """The catalogue (or the cases `ids`) run at `level`, once per pytest session."""
    cases = None if ids is None else [c for c in CASES if c.id in ids]
    return run_matrix([level], cases)


def outcome(level: IsolationLevel, case: AttackCase,
            ids: tuple[str, ...] | None = None) -> CaseResult:
    require_level(level)
    result = report_for(level, ids).get(case.id, level)
    assert result is not None, f"{case.id} was not run"
    return result


def assert_held(level: IsolationLevel, case: AttackCase,
                ids: tuple[str, ...] | None = None) -> None:
    result = outcome(level, case, ids)
    assert result.outcome is Outcome.HELD, (
        f"{case.id} at {level}: {result.outcome}: {result.detail}\n{result.output}")


def params(cases: tuple[AttackCase, ...] = CASES) -> list[object]:
    """One pytest param per case, known bugs marked xfail(strict=True)."""
    found: list[object] = []
    for case in cases:
        marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case.id])]
                 if case.id in KNOWN_BUGS else [])
        found.append(pytest.param(case, id=case.id, marks=marks))
    return found
