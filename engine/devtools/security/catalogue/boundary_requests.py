"""Host-side requests for the boundary cases: what the host does with what the kernel made or
sent (terminal views, copies out, the quota's accounting, start-up), checked on the host."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .model import _REPO, PRELUDE, CaseContext, Evidence, Request, _template

#: Bytes no terminal may receive from the sandbox: ESC, BEL, C1 CSI, a right-to-left override.
TERMINAL_RAW = ("\x1b", "\x07", "\x9b", "\u202e")
#: Escape sequences a cell prints: clipboard (OSC 52), hyperlink (OSC 8), title, screen, cursor.
TERMINAL_PAYLOAD = (
    "\x1b]52;c;cHduZWQ=\x07 \x1b]8;;https://evil.example/\x1b\\click"
    "\x1b]8;;\x1b\\ \x1b]0;pwned\x07 \x1b[2J\x1b[H \x1b[1A\x1b[2K "
    "\x9b31m \u202eevil"
)
TERMINAL_CELL = f"""\
import os, subprocess, sys
payload = {TERMINAL_PAYLOAD!r}
print('stdout', payload)
print('stderr', payload, file=sys.stderr)
sys.stdout.flush(); sys.stderr.flush()
os.write(1, ('fd1 ' + payload + '\\n').encode())
os.write(2, ('fd2 ' + payload + '\\n').encode())
subprocess.run(['printf', 'child \\\\033]52;c;Y2hpbGQ=\\\\a\\\\n'])
open('name' + chr(27) + ']0;title' + chr(7) + '.txt', 'w').write('x')
raise ValueError('exception ' + payload)
"""


def in_thread(check: Callable[[CaseContext], Evidence]) -> Request:
    """A blocking host-side request (it runs the command line), off the event loop."""

    async def request(ctx: CaseContext) -> Evidence:
        return await asyncio.to_thread(check, ctx)

    return request


def _cli(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from engine.cli import main; main()", *args]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")},
        "PYTHONPATH": str(_REPO),
        "XDG_CONFIG_HOME": str(cwd / "xdg"),
        "XDG_DATA_HOME": str(cwd / "xdg"),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
    }
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=cwd, env=env)


def _crashed(done: subprocess.CompletedProcess[str]) -> str | None:
    if "Traceback (most recent call last)" in done.stderr:
        return f"the command crashed: {done.stderr.strip().splitlines()[-1][:200]}"
    return None


def terminal_views(ctx: CaseContext) -> Evidence:
    """`airlock exec`, `exec --json` and `run` (a scripted model) on a cell that prints escape
    sequences every way it can: none may reach the terminal raw."""
    evidence = Evidence(ctx.arena, ctx.level)
    seen = []
    with tempfile.TemporaryDirectory(prefix="airlock-security-term-") as folder:
        root = Path(folder)
        cell = root / "cell.py"
        cell.write_text(PRELUDE + TERMINAL_CELL)
        model = root / "model.json"
        model.write_text(
            json.dumps([{"code": TERMINAL_CELL}, {"text": f"Done: {TERMINAL_PAYLOAD}"}])
        )
        level = ["--isolation", str(ctx.level)]
        runs = {
            "exec": _cli(["exec", *level, "--timeout", "30", str(cell)], cwd=root),
            "exec --json": _cli(["exec", *level, "--json", str(cell)], cwd=root),
            "run": _cli(
                [
                    "run",
                    "go",
                    "--model",
                    f"scripted:{model}",
                    "--data-dir",
                    str(root / "store"),
                    "--out",
                    str(root / "out"),
                ],
                cwd=root,
            ),
        }
        for name, done in runs.items():
            shown = done.stdout + done.stderr
            raw = sorted({repr(r) for r in TERMINAL_RAW if r in shown})
            if raw:
                evidence.host_breaches.append(
                    f"airlock {name} passed {', '.join(raw)} to the terminal"
                )
            if crash := _crashed(done):
                evidence.host_breaches.append(f"airlock {name}: {crash}")
            seen.append(f"{name}: exit {done.returncode}, {len(shown)} characters shown")
        if "\\x1b]52;c;cHduZWQ=" not in runs["exec"].stdout:
            evidence.host_breaches.append("airlock exec hid the output instead of showing it")
    evidence.host_output = "\n".join(seen)
    return evidence


DEEP_PATHS_CELL = """\
import unicodedata
open('plain.txt', 'w').write('plain')
open(unicodedata.normalize('NFD', 'résumé.txt'), 'w').write('nfd')
open('bad' + chr(10) + 'name.txt', 'w').write('x')
for _ in range(40):
    os.mkdir('d' * 200)
    os.chdir('d' * 200)
open('deep.txt', 'w').write('bottom')
os.chdir('/mnt/data')
"""


def copy_out_paths(ctx: CaseContext) -> Evidence:
    """`airlock exec --out` on a workspace with a path deeper than PATH_MAX, an NFD name and a
    name with a newline: every file is copied or reported, the command never crashes."""
    evidence = Evidence(ctx.arena, ctx.level)
    with tempfile.TemporaryDirectory(prefix="airlock-security-deep-") as folder:
        root = Path(folder)
        cell = root / "cell.py"
        cell.write_text(PRELUDE + DEEP_PATHS_CELL)
        out = root / "out"
        done = _cli(
            ["exec", "--isolation", str(ctx.level), "--json", "--out", str(out), str(cell)],
            cwd=root,
        )
        if crash := _crashed(done):
            evidence.host_breaches.append(crash)
        try:
            files = json.loads(done.stdout)["cells"][0]["files"]
        except (ValueError, KeyError, IndexError):
            evidence.host_breaches.append(f"no report (exit {done.returncode})")
            files = []
        silent = [f["path"][-60:] for f in files if "saved_to" not in f and "error" not in f]
        if silent:
            evidence.host_breaches.append(f"files neither copied nor reported: {silent}")
        for name in ("plain.txt", "résumé.txt"):
            if not any(p.name in (name, _nfd(name)) for p in out.iterdir() if out.exists()):
                evidence.host_breaches.append(f"{name} was not copied out")
        evidence.host_output = f"exit {done.returncode}; " + "; ".join(
            f"{f['path'][-40:]!r}: {'copied' if 'saved_to' in f else f['error']}" for f in files
        )
    return evidence


def _nfd(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFD", name)


def _held_bytes(ctx: CaseContext) -> int:
    from sandbox.held import unlinked_files

    assert ctx.session is not None
    device = os.stat(ctx.session.workspace.root).st_dev
    return sum(h.allocated for h in unlinked_files(ctx.session.kernel.session_pids(), device))


def held_quota(code: str) -> Request:
    """Run `code` (which hides data in unlinked files it keeps open or mapped): the cell must be
    stopped for the quota, and the space held afterwards must be within it."""

    async def request(ctx: CaseContext) -> Evidence:
        evidence = Evidence(ctx.arena, ctx.level)
        assert ctx.session is not None
        execution = await ctx.session.execute(PRELUDE + _template(code, ctx.values), timeout=60)
        evidence.executions.append(execution)
        quota = ctx.limits.max_workspace_mb * 1024 * 1024
        held = await asyncio.to_thread(_held_bytes, ctx)
        visible = ctx.session.workspace.usage()[0]
        if held + visible > quota:
            evidence.host_breaches.append(
                f"{(held + visible) >> 20} MB held past the "
                f"{quota >> 20} MB quota ({held >> 20} MB unlinked)"
            )
        if execution.error is None or execution.error.name != "WorkspaceFull":
            evidence.host_breaches.append(f"the cell was not stopped: {execution.error}")
        evidence.host_output = f"held unlinked afterwards: {held} bytes"
        return evidence

    return request


def display_flood(code: str, timeout: float) -> Request:
    """A cell that shows 100,000 tiny images: at most the budget's count kept and saved, and the
    cell ends within its time limit and grace."""

    async def request(ctx: CaseContext) -> Evidence:
        evidence = Evidence(ctx.arena, ctx.level)
        session = ctx.session
        assert session is not None
        before = _count(session.images_dir)
        execution = await session.execute(PRELUDE + code, timeout=timeout)
        evidence.executions.append(execution)
        saved = _count(session.images_dir) - before
        cap = ctx.limits.max_displays
        if len(execution.displays) > cap or saved > cap:
            evidence.host_breaches.append(
                f"{len(execution.displays)} outputs kept, {saved} image files saved (budget {cap})"
            )
        allowed = timeout + ctx.limits.interrupt_grace + 15
        if execution.duration > allowed:
            evidence.host_breaches.append(f"the cell ran {execution.duration:.0f} s")
        evidence.host_output = (
            f"{len(execution.displays)} kept, {saved} saved, "
            f"{execution.duration:.1f} s; {execution.notices}"
        )
        return evidence

    return request


def _count(folder: Path) -> int:
    return sum(1 for _ in folder.iterdir()) if folder.exists() else 0


def kernel_messages(code: str) -> Request:
    """Malformed messages sent from a cell: the session, then an engine run, must carry on."""

    async def request(ctx: CaseContext) -> Evidence:
        evidence = Evidence(ctx.arena, ctx.level)
        assert ctx.session is not None
        try:
            execution = await ctx.session.execute(PRELUDE + code, timeout=30)
        except Exception as exc:
            evidence.host_breaches.append(f"the session crashed: {type(exc).__name__}: {exc}")
            await ctx.session.restart()  # a fresh client: the rest of the run goes on
        else:
            evidence.executions.append(execution)
            if "after" not in execution.stdout:
                evidence.host_breaches.append("the cell's own output was lost")
        try:
            status = await _engine_run(ctx, code)
        except Exception as exc:
            status = f"raising {type(exc).__name__}: {exc}"
        if status != "completed":
            evidence.host_breaches.append(f"the engine's run ended {status}")
        evidence.host_output = f"engine run {status}"
        return evidence

    return request


async def _engine_run(ctx: CaseContext, code: str) -> str:
    from engine.schemas import AssistantCreate, CodeInterpreterTool, RunCreate, ThreadCreate

    items: list[dict[str, Any]] = [{"code": code}, {"text": "done"}]
    async with ctx.engine(items) as engine:
        store = engine.store
        assistant = store.create_assistant(
            AssistantCreate(model="scripted", tools=[CodeInterpreterTool()])
        )
        thread = store.create_thread(ThreadCreate())
        body = RunCreate.model_validate(
            {
                "assistant_id": assistant.id,
                "additional_messages": [{"role": "user", "content": "go"}],
            }
        )
        handle = await engine.create_run(thread.id, body)
        run = await asyncio.wait_for(handle.wait(), 120)
        return f"{run.status}" + (f" ({run.last_error.message})" if run.last_error else "")


def after_restart(marker: str) -> Request:
    """After the case's code planted start-up code and killed its kernel: the restarted kernel
    must work and the planted code must not have run (it would have written `marker`)."""

    async def request(ctx: CaseContext) -> Evidence:
        evidence = Evidence(ctx.arena, ctx.level)
        assert ctx.session is not None
        check = await ctx.session.execute("1+1", timeout=30)
        evidence.executions.append(check)
        try:
            ran = ctx.session.read_file(_template(marker, ctx.values)).decode(errors="replace")
        except Exception:
            ran = None
        if ran is not None:
            evidence.host_breaches.append(f"code planted by a cell ran at kernel start: {ran}")
        evidence.host_output = f"restarted: {check.restart or 'before this check'}"
        return evidence

    return request
