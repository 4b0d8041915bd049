"""The session's workspace: the folder the code sees as /mnt/data.

Changes are found by comparing snapshots (size, mtime, inode) taken before and after a cell,
never by guessing from the code.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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
    size: int  # -1 for anything but a regular file
    mtime_ns: int
    inode: int
    allocated: int


Snapshot = dict[str, _Stat]


def safe_relative_path(name: str, *, normalize: bool = True) -> PurePosixPath:
    """Turn a user-supplied name into a path that stays inside the workspace.

    Accepts names relative to the workspace or absolute under /mnt/data; refuses traversal,
    empty or control-character names. New names are NFC-normalised; `normalize=False` keeps a
    name as given, to reach a file the code created under another normalisation.
    """
    if normalize:
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


_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1024 * 1024


class Workspace:
    """A host folder shown to the kernel as /mnt/data.

    The kernel owns everything inside and may swap any folder for a symlink at any moment, so
    every host-side operation walks the path one component at a time with directory fds and
    O_NOFOLLOW: a planted link is refused, never followed by the (possibly root) host.
    """

    def __init__(self, root: Path, *, owner_uid: int | None = None) -> None:
        self.root = root
        self.owner_uid = owner_uid
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        if owner_uid is not None and os.geteuid() == 0:
            os.chown(root, owner_uid, owner_uid)
        #: True when the last walk met a folder it could not read (its contents are unknown).
        self.unreadable = False
        self._last: Snapshot = self.snapshot()

    # -- safe access ---------------------------------------------------------------------
    def _open_parent(self, relative: PurePosixPath, *, create: bool = False) -> int:
        """A directory fd for the parent of `relative`, reached without following links."""
        fd = os.open(self.root, _NOFOLLOW_DIR)
        try:
            for part in relative.parts[:-1]:
                try:
                    child = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o700, dir_fd=fd)
                    if self.owner_uid is not None and os.geteuid() == 0:
                        os.chown(
                            part, self.owner_uid, self.owner_uid, dir_fd=fd, follow_symlinks=False
                        )
                    child = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
                os.close(fd)
                fd = child
        except OSError as exc:
            os.close(fd)
            raise WorkspaceError(f"cannot reach {relative}: {exc.strerror}") from None
        return fd

    @staticmethod
    def _spellings(name: str) -> list[PurePosixPath]:
        """The name as given, then NFC- and NFD-normalised: files the code made keep their own
        bytes (NFD from macOS tools, say), while names typed by people are usually NFC."""
        spellings = [safe_relative_path(name, normalize=False)]
        for form in ("NFC", "NFD"):
            other = safe_relative_path(unicodedata.normalize(form, name), normalize=False)
            if other not in spellings:
                spellings.append(other)
        return spellings

    def _open_file(self, name: str) -> tuple[int, int]:
        """(parent fd, file fd) of an existing regular file, refusing links and specials."""
        _relative, parent, fd = self._find(name)
        return parent, fd

    def _find(self, name: str) -> tuple[PurePosixPath, int, int]:
        """The spelling that exists, with its parent's fd and its own fd."""
        spellings = self._spellings(name)
        for index, relative in enumerate(spellings):
            last = index == len(spellings) - 1
            try:
                parent = self._open_parent(relative)
            except WorkspaceError:
                if last:
                    raise
                continue
            try:
                fd = os.open(
                    relative.name,
                    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                    dir_fd=parent,
                )
            except OSError as exc:
                os.close(parent)
                if last or not isinstance(exc, FileNotFoundError):
                    raise WorkspaceError(f"cannot read {name!r}: {exc.strerror}") from None
                continue
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                os.close(parent)
                raise WorkspaceError(f"not a regular file: {name!r}")
            return relative, parent, fd
        raise WorkspaceError(f"cannot read {name!r}")

    def host_path(self, name: str) -> Path:
        """Where a workspace file is on the host (for display; open it through this class)."""
        return self.root.joinpath(*safe_relative_path(name).parts)

    def sandbox_path(self, host_path: Path) -> str:
        return str(MOUNT_POINT / host_path.relative_to(self.root).as_posix())

    def put(self, name: str, content: bytes | Path) -> str:
        """Put a file into the workspace; returns its /mnt/data path."""
        relative = safe_relative_path(name)
        parent = self._open_parent(relative, create=True)
        try:
            with contextlib.suppress(FileNotFoundError):
                existing = os.stat(relative.name, dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISREG(existing.st_mode):
                    raise WorkspaceError(f"not a regular file: {name!r}")
            temporary = f".airlock-upload-{secrets.token_hex(8)}"
            fd = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=parent,
            )
            with os.fdopen(fd, "wb") as handle:
                if isinstance(content, Path):
                    with content.open("rb") as source:
                        shutil.copyfileobj(source, handle, _CHUNK)
                else:
                    handle.write(content)
                if self.owner_uid is not None and os.geteuid() == 0:
                    os.fchown(handle.fileno(), self.owner_uid, self.owner_uid)
            os.replace(temporary, relative.name, src_dir_fd=parent, dst_dir_fd=parent)
        finally:
            os.close(parent)
        self._last = self.snapshot()
        return str(MOUNT_POINT / relative)

    def read(self, name: str, *, max_bytes: int | None = None) -> bytes:
        """Read a regular workspace file."""
        parent, fd = self._open_file(name)
        os.close(parent)
        with os.fdopen(fd, "rb") as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes)

    def copy_out(self, name: str, target: Path) -> None:
        """Copy a workspace file to a host path, streaming."""
        parent, fd = self._open_file(name)
        os.close(parent)
        with os.fdopen(fd, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)

    def copy_out_under(self, name: str, folder: Path) -> Path:
        """Copy a workspace file to the same relative path under a host folder, at any depth:
        the folders are created and entered one by one through directory fds (a path longer
        than PATH_MAX is fine), never following a link found there. Returns the target's path
        (for display); OSError when the host side cannot take it."""
        relative, parent, fd = self._find(name)
        os.close(parent)
        with os.fdopen(fd, "rb") as source:
            folder.mkdir(parents=True, exist_ok=True)
            out = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for part in relative.parts[:-1]:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=out)
                    child = os.open(part, _NOFOLLOW_DIR, dir_fd=out)
                    os.close(out)
                    out = child
                sink = os.open(
                    relative.name,
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,
                    dir_fd=out,
                )
            finally:
                os.close(out)
            with os.fdopen(sink, "wb") as handle:
                shutil.copyfileobj(source, handle, _CHUNK)
        return folder.joinpath(*relative.parts)

    def remove(self, name: str) -> bool:
        for relative in self._spellings(name):
            try:
                parent = self._open_parent(relative)
            except WorkspaceError:
                continue
            try:
                os.unlink(relative.name, dir_fd=parent)
                return True
            except OSError:
                continue
            finally:
                os.close(parent)
        return False

    # -- accounting ----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every entry of the workspace, walked through directory fds (no path-length limit,
        no link followed). Folders and links are entries too: they count against the caps."""
        found: Snapshot = {}
        self.unreadable = False

        def unreadable(_error: OSError) -> None:
            self.unreadable = True

        for directory, folders, files, dir_fd in os.fwalk(self.root, onerror=unreadable):
            for entry in (*folders, *files):
                try:
                    info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                found[f"{directory}/{entry}"] = _Stat(
                    info.st_size if stat.S_ISREG(info.st_mode) else -1,
                    info.st_mtime_ns,
                    info.st_ino,
                    info.st_blocks * 512,
                )
        return found

    def usage(self, *, fresh: bool = True) -> tuple[int, int]:
        """Bytes allocated and number of entries; `fresh=False` reuses the last walk (taken by
        `changes()` a moment before) instead of walking the workspace again."""
        snap = self.snapshot() if fresh else self._last
        return sum(s.allocated for s in snap.values()), len(snap)

    def changes(self) -> list[FileChange]:
        """Regular files created or modified since the last call (or the last host-side put)."""
        before, after = self._last, self.snapshot()
        self._last = after
        changed: list[FileChange] = []
        for path, now in sorted(after.items()):
            old = before.get(path)
            if now.size < 0 or old == now or Path(path).name.startswith(".airlock-upload-"):
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
            if change.status == "created" and self.remove(change.path):
                total -= change.size
                count -= 1
                removed.append(change.path)
        self._last = self.snapshot()
        return removed
