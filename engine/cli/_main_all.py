"""`python -m engine.cli._main_all ARGS`: the `airlock` app with this package's commands
registered, for the tests until `engine.cli` registers them itself."""

from __future__ import annotations

from . import app
from .commands import register

if not any(getattr(c, "name", None) == "run" for c in app.registered_commands):
    register(app)

if __name__ == "__main__":
    app()
