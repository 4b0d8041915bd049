"""Help for the model between its cells: what the files hold before the first one, a digest
of the error (and hints from the kernel) after a failed one, and the checks on its code
(a cell that already ran, answer lines written into code). `Coach` holds a run's share of it;
`AssistPolicy` has the switches."""

from .coach import (
    ANSWER_REMINDER,
    COMPUTE_FIRST,
    PRINT_FIRST,
    ROUND_FIRST,
    Coach,
    Repeat,
    without_echoes,
)
from .feedback import error_digest, failing_line, normalise, salvage
from .policy import AssistPolicy
from .probe import describe_files, error_hints, sanity_hints

__all__ = [
    "ANSWER_REMINDER",
    "COMPUTE_FIRST",
    "PRINT_FIRST",
    "ROUND_FIRST",
    "AssistPolicy",
    "Coach",
    "Repeat",
    "describe_files",
    "error_digest",
    "error_hints",
    "failing_line",
    "normalise",
    "salvage",
    "sanity_hints",
    "without_echoes",
]
