"""The catalogue's model: the AttackCase type, its categories, the Evidence a case is judged on
and the checks that judge it, and the helpers the attack code shares (the prelude, templates)."""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import AsyncSession, Execution, IsolationLevel, Limits

from ..arena import Arena


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
_REPO = Path(__file__).resolve().parents[4]
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
PRELUDE = """\
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
"""


def _not_root_none(level: IsolationLevel) -> str | None:
    """Signals to everything the kernel's uid may reach would hit the test run itself when
    Airlock is not root (level none runs kernels as Airlock's own uid)."""
    if level is IsolationLevel.NONE and os.geteuid() != 0:
        return "not run: at level none without root the kernel shares Airlock's uid (breach)"
    return None


def _read(label: str, path: str) -> str:
    return f"attempt({label!r}, lambda: open({path!r}, 'rb').read()[:400])\n"


def _template(code: str, values: dict[str, str]) -> str:
    from string import Template

    return Template(code).substitute(values)


SI, FS, NET, DO, RES, CI = (
    Category.SENSITIVE,
    Category.FILESYSTEM,
    Category.NETWORK,
    Category.DANGEROUS,
    Category.RESOURCES,
    Category.INTERPRETER,
)

#: Raw syscalls (x86-64 numbers) through the prelude's `sys_call`.
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
