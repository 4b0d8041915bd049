"""An adversarial suite for the sandbox: the attack catalogue (`catalogue`), the host-side stage
it runs against (`arena`) and the runner that turns it into a matrix by isolation level.

    from engine.devtools.security import run_matrix
    report = run_matrix()          # or run_matrix([IsolationLevel.BUBBLEWRAP])
    report.print()                 # rich table; report.markdown() for a file
"""

from .catalogue import CASES, AttackCase, Category, Evidence, Verdict
from .runner import ATTACK_LIMITS, CaseResult, Outcome, SecurityReport, run_matrix, run_matrix_async

__all__ = [
    "ATTACK_LIMITS",
    "CASES",
    "AttackCase",
    "CaseResult",
    "Category",
    "Evidence",
    "Outcome",
    "SecurityReport",
    "Verdict",
    "run_matrix",
    "run_matrix_async",
]
