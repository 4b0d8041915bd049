"""`airlock exec` (run cells in one sandboxed session) and `airlock doctor`.

What a cell produced reaches the terminal through `terminal_safe` (control characters shown as
escapes, no markup parsed); `--json` prints it with json.dumps, whose escapes keep every control
character as `\u001b` text. With `--out`, each file is copied on its own: one that cannot be
(a link, a name the host refuses, a path too deep for the host) is reported and the rest go on.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from sandbox import (
    Execution,
    IsolationLevel,
    IsolationUnavailable,
    Limits,
    SandboxConfig,
    Session,
    WorkspaceError,
    probe,
)

from ..ids import new_id
from ..tool_calls import code_interpreter_call, error_dict
from .render import safe_text, terminal_safe

stdout = Console()
stderr = Console(stderr=True)

ANALYSIS_MODULES = (
    "numpy",
    "pandas",
    "matplotlib",
    "scipy",
    "sklearn",
    "openpyxl",
    "docx",
    "pptx",
    "pypdf",
    "PIL",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(
        Text.assemble(("error:", "bold red"), " ", terminal_safe(message)), highlight=False
    )
    return typer.Exit(code)


def _read_cell(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise _fail(f"no such cell file: {source}")
    return path.read_text()


# The sandbox flags every command that starts sessions shares (`exec`, `mcp`).
MemoryOption = Annotated[int, typer.Option(help="Memory of the session, in MB.")]
IsolationOption = Annotated[
    IsolationLevel | None,
    typer.Option(help="Isolation level (default: the best this machine allows)."),
]
StrictOption = Annotated[bool, typer.Option(help="Refuse to run without isolation (level 'none').")]


def sandbox_config(
    timeout: float, memory: int, isolation: IsolationLevel | None, strict: bool
) -> SandboxConfig:
    """The sessions' configuration from the sandbox flags: cell time limit, memory, level, and
    `--strict` as a floor of 'namespaces'."""
    return SandboxConfig(
        limits=Limits(timeout=timeout, memory_mb=memory),
        isolation=isolation,
        minimum_isolation=IsolationLevel.NAMESPACES if strict else IsolationLevel.NONE,
    )


def exec_cells(
    cells: Annotated[
        list[str],
        typer.Argument(
            help="Files of Python code, each run as one cell, in order ('-' reads stdin).",
            show_default=False,
        ),
    ],
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", help="A file to put into /mnt/data first (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Copy the files the cells generated, and the images they showed, into DIR."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds a cell may run.")] = Limits.timeout,
    memory: MemoryOption = Limits.memory_mb,
    isolation: IsolationOption = None,
    strict: StrictOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run cells of Python in one sandboxed session; exit 0 if every cell succeeded."""
    sources = [_read_cell(cell) for cell in cells]
    inputs = list(file or [])
    for path in inputs:
        if not path.is_file():
            raise _fail(f"no such input file: {path}")
    config = sandbox_config(timeout, memory, isolation, strict)
    try:
        session = Session(config)
    except IsolationUnavailable as exc:
        raise _fail(str(exc), 1) from None
    with session:
        if session.isolation is IsolationLevel.NONE and not as_json:
            stderr.print(
                "[bold yellow]warning:[/] the kernel is NOT ISOLATED (level 'none'); "
                "see 'airlock doctor'"
            )
        try:
            for path in inputs:
                session.put_file(path.name, path)
        except WorkspaceError as exc:
            raise _fail(str(exc)) from None
        results = [session.execute(code) for code in sources]
        reports = [_cell_report(session, result, out) for result in results]
    if as_json:
        print(json.dumps({"isolation": str(session.isolation), "cells": reports}, indent=2))
    else:
        for result, report in zip(results, reports, strict=True):
            _show(result, report)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


def _cell_report(session: Session, result: Execution, out: Path | None) -> dict[str, Any]:
    """The JSON for one cell; copies its files and images under `out` as a side effect."""
    image_ids: list[str] = []
    images: list[dict[str, Any]] = []
    for image in result.images:
        file_id = new_id("file-")
        image_ids.append(file_id)
        entry: dict[str, Any] = {"file_id": file_id, "path": str(image)}
        if out is not None:
            try:
                out.mkdir(parents=True, exist_ok=True)
                entry["path"] = str(shutil.copyfile(image, out / image.name))
            except OSError as exc:
                entry["error"] = f"not copied: {exc.strerror or exc}"
        images.append(entry)
    return {
        "status": "completed" if result.ok else "failed",
        "tool_call": code_interpreter_call(result, image_ids),
        "error": error_dict(result),
        "files": list(_copy_files(session, result, out)),
        "images": images,
        "duration": round(result.duration, 4),
    }


def _copy_files(session: Session, result: Execution, out: Path | None) -> Iterable[dict[str, Any]]:
    for change in result.files:
        entry: dict[str, Any] = {"path": change.path, "size": change.size}
        if out is not None:
            try:
                entry["saved_to"] = str(session.copy_file_out_under(change.path, out))
            except WorkspaceError as exc:  # replaced by a link or removed since the cell
                entry["error"] = str(exc)
            except OSError as exc:  # the host refused it: too deep, too long a name, disk full
                entry["error"] = f"cannot write it under {out}: {exc.strerror or exc}"
        yield entry


def _show(result: Execution, report: dict[str, Any]) -> None:
    title = Text(f"In [{result.execution_count or ' '}]")
    stdout.print(
        Panel(
            Syntax(terminal_safe(result.code.rstrip()), "python", theme="ansi_dark"),
            title=title,
            title_align="left",
            border_style="green" if result.ok else "red",
        )
    )
    logs = result.logs
    if logs:
        stdout.print(safe_text(logs.rstrip("\n")), highlight=False)
    for image in report["images"]:
        stdout.print(
            Text.assemble(("image:", "cyan"), " ", terminal_safe(image["path"], one_line=True)),
            highlight=False,
        )
        if "error" in image:
            stderr.print(safe_text(f"  {image['error']}", "yellow", one_line=True), highlight=False)
    for entry in report["files"]:
        line = Text.assemble(
            ("file:", "cyan"),
            " ",
            terminal_safe(entry["path"], one_line=True),
            f" ({entry['size']} bytes)",
        )
        if "saved_to" in entry:
            line.append(f" -> {terminal_safe(entry['saved_to'], one_line=True)}")
        stdout.print(line, highlight=False, soft_wrap=True)
        if "error" in entry:
            stderr.print(
                safe_text(f"  not copied: {entry['error']}", "yellow", one_line=True),
                highlight=False,
                soft_wrap=True,
            )


def doctor(
    python: Annotated[
        Path | None, typer.Option(help="Check this interpreter instead of the current one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say which isolation level this machine allows and why, and what is missing."""
    report = probe(python)
    modules = _missing_modules(report.python.executable)
    available = [c for c in report.checks if c.available]
    if as_json:
        print(
            json.dumps(
                {
                    "best": str(available[0].level) if available else None,
                    "levels": [
                        {"level": str(c.level), "available": c.available, "detail": c.detail}
                        for c in report.checks
                    ],
                    "cgroups": report.cgroups or "available",
                    "runs_as": report.runs_as,
                    "python": str(report.python.executable),
                    "missing_modules": modules,
                    "notes": list(report.notes),
                },
                indent=2,
            )
        )
        raise typer.Exit(0 if available else 1)
    table = Table(title="Isolation levels", show_lines=False)
    table.add_column("level")
    table.add_column("available")
    table.add_column("what it holds, or why not")
    for check in report.checks:
        table.add_row(
            str(check.level), "[green]yes[/]" if check.available else "[red]no[/]", check.detail
        )
    stdout.print(table)
    best = available[0].level if available else None
    stdout.print(f"Sessions run at: [bold]{best or 'nothing: no kernel can start'}[/]")
    stdout.print(f"Kernels run as: {report.runs_as}")
    stdout.print(
        "Memory and process caps for the whole session (cgroups): "
        + (
            "[green]yes[/]"
            if report.cgroups is None
            else f"[yellow]no[/] ({report.cgroups}); rlimits only"
        )
    )
    stdout.print(f"Kernel interpreter: {report.python.executable}")
    if modules:
        stdout.print(
            f"[yellow]Missing from the kernel's environment:[/] {', '.join(modules)} "
            "(pip install 'airlock[analysis]')"
        )
    for note in report.notes:
        stdout.print(f"[yellow]note:[/] {note}")
    if best is IsolationLevel.NONE:
        stdout.print("[bold yellow]warning:[/] kernels would run NOT ISOLATED")
    raise typer.Exit(0 if available else 1)


def _missing_modules(python: Path) -> list[str]:
    import subprocess

    script = (
        "import importlib.util as u; "
        f"print(' '.join(m for m in {ANALYSIS_MODULES!r} if u.find_spec(m) is None))"
    )
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=60)
    return result.stdout.split()
