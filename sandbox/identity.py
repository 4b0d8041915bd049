"""Which user a kernel runs as.

The kernel never runs as root. When Airlock itself runs as root, each session gets a dedicated
unprivileged uid, reserved with a lock file for as long as the session lives: per-uid limits
(RLIMIT_NPROC) then count one session's processes only, sessions cannot signal or read each
other, and every process a session left behind can be found by its uid and killed. Run as an
ordinary user, Airlock runs kernels as that user.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .cgroups import remove_stale as remove_stale_cgroup

#: Far above any login or system uid, and outside the usual subuid ranges.
UID_BASE = 1_870_000_000
UID_COUNT = 4096
_LOCK_DIR = Path("/run/airlock/uids")


@dataclass
class SandboxUser:
    uid: int
    gid: int
    #: True when the uid belongs to this session alone.
    dedicated: bool
    _lock: int | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def kill_processes_of(uid: int) -> int:
    """SIGKILL every process owned by a dedicated uid; returns how many were found."""
    killed = 0
    for process in psutil.process_iter(["uids"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if process.info["uids"] and process.info["uids"].real == uid:
                os.kill(process.pid, signal.SIGKILL)
                killed += 1
    return killed


def _lock_file(uid: int) -> int:
    _LOCK_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(_LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def end_orphans() -> dict[int, int]:
    """End every process that runs as a dedicated uid no live session holds.

    A session's host holds its uid's lock for as long as the session lives; a host that died
    (SIGKILL, say) released it with its death. Whatever still runs as such a uid belongs to no
    session: no workspace, no cgroup, nobody to end it. Each uid is locked while its processes
    are killed (and its stale cgroup removed), so that no new session takes it meanwhile; uids
    whose lock is held are left alone. Returns {uid: processes killed}. Root only.
    """
    if os.geteuid() != 0:
        return {}
    uids: set[int] = set()
    for process in psutil.process_iter(["uids"]):
        ids = process.info["uids"]
        if ids and UID_BASE <= ids.real < UID_BASE + UID_COUNT:
            uids.add(ids.real)
    ended: dict[int, int] = {}
    for uid in sorted(uids):
        fd = _lock_file(uid)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            ended[uid] = kill_processes_of(uid)
            remove_stale_cgroup(f"u{uid}")
        finally:
            os.close(fd)
    return ended


def acquire_user(*, start: int | None = None) -> SandboxUser:
    """Reserve a uid for a new session (a dedicated one when running as root)."""
    if os.geteuid() != 0:
        return SandboxUser(os.getuid(), os.getgid(), dedicated=False)
    offset = (start if start is not None else os.getpid()) % UID_COUNT
    for step in range(UID_COUNT):
        uid = UID_BASE + (offset + step) % UID_COUNT
        fd = _lock_file(uid)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        # Whatever still runs under this uid was left by a host process that died: end it.
        kill_processes_of(uid)
        return SandboxUser(uid, uid, dedicated=True, _lock=fd)
    raise RuntimeError(f"all {UID_COUNT} sandbox uids are in use")
