"""Registers `run`, `chat`, `files`, `threads`, `export`, `demo`, `bench`, `models` and `mcp` on
the app."""

from __future__ import annotations

import importlib.util

import typer


def register(app: typer.Typer) -> None:
    from .data_commands import export, files_app, threads_app
    from .demo_command import demo
    from .mcp_command import mcp
    from .models_command import models_app
    from .run_commands import chat, run

    app.command("run")(run)
    app.command("chat")(chat)
    app.add_typer(files_app, name="files")
    app.add_typer(threads_app, name="threads")
    app.command("export")(export)
    app.command("demo")(demo)
    if importlib.util.find_spec("engine.devtools") is not None:
        # The developer tooling's one entry point into the product; absent, no `bench`.
        from engine.devtools.cli import bench

        app.command("bench")(bench)
    app.add_typer(models_app, name="models")
    app.command("mcp")(mcp)
