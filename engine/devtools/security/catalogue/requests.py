"""Host-side request builders: what the host does after (or instead of) the attack's cell (reads
and copies of planted files, uploads with hostile names, engine runs, `airlock exec --out`)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox import WorkspaceError

from .model import _REPO, PRELUDE, CaseContext, Evidence, Request, _template

if TYPE_CHECKING:
    from engine.store import Store


async def _host_reads(ctx: CaseContext, name: str) -> Evidence:
    """After the code planted `name`, the host reads and copies it as downloads do."""
    evidence = Evidence(ctx.arena, ctx.level)
    assert ctx.session is not None
    seen: list[str] = []
    try:
        data = await asyncio.wait_for(asyncio.to_thread(ctx.session.read_file, name), 10)
        seen.append(f"read_file: {data[:200]!r}")
    except (WorkspaceError, OSError) as exc:
        seen.append(f"read_file refused: {exc}")
    except TimeoutError:
        evidence.host_breaches.append("the host hung reading a planted file")
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "copy"
        try:
            await asyncio.wait_for(asyncio.to_thread(ctx.session.copy_file_out, name, target), 10)
            seen.append(f"copy_file_out: {target.read_bytes()[:200]!r}")
        except (WorkspaceError, OSError) as exc:
            seen.append(f"copy_file_out refused: {exc}")
        except TimeoutError:
            evidence.host_breaches.append("the host hung copying a planted file")
    evidence.host_output = "\n".join(seen)
    return evidence


def _host_reads_case(name: str) -> Request:
    async def request(ctx: CaseContext) -> Evidence:
        return await _host_reads(ctx, name)

    return request


async def _upload_through_link(ctx: CaseContext) -> Evidence:
    evidence = Evidence(ctx.arena, ctx.level)
    assert ctx.session is not None
    try:
        ctx.session.put_file("sub/planted.txt", b"must not land on the host")
        evidence.host_output = "put_file accepted"
    except (WorkspaceError, OSError) as exc:
        evidence.host_output = f"put_file refused: {exc}"
    return evidence


def _output_files_with(store: Store, canary: str, known: set[str]) -> list[str]:
    leaked = []
    for file in store.list_files(purpose="assistants_output", limit=10000).data:
        if file.id in known:
            continue
        with store.open_file_content(file.id) as handle:
            if canary.encode() in handle.read():
                leaked.append(f"{file.id} ({file.filename})")
    return leaked


def _engine_download(setup: str, link: str) -> Request:
    """A run whose code plants a link and whose answer links it: the stored output files must
    not hold the host file's content."""

    async def request(ctx: CaseContext) -> Evidence:
        from engine.schemas import AssistantCreate, CodeInterpreterTool, RunCreate, ThreadCreate

        evidence = Evidence(ctx.arena, ctx.level)
        code = PRELUDE + _template(setup, ctx.values)
        items = [{"code": code}, {"text": f"Here it is: [the file](sandbox:/mnt/data/{link})"}]
        async with ctx.engine(items) as engine:
            store = engine.store
            known = {f.id for f in store.list_files(purpose="assistants_output", limit=10000).data}
            assistant = store.create_assistant(
                AssistantCreate(model="scripted", tools=[CodeInterpreterTool()])
            )
            thread = store.create_thread(ThreadCreate())
            body = RunCreate.model_validate(
                {
                    "assistant_id": assistant.id,
                    "additional_messages": [{"role": "user", "content": "get me the file"}],
                }
            )
            handle = await engine.create_run(thread.id, body)
            run = await asyncio.wait_for(handle.wait(), 120)
            leaked = _output_files_with(store, ctx.arena.canary, known)
            steps = store.list_run_steps(thread.id, run.id, order="asc", limit=100).data
            logs = [
                o.logs
                for s in steps
                if s.type == "tool_calls"
                for c in s.step_details.tool_calls
                for o in c.code_interpreter.outputs
                if o.type == "logs"
            ]
        if leaked:
            evidence.host_breaches.append(f"the host file was stored as run output: {leaked}")
        evidence.host_output = f"run {run.status}; " + "\n".join(logs)
        return evidence

    return request


def _exec_out(code: str) -> Request:
    """`airlock exec --out DIR` on code that plants links: DIR must not receive host files."""

    def run(ctx: CaseContext) -> Evidence:
        evidence = Evidence(ctx.arena, ctx.level)
        with tempfile.TemporaryDirectory(prefix="airlock-security-out-") as folder:
            out = Path(folder) / "out"
            cell = Path(folder) / "cell.py"
            cell.write_text(PRELUDE + _template(code, ctx.values))
            command = [
                sys.executable,
                "-c",
                "from engine.cli import main; main()",
                "exec",
                "--isolation",
                str(ctx.level),
                "--timeout",
                "30",
                "--memory",
                "1024",
                "--out",
                str(out),
                str(cell),
            ]
            result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=_REPO)
            copied = []
            for path in sorted(out.rglob("*")) if out.exists() else []:
                if path.is_symlink():
                    evidence.host_breaches.append(f"--out made a link: {path.name}")
                elif path.is_file():
                    copied.append(f"{path.name}: {path.read_bytes()[:200]!r}")
            evidence.host_output = (
                f"exit {result.returncode}\n{result.stdout[-2000:]}\n"
                f"{result.stderr[-1000:]}\ncopied: {copied}"
            )
            if result.returncode == 2:
                evidence.host_breaches.append(f"airlock exec refused: {result.stderr[-300:]}")
        return evidence

    async def request(ctx: CaseContext) -> Evidence:
        return await asyncio.to_thread(run, ctx)

    return request


async def _name_in_time(
    staging: Any, filename: str, file_id: str, seconds: float = 5.0
) -> str | None:
    """The name staging would pick, found in a forked child first: a name the engine loops on
    forever must not hang the runner. None when it did not finish in time."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.write(write, staging._free_name(filename, file_id).encode(errors="replace"))
        finally:
            os._exit(0)
    os.close(write)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:  # noqa: ASYNC222 - WNOHANG: never blocks
                return os.read(read, 65536).decode(errors="replace")
            await asyncio.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)  # noqa: ASYNC222 - just SIGKILLed: reaped at once
        return None
    finally:
        os.close(read)


def _upload(filename: str) -> Request:
    """An upload with a hostile name, stored and then staged into the session as the engine
    does: it must be refused or land inside /mnt/data, and nothing may be written elsewhere."""

    async def request(ctx: CaseContext) -> Evidence:
        from engine.core.sessions import ThreadSession
        from engine.store import StoreError

        evidence = Evidence(ctx.arena, ctx.level)
        assert ctx.session is not None
        async with ctx.engine([]) as engine:
            store = engine.store
            files_dir = store.data_dir / "files"
            before = {p.name for p in store.data_dir.rglob("*")}
            try:
                file = store.create_file(
                    io.BytesIO(b"uploaded,data\n"), _template(filename, ctx.values), "assistants"
                )
            except StoreError as exc:
                evidence.host_output = f"refused by the store: {exc}"
                return evidence
            after = {p.relative_to(store.data_dir).as_posix() for p in store.data_dir.rglob("*")}
            strays = [
                p
                for p in after
                if p.split("/")[-1] not in before
                and not p.startswith("files/")
                and not p.startswith("airlock.db")
            ]
            if strays:
                evidence.host_breaches.append(f"the upload wrote outside files/: {strays}")
            if "/" in file.filename or file.filename in ("", ".", ".."):
                evidence.host_breaches.append(f"stored with an unsafe name {file.filename!r}")
            if not (files_dir / file.id).is_file():
                evidence.host_breaches.append("the content is not under files/")
            staging = ThreadSession("thread_attack", ctx.session)
            if await _name_in_time(staging, file.filename, file.id) is None:
                store.delete_file(file.id)
                evidence.host_breaches.append(
                    "staging never ends: ThreadSession._free_name loops on this name (the "
                    "engine's event loop would hang)"
                )
                return evidence
            try:
                staged = staging.stage(store, [file.id])
            except (WorkspaceError, OSError) as exc:
                evidence.host_output = f"stored as {file.filename!r}; staging refused: {exc}"
                if not isinstance(exc, WorkspaceError):
                    evidence.host_breaches.append(
                        f"staging raised {type(exc).__name__}, not a WorkspaceError: {exc}"
                    )
                return evidence
            finally:
                store.delete_file(file.id)
            for item in staged:
                inside = item.path.startswith("/mnt/data/") and "/" not in item.path[10:]
                if not inside:
                    evidence.host_breaches.append(f"staged at {item.path!r}")
                try:
                    content = ctx.session.read_file(item.path)
                except WorkspaceError as exc:
                    evidence.host_breaches.append(f"staged file unreadable: {exc}")
                    continue
                if content != b"uploaded,data\n":
                    evidence.host_breaches.append("the staged file's content differs")
            evidence.host_output = (
                f"stored as {file.filename!r}, staged at {[s.path for s in staged]}"
            )
        return evidence

    return request
