"""What isolation this machine allows, found by trying it, and the level a session gets."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups, seccomp
from .identity import UID_BASE, UID_COUNT
from .isolation import LaunchPlan, PythonInfo, python_info
from .limits import IsolationLevel, SandboxConfig

#: Used only to try the sandbox out; never given to a session.
_PROBE_UID = UID_BASE + UID_COUNT


class IsolationUnavailable(RuntimeError):
    """The configured (or minimum) isolation level cannot be had on this machine."""


@dataclass(frozen=True)
class LevelCheck:
    level: IsolationLevel
    available: bool
    detail: str


@dataclass(frozen=True)
class IsolationReport:
    """The outcome of probing: every level, the best one, and the extra layers."""

    checks: tuple[LevelCheck, ...]
    cgroups: str | None  # why cgroups are unusable, None when they work
    runs_as: str
    python: PythonInfo
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def best(self) -> IsolationLevel:
        return next(c.level for c in self.checks if c.available)

    def check(self, level: IsolationLevel) -> LevelCheck:
        return next(c for c in self.checks if c.level is level)


def _try(level: IsolationLevel, python: PythonInfo, uid: int) -> tuple[bool, str]:
    """Start the real launcher at `level`, running a check in place of the kernel."""
    with tempfile.TemporaryDirectory(prefix="airlock-probe-") as scratch:
        root = Path(scratch)
        run_dir, workspace = root / "run", root / "data"
        run_dir.mkdir(mode=0o711)
        workspace.mkdir(mode=0o700)
        root.chmod(0o711)
        if os.geteuid() == 0:
            os.chown(workspace, uid, uid)
        check = "import os, sys; sys.exit(1 if os.getuid() == 0 and os.geteuid() == 0 else 0)"
        if level is not IsolationLevel.NONE:
            check += "; open('/mnt/data/probe', 'w').close()"
        plan = LaunchPlan(
            level=level,
            python=python,
            run_dir=run_dir,
            workspace=workspace,
            argv=[str(python.executable), "-c", check],
            env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
            rlimits={},
            uid=uid,
            gid=uid,
            tmp_bytes=16 * 1024 * 1024,
        )
        plan.write()
        try:
            # Its own session: a Ctrl-C at the terminal must not reach the probe (it would
            # hang, then be cached as "level unavailable" and weaken every later session).
            result = subprocess.run(
                plan.command(),
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": "/usr/bin:/bin"},
                cwd="/",
                start_new_session=True,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        return False, lines[-1] if lines else f"exit status {result.returncode}"
    return True, ""


_WHAT_EACH_LEVEL_HOLDS = {
    IsolationLevel.BUBBLEWRAP: "no network, read-only system, private /tmp and pids, home "
    "folders and other sessions hidden",
    IsolationLevel.NAMESPACES: "no network, private pids and IPC, home folders hidden; the rest "
    "of the host file system stays readable",
    IsolationLevel.NONE: "resource limits and a scrubbed environment only: the code can reach "
    "the network and read whatever the sandbox user can read",
}
_MISSING_TOOL = {
    IsolationLevel.BUBBLEWRAP: ("bwrap", "install the Debian/Ubuntu package 'bubblewrap'"),
    IsolationLevel.NAMESPACES: ("unshare", "install util-linux"),
}


@functools.cache
def probe(python_executable: Path | None = None) -> IsolationReport:
    python = python_info(python_executable)
    as_root = os.geteuid() == 0
    uid = _PROBE_UID if as_root else os.getuid()
    runs_as = (
        f"a dedicated unprivileged uid per session (from {UID_BASE})"
        if as_root
        else f"uid {os.getuid()} (Airlock's own user)"
    )
    checks: list[LevelCheck] = []
    for level in IsolationLevel:
        tool = _MISSING_TOOL.get(level)
        if tool is not None and shutil.which(tool[0]) is None:
            checks.append(LevelCheck(level, False, f"{tool[0]} not found: {tool[1]}"))
            continue
        ok, why = _try(level, python, uid)
        checks.append(LevelCheck(level, ok, _WHAT_EACH_LEVEL_HOLDS[level] if ok else why))
    notes: list[str] = []
    if seccomp.unavailable():
        notes.append(
            f"no seccomp filter (ptrace, namespaces, keyrings, io_uring... stay "
            f"allowed): {seccomp.unavailable()}"
        )
    if not python.has_ipykernel:
        notes.append(
            f"{python.executable} has no ipykernel: install it there (pip install ipykernel)"
        )
    return IsolationReport(tuple(checks), cgroups.available(), runs_as, python, tuple(notes))


def choose_level(config: SandboxConfig) -> IsolationLevel:
    """The level a session runs at: the configured one, or the best available."""
    report = probe(config.python)
    if config.isolation is not None:
        check = report.check(config.isolation)
        if not check.available:
            raise IsolationUnavailable(
                f"isolation level {config.isolation} is not available: {check.detail}"
            )
        level = config.isolation
    else:
        available = [c.level for c in report.checks if c.available]
        if not available:
            details = "; ".join(f"{c.level}: {c.detail}" for c in report.checks)
            raise IsolationUnavailable(f"no kernel can be started here: {details}")
        level = available[0]
    if level.rank > config.minimum_isolation.rank:
        raise IsolationUnavailable(
            f"isolation level {level} is below the required {config.minimum_isolation}: "
            f"{report.check(config.minimum_isolation).detail}"
        )
    return level
