"""The `airlock` command line."""

from __future__ import annotations

import typer

from .commands import register
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


def main() -> None:
    app()
