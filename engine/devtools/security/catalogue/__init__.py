"""The attack catalogue: what hostile code (or a hostile request) tries, and what must hold.

Data, not tests: `engine.devtools.security.runner` runs it at any isolation level and tells, case by
case, whether the sandbox held. Each case is one of:

- `code`: a cell run in the attacked session, a `string.Template` over the arena's names
  (`$secret_path`, `$tcp_port`, `$victim_workspace`... see `Arena.values` and the runner);
  `followup`, when set, runs in a brand-new session after the attacked one was closed (is
  anything left behind?);
- `request`: a coroutine acting on the host side (an upload with an odd name, a download of a
  planted link through the engine or `airlock exec --out`), given a `CaseContext`.

`check` looks at the `Evidence` (outputs, what the host's listeners received, what landed in
the host's shared folders, whether the stand-in server is alive) and says held or breached.
Every case is also held to the runner's health checks: the host process and a victim session
started before the attack keep working, the victim's files stay intact, and the attacked
session either works or was restarted with a reason.
"""

from __future__ import annotations

from . import boundary, code_interpreter, dangerous, filesystem, network, resources, sensitive
from .model import (
    PRELUDE,
    Applies,
    AttackCase,
    CaseContext,
    Category,
    Evidence,
    Request,
    Verdict,
    error_named,
    output_capped,
    standard,
)

__all__ = [
    "CASES",
    "PRELUDE",
    "Applies",
    "AttackCase",
    "CaseContext",
    "Category",
    "Evidence",
    "Request",
    "Verdict",
    "cases_by_id",
    "error_named",
    "output_capped",
    "standard",
]

CASES: tuple[AttackCase, ...] = (
    *sensitive.CASES,
    *filesystem.CASES,
    *network.CASES,
    *dangerous.CASES,
    *resources.CASES,
    *code_interpreter.CASES,
    *boundary.CASES,
)


def cases_by_id() -> dict[str, AttackCase]:
    found: dict[str, AttackCase] = {}
    for case in CASES:
        if case.id in found:
            raise ValueError(f"duplicate attack case id {case.id!r}")
        found[case.id] = case
    return found
