"""The `airlock` app: every command registered, and `main`, which turns usage errors into one
line on stderr."""

from __future__ import annotations

import logging
import sys

import typer
from typer.exceptions import TyperException

from .commands import register
from .render import terminal_safe
from .sandbox_commands import doctor, exec_cells
from .serve_command import serve

app = typer.Typer(
    name="airlock",
    help="Code Interpreter, offline: a local model writes Python, a sandboxed kernel runs it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("exec")(exec_cells)
app.command("doctor")(doctor)
app.command("serve")(serve)
register(app)  # run, chat, files, threads, export, demo


class _TerminalSafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record))


def _warnings_to_stderr() -> None:
    """Warnings reach stderr as plain lines, as Python's last-resort handler prints them, but
    with control characters made visible: a log line may quote what a cell wrote."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_TerminalSafeFormatter("%(message)s"))
    logging.getLogger().addHandler(handler)


def main() -> None:
    """Usage errors come out as one line on stderr, exit status 2 (click's box is for help)."""
    _warnings_to_stderr()
    try:
        # Without standalone mode click hands back a command's exit code instead of exiting.
        code = app(standalone_mode=False)
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None
    except typer.Abort:
        print("aborted", file=sys.stderr)
        raise SystemExit(130) from None
    except TyperException as error:  # click's usage and parameter errors (typer vendors click)
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "airlock"
        format_message = getattr(error, "format_message", None)
        message = format_message() if callable(format_message) else str(error)
        if message:  # none when the help was shown for a bare command
            print(f"{command}: {message} (see '{command} --help')", file=sys.stderr)
        raise SystemExit(getattr(error, "exit_code", 2)) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)
