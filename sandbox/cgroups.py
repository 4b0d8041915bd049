"""A memory and process cap for everything a session starts, through Linux control groups.

rlimits apply per process (RLIMIT_AS) or per uid (RLIMIT_NPROC); a cgroup caps the whole tree:
a kernel that forks ten children each filling memory is still held to one budget. Needs root
(cgroup v1, or v2 with write access to a delegated subtree); without it Airlock relies on
rlimits alone and `airlock doctor` says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")


def _v2_root() -> Path | None:
    if (_ROOT / "cgroup.controllers").exists():
        return _ROOT
    return None


def _v1_roots() -> tuple[Path, Path] | None:
    memory, pids = _ROOT / "memory", _ROOT / "pids"
    if (memory / "memory.limit_in_bytes").exists() and (pids / "cgroup.procs").exists():
        return memory, pids
    return None


def available() -> str | None:
    """Why cgroups cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "not root: cgroup limits need root (or a delegated cgroup v2 subtree)"
    v2 = _v2_root()
    if v2 is not None:
        controllers = (v2 / "cgroup.controllers").read_text().split()
        if not {"memory", "pids"} <= set(controllers):
            return "cgroup v2 lacks the memory or pids controller"
        return None
    if _v1_roots() is None:
        return "no cgroup v1 memory+pids hierarchy and no cgroup v2"
    return None


class SessionCgroup:
    """One cgroup (one per hierarchy on v1) holding a session's processes."""

    def __init__(self, name: str, *, memory_bytes: int, max_tasks: int) -> None:
        self.memory_bytes = memory_bytes
        v2 = _v2_root()
        if v2 is not None:
            self._dirs = [self._make(v2 / "airlock", name, v2=True)]
        else:
            roots = _v1_roots()
            assert roots is not None
            self._dirs = [self._make(root / "airlock", name, v2=False) for root in roots]
        self.v2 = v2 is not None
        if self.v2:
            self._write("memory.max", str(memory_bytes))
            self._write("memory.swap.max", "0", optional=True)
            self._write("pids.max", str(max_tasks))
        else:
            self._write("memory.limit_in_bytes", str(memory_bytes))
            self._write("memory.memsw.limit_in_bytes", str(memory_bytes), optional=True)
            self._write("pids.max", str(max_tasks))
        self._oom_kills_seen = self.oom_kills()

    @staticmethod
    def _make(parent: Path, name: str, *, v2: bool) -> Path:
        if not parent.exists():
            parent.mkdir()
            if v2:
                with contextlib.suppress(OSError):
                    (parent.parent / "cgroup.subtree_control").write_text("+memory +pids")
        if v2:
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+memory +pids")
        path = parent / name
        if path.exists():  # left by a host process that died
            _kill_all(path)
            with contextlib.suppress(OSError):
                path.rmdir()
        path.mkdir(exist_ok=True)
        return path

    def _file(self, name: str) -> Path | None:
        for directory in self._dirs:
            if (directory / name).exists():
                return directory / name
        return None

    def _write(self, name: str, value: str, *, optional: bool = False) -> None:
        path = self._file(name)
        if path is None:
            if optional:
                return
            raise FileNotFoundError(name)
        try:
            path.write_text(value)
        except OSError:
            if not optional:
                raise

    def add(self, pid: int) -> None:
        """Move a process (all its threads) into the cgroup; children forked later follow."""
        for directory in self._dirs:
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                (directory / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self._dirs:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        path = self._file(name)
        if path is None:
            return 0
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def new_oom_kills(self) -> int:
        """OOM kills since the last call."""
        now = self.oom_kills()
        new, self._oom_kills_seen = now - self._oom_kills_seen, now
        return new

    def kill_all(self) -> None:
        for directory in self._dirs:
            _kill_all(directory)

    def remove(self) -> None:
        self.kill_all()
        for directory in self._dirs:
            with contextlib.suppress(OSError):
                directory.rmdir()


def remove_stale(name: str) -> None:
    """Empty and remove a session's cgroup left by a host process that died, if there is one."""
    if os.geteuid() != 0:
        return
    v2 = _v2_root()
    roots = [v2] if v2 is not None else list(_v1_roots() or ())
    for root in roots:
        path = root / "airlock" / name
        if path.is_dir():
            _kill_all(path)
            with contextlib.suppress(OSError):
                path.rmdir()


def _kill_all(directory: Path) -> None:
    # Processes may fork while we kill, and a killed one leaves the cgroup only once it is
    # reaped: repeat until the cgroup is empty (bounded, about a second at most).
    for _ in range(200):
        try:
            pids = [int(p) for p in (directory / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
