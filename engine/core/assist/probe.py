"""Calls into the kernel-side helpers (``kernel_side``) from the host, between the model's cells.

A probe is a small cell of its own: it installs the helper module in the kernel when it is not
there yet (a fresh or restarted kernel), calls one helper and reads back the JSON line it
prints. Nothing is left in the user's namespace, and a probe that fails or times out yields
nothing: the run goes on without the extra context.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from sandbox import AsyncSession

from .kernel_side import MARKER  # importable here: it only imports the standard library

log = logging.getLogger(__name__)

MODULE_NAME = "_airlock_assist"
_SOURCE = resources.files(__package__).joinpath("kernel_side.py").read_text(encoding="utf-8")


def probe_code(call: str) -> str:
    """A cell that makes sure the helper module is loaded, then runs ``call`` on it (``m``)."""
    return (
        "def __airlock_probe():\n"
        "    import sys, types\n"
        f"    m = sys.modules.get({MODULE_NAME!r})\n"
        "    if m is None:\n"
        f"        m = types.ModuleType({MODULE_NAME!r})\n"
        f"        exec(compile({_SOURCE!r}, '<airlock-assist>', 'exec'), m.__dict__)\n"
        f"        sys.modules[{MODULE_NAME!r}] = m\n"
        f"    {call}\n"
        "try:\n"
        "    __airlock_probe()\n"
        "finally:\n"
        "    del __airlock_probe\n"
    )


async def run_probe(session: AsyncSession, call: str, *, timeout: float) -> Any:
    """The value the helper printed, or None when the probe produced none."""
    execution = await session.execute(probe_code(call), timeout=timeout)
    for line in execution.stdout.splitlines():
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER) :])
            except ValueError:
                break
    log.debug("assist probe %r gave nothing (%s)", call, execution.error)
    return None


async def describe_files(
    session: AsyncSession, paths: list[str], *, budget_chars: int, timeout: float = 30.0
) -> dict[str, str]:
    """/mnt/data path -> what the file holds, in words (within ``budget_chars`` in all)."""
    if not paths:
        return {}
    value = await run_probe(
        session, f"m.describe({paths!r}, budget={budget_chars})", timeout=timeout
    )
    if not isinstance(value, list):
        return {}
    return {
        str(item["path"]): str(item["text"])
        for item in value
        if isinstance(item, dict) and "path" in item and "text" in item
    }


async def error_hints(session: AsyncSession, code: str, *, timeout: float = 10.0) -> list[str]:
    """What the namespace says about the last error, which `code` raised (existing columns,
    close names, filters that select nothing...)."""
    return await _hints(session, f"m.hint({code!r})", timeout)


async def sanity_hints(session: AsyncSession, code: str, *, timeout: float = 10.0) -> list[str]:
    """After a clean cell that printed nan or an empty frame: filters in `code` that select
    nothing, frames left empty."""
    return await _hints(session, f"m.sanity({code!r})", timeout)


async def _hints(session: AsyncSession, call: str, timeout: float) -> list[str]:
    value = await run_probe(session, call, timeout=timeout)
    if not isinstance(value, dict) or not isinstance(value.get("hints"), list):
        return []
    return [str(h)[:600] for h in value["hints"]]
