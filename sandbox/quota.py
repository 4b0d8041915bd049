"""The workspace quota: what counts against it and how it is enforced.

Counted: everything the workspace holds (walked with directory fds), what the run folder holds
(the home folder at level none lives there), and files the session unlinked but still holds
open or mapped (sandbox/held.py), which no walk sees. Enforced while a cell runs (the session
interrupts it), after it (its own new files removed, largest first) and between cells (for
background processes); unlinked files still held are truncated first: nothing names them.
"""

from __future__ import annotations

import contextlib
import os

from . import held
from .kernel import KernelProcess
from .limits import Limits, MiB
from .results import CellError, Execution, FileChange
from .workspace import Workspace


class Quota:
    def __init__(self, limits: Limits, workspace: Workspace, kernel: KernelProcess) -> None:
        self.limits = limits
        self.workspace = workspace
        self.kernel = kernel
        self._device = os.stat(workspace.root).st_dev

    @property
    def max_bytes(self) -> int:
        return self.limits.max_workspace_mb * MiB

    def held(self) -> list[held.HeldFile]:
        return held.unlinked_files(self.kernel.session_pids(), self._device)

    def _run_dir_bytes(self) -> int:
        size = 0
        for _folder, _dirs, files, dir_fd in os.fwalk(self.kernel.run_dir):
            for name in files:
                with contextlib.suppress(OSError):
                    size += os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_blocks * 512
        return size

    def usage(self, *, fresh: bool = True) -> tuple[int, int]:
        """Bytes and entries charged to the session; `fresh=False` reuses the workspace's last
        walk (taken by `changes()` a moment before)."""
        size, count = self.workspace.usage(fresh=fresh)
        size += self._run_dir_bytes() + sum(h.allocated for h in self.held())
        return size, count

    def over(self, *, fresh: bool = True) -> bool:
        size, count = self.usage(fresh=fresh)
        return (
            self.workspace.unreadable
            or size > self.max_bytes
            or count > self.limits.max_workspace_files
        )

    def error(self, execution: Execution) -> None:
        limits = self.limits
        message = (
            f"the workspace limit ({limits.max_workspace_mb} MB, "
            f"{limits.max_workspace_files} files) was exceeded and the cell was stopped"
        )
        execution.error = CellError("WorkspaceFull", message, f"WorkspaceFull: {message}")

    def trim(self, candidates: list[FileChange]) -> tuple[int, list[str]]:
        """Back under the caps: truncate unlinked files still held, largest first, then remove
        files of `candidates` the cell created. Returns (files truncated, paths removed)."""
        truncated = 0
        size, _count = self.usage()
        for file in self.held():
            if size <= self.max_bytes:
                break
            if held.truncate(file):
                size -= file.allocated
                truncated += 1
        removed = self.workspace.trim_to(
            self.max_bytes - (size - self.workspace.usage()[0]),
            self.limits.max_workspace_files,
            candidates,
        )
        return truncated, removed

    def after_cell(self, execution: Execution, changes: list[FileChange]) -> list[FileChange]:
        """Enforce the caps after a cell; returns its changes less the files removed."""
        if not self.over(fresh=False):  # changes() has just walked the workspace
            return changes
        truncated, execution.removed_files = self.trim(changes)
        if truncated:
            execution.notices.append(
                f"[airlock] workspace limit exceeded: {truncated} unlinked file(s) still held "
                "open were truncated"
            )
        if execution.removed_files:
            execution.notices.append(
                f"[airlock] workspace limit exceeded: removed {len(execution.removed_files)}"
                f" file(s) this cell created: {_named(execution.removed_files)}"
            )
            removed = set(execution.removed_files)
            changes = [c for c in changes if c.path not in removed]
        if execution.error is None:
            self.error(execution)
        return changes

    def enforce_while_idle(self) -> str:
        """Between cells, for background processes: kill them, then trim; says what was done."""
        killed = self.kernel.kill_strays()
        truncated, removed = self.trim(self.workspace.changes())
        return (
            f"[airlock] between cells the workspace limit was exceeded: {killed} background "
            f"process(es) killed, {len(removed)} file(s) they created removed"
            f"{': ' + _named(removed) if removed else ''}, {truncated} "
            "unlinked file(s) still held open truncated"
        )


def _named(paths: list[str], shown: int = 5) -> str:
    """The first `shown` paths, and how many more: the model and the user learn what is gone."""
    names = ", ".join(paths[:shown])
    return names + (f" and {len(paths) - shown} more" if len(paths) > shown else "")
