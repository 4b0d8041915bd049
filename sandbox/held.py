"""Disk space held by files the session unlinked but keeps open (or mapped).

A file written, unlinked and kept open holds its blocks while no directory names it: a walk of
the workspace never sees it. These are found through /proc (each process's open descriptors and
its maps of deleted files) and counted against the workspace quota; to give the space back they
are truncated through /proc (the holder keeps a valid, now empty, file), which as root works
for any process and otherwise for the session's processes, which run as our own uid.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class HeldFile:
    device: int
    inode: int
    allocated: int
    #: /proc paths that reach it: /proc/PID/fd/N or /proc/PID/map_files/RANGE.
    handles: list[str] = field(default_factory=list)


def _deleted_on(path: str, device: int) -> os.stat_result | None:
    """stat() through a /proc magic link: a regular file on `device` that no folder names."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 0 and info.st_dev == device:
        return info
    return None


def _handles(pid: int) -> Iterable[str]:
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            yield f"/proc/{pid}/fd/{fd}"
    data = b""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/maps", "rb") as maps:
        data = maps.read()
    if b" (deleted)" not in data:  # the usual case: no line to look at
        return
    for line in data.splitlines():
        if line.endswith(b" (deleted)"):
            yield f"/proc/{pid}/map_files/{line.split(b' ', 1)[0].decode()}"


def unlinked_files(pids: Iterable[int], device: int) -> list[HeldFile]:
    """Files on `device` that the processes `pids` hold open or mapped with no name left."""
    found: dict[tuple[int, int], HeldFile] = {}
    for pid in pids:
        for handle in _handles(pid):
            info = _deleted_on(handle, device)
            if info is None:
                continue
            key = (info.st_dev, info.st_ino)
            held = found.setdefault(key, HeldFile(info.st_dev, info.st_ino, info.st_blocks * 512))
            held.handles.append(handle)
    return sorted(found.values(), key=lambda h: h.allocated, reverse=True)


def truncate(held: HeldFile) -> bool:
    """Give the file's space back: open it through one of its handles and truncate it,
    after checking that the handle still reaches the same deleted file."""
    for handle in held.handles:
        try:
            fd = os.open(handle, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if (
                (info.st_dev, info.st_ino) == (held.device, held.inode)
                and info.st_nlink == 0
                and stat.S_ISREG(info.st_mode)
            ):
                os.ftruncate(fd, 0)
                return True
        except OSError:
            continue
        finally:
            os.close(fd)
    return False
