"""Helpers for the Responses API tests: a server (from `server_fixtures`), scripted models
named per call, and the tool shapes the SDK sends."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from tests.server_fixtures import write_script

OUTPUTS = "code_interpreter_call.outputs"
AUTO_TOOL: dict[str, Any] = {"type": "code_interpreter", "container": {"type": "auto"}}

_counter = itertools.count()


def script(folder: Path, *items: dict[str, str]) -> str:
    """A `scripted:PATH` model answering with `items`, one per model call."""
    return write_script(folder / f"responses-script-{next(_counter)}.json", list(items))


def container_tool(container_id: str) -> dict[str, Any]:
    return {"type": "code_interpreter", "container": container_id}
