"""The session's workspace: the folder the code sees as /mnt/data.

Changes are found by comparing snapshots (size, mtime, inode) taken before and after a cell,
never by guessing from the code.
"""

from __future__ import annotations

import os
import shutil
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .results import FileChange

MOUNT_POINT = PurePosixPath("/mnt/data")


class WorkspaceError(ValueError):
    """A file name or path that cannot be used in the workspace."""


@dataclass(frozen=True)
class _Stat:
    size: int
    mtime_ns: int
    inode: int


Snapshot = dict[str, _Stat]


def safe_relative_path(name: str) -> PurePosixPath:
    """Turn a user-supplied name into a path that stays inside the workspace.

    Accepts names relative to the workspace or absolute under /mnt/data; refuses traversal,
    empty or control-character names.
    """
    name = unicodedata.normalize("NFC", name)
    if not name or "\x00" in name or any(ord(ch) < 32 for ch in name):
        raise WorkspaceError(f"invalid file name: {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute():
        try:
            path = path.relative_to(MOUNT_POINT)
        except ValueError:
            raise WorkspaceError(f"path outside {MOUNT_POINT}: {name!r}") from None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise WorkspaceError(f"path escapes the workspace: {name!r}")
    return PurePosixPath(*parts)


class Workspace:
    """A host folder shown to the kernel as /mnt/data."""

    def __init__(self, root: Path, *, owner_uid: int | None = None) -> None:
        self.root = root
        self.owner_uid = owner_uid
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self._chown(root)
        self._last: Snapshot = self.snapshot()

    def _chown(self, path: Path) -> None:
        if self.owner_uid is not None and os.geteuid() == 0:
            os.chown(path, self.owner_uid, self.owner_uid, follow_symlinks=False)

    def host_path(self, name: str) -> Path:
        """The host path of a workspace file, checked not to leave the workspace."""
        relative = safe_relative_path(name)
        path = self.root.joinpath(*relative.parts)
        # Resolve the parent only: a symlink the code planted must not redirect a host write.
        parent = path.parent.resolve()
        if not parent.is_relative_to(self.root.resolve()):
            raise WorkspaceError(f"path escapes the workspace: {name!r}")
        return parent / path.name

    def sandbox_path(self, host_path: Path) -> str:
        return str(MOUNT_POINT / host_path.relative_to(self.root).as_posix())

    def put(self, name: str, content: bytes | Path) -> str:
        """Put a file into the workspace; returns its /mnt/data path."""
        target = self.host_path(name)
        for parent in reversed(target.relative_to(self.root).parents):
            directory = self.root / parent
            if not directory.exists():
                directory.mkdir()
                self._chown(directory)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise WorkspaceError(f"not a regular file: {name!r}")
        temporary = target.with_name(f".{target.name}.airlock-upload")
        if isinstance(content, Path):
            shutil.copyfile(content, temporary)
        else:
            temporary.write_bytes(content)
        self._chown(temporary)
        temporary.replace(target)
        self._last = self.snapshot()
        return self.sandbox_path(target)

    def read(self, name: str, *, max_bytes: int | None = None) -> bytes:
        """Read a regular workspace file, refusing symlinks that could point at host files."""
        path = self.host_path(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise WorkspaceError(f"cannot read {name!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise WorkspaceError(f"not a regular file: {name!r}")
            return handle.read() if max_bytes is None else handle.read(max_bytes)

    def snapshot(self) -> Snapshot:
        """Every regular file in the workspace, without following symlinks."""
        found: Snapshot = {}
        stack = [self.root]
        while stack:
            directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        found[entry.path] = _Stat(info.st_size, info.st_mtime_ns, info.st_ino)
                except OSError:
                    continue
        return found

    def usage(self) -> tuple[int, int]:
        """Total bytes and number of files."""
        snap = self.snapshot()
        return sum(s.size for s in snap.values()), len(snap)

    def changes(self) -> list[FileChange]:
        """Files created or modified since the last call (or the last host-side put)."""
        before, after = self._last, self.snapshot()
        self._last = after
        changed: list[FileChange] = []
        for path, now in sorted(after.items()):
            old = before.get(path)
            if old == now:
                continue
            host = Path(path)
            changed.append(
                FileChange(
                    path=self.sandbox_path(host),
                    host_path=host,
                    size=now.size,
                    status="created" if old is None or old.inode != now.inode else "modified",
                )
            )
        return changed

    def trim_to(self, max_bytes: int, max_files: int, candidates: list[FileChange]) -> list[str]:
        """Remove files a cell created, largest first, until the workspace fits its caps again.

        Only the cell's own new files are candidates: files the user put in are never removed.
        """
        total, count = self.usage()
        removed: list[str] = []
        for change in sorted(candidates, key=lambda c: c.size, reverse=True):
            if total <= max_bytes and count <= max_files:
                break
            if change.status != "created":
                continue
            try:
                change.host_path.unlink()
            except OSError:
                continue
            total -= change.size
            count -= 1
            removed.append(change.path)
        self._last = self.snapshot()
        return removed

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
