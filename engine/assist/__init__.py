"""Help for the model between its cells: what the files hold before the first one, a digest
of the error (and hints from the kernel) after a failed one, and the checks on its code
(a cell that already failed, answer lines written into code). See `AssistPolicy` in
`engine.settings` for the switches."""

from .feedback import error_digest, failing_line, normalise, salvage
from .probe import describe_files, error_hints

__all__ = ["describe_files", "error_digest", "error_hints", "failing_line", "normalise",
           "salvage"]
