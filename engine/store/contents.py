"""File contents on disk, beside the database: `files/<file id>`, written atomically.

A content file is complete before its row exists: bytes go to `files/.partial/`, are fsync'd,
renamed into place and the folder fsync'd; only then does the caller commit the row. A crash
before the commit leaves a partial or an orphan, never a row without its bytes; `sweep` removes
both when no other process has the store open.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .errors import FileTooLargeError

CHUNK_BYTES = 1 << 20


@runtime_checkable
class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


Source = Readable | Iterable[bytes] | bytes


def _chunks(source: Source) -> Iterable[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
    elif isinstance(source, Readable):
        while chunk := source.read(CHUNK_BYTES):
            yield chunk
    else:
        yield from source


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentDir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial = root / ".partial"
        self.partial.mkdir(parents=True, exist_ok=True)

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def write(self, file_id: str, source: Source, limit: int) -> int:
        """Stream `source` to `files/<file_id>` in chunks; the size written. Over `limit`, or on
        any error, the partial file is removed and nothing is left."""
        fd, tmp_name = tempfile.mkstemp(dir=self.partial, prefix=f"{file_id}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in _chunks(source):
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLargeError(limit)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path(file_id))
            _fsync_dir(self.root)
            return size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, file_id: str) -> BinaryIO:
        return open(self.path(file_id), "rb")

    def remove(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)

    def sweep(self, known_ids: set[str]) -> list[str]:
        """Remove partial uploads and contents without a row; the names removed."""
        removed: list[str] = []
        for entry in self.partial.iterdir():
            entry.unlink(missing_ok=True)
            removed.append(f".partial/{entry.name}")
        for entry in self.root.iterdir():
            if entry.is_file() and entry.name not in known_ids:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                removed.append(entry.name)
        return removed
