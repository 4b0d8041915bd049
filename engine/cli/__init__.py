"""The `airlock` command line: `app.py` builds it from the command modules; `options.py` holds
what every command shares (the console, errors, the model, the data folder, the settings file).
Importing this package builds nothing, so a command module imports its neighbours cheaply."""

from __future__ import annotations


def main() -> None:
    from .app import main as run

    run()
