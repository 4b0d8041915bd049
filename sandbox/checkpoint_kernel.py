"""Runs INSIDE the sandboxed kernel (its source is sent there; it never runs on the host).

Saves the user's namespace into numbered chunk files in a folder of /mnt/data, and loads it
back, each printing one JSON report on a line after a marker for the host to find:

- ``save(folder, max_bytes, chunk_bytes)``: every user variable pickled with cloudpickle (so
  functions and classes defined in cells travel by value), one record after another; modules
  are recorded by name and imported again on restore. A variable that cannot be pickled (open
  files, sockets, generators, threads) or that would take the checkpoint past ``max_bytes`` is
  left out and named, with the reason. Chunks keep each file under the sandbox's file-size limit.
- ``restore(folder, index)``: the records the host's index names, loaded one by one (a record
  that fails to load is named, the others are restored), then the chunk files are removed.

The host never unpickles anything: it only copies the chunk files and checks their digests.
Only the standard library and cloudpickle are used; nothing is left in the user's namespace.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import re
import shutil
import sys
import time
import types
from typing import Any

MARKER = "<<airlock-checkpoint>>"
#: IPython's own names, never the user's work.
_SYSTEM_NAMES = {"In", "Out", "get_ipython", "exit", "quit"}


class _OverCap(Exception):
    pass


class _ChunkWriter:
    """A write-only file over numbered chunk files, each at most ``chunk_bytes``; refuses a
    write that would take the total past ``max_bytes``."""

    def __init__(self, folder: str, chunk_bytes: int, max_bytes: int) -> None:
        self.folder, self.chunk_bytes, self.max_bytes = folder, chunk_bytes, max_bytes
        self.total = 0
        self._handle: Any = None
        self._index = -1

    def _path(self, index: int) -> str:
        return os.path.join(self.folder, f"part-{index:05d}")

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self.total + len(view) > self.max_bytes:
            raise _OverCap
        written = 0
        while written < len(view):
            index = self.total // self.chunk_bytes
            if index != self._index:
                self._open(index, self.total % self.chunk_bytes)
            room = self.chunk_bytes - self.total % self.chunk_bytes
            piece = view[written : written + room]
            self._handle.write(piece)
            written += len(piece)
            self.total += len(piece)
        return written

    def _open(self, index: int, offset: int) -> None:
        if self._handle is not None:
            self._handle.close()
        path = self._path(index)
        self._handle = open(path, "r+b" if os.path.exists(path) else "wb")  # noqa: SIM115
        self._handle.truncate(offset)
        self._handle.seek(offset)
        self._index = index

    def rewind(self, offset: int) -> None:
        """Drop everything written past ``offset`` (a record that failed half-way)."""
        self.total = offset
        index = offset // self.chunk_bytes
        self._open(index, offset % self.chunk_bytes)
        later = index + 1
        while os.path.exists(self._path(later)):
            os.unlink(self._path(later))
            later += 1

    def close(self) -> int:
        if self._handle is not None:
            self._handle.close()
            if self.total % self.chunk_bytes == 0 and self._index * self.chunk_bytes == self.total:
                os.unlink(self._path(self._index))  # an empty last chunk after a rewind
        return -(-self.total // self.chunk_bytes)


class _ChunkReader:
    """A seekable read-only file over the chunk files a `_ChunkWriter` wrote."""

    def __init__(self, folder: str, chunk_bytes: int) -> None:
        self.folder, self.chunk_bytes = folder, chunk_bytes
        self.position = 0
        self._handles: dict[int, Any] = {}

    def _handle(self, index: int) -> Any:
        if index not in self._handles:
            self._handles[index] = open(os.path.join(self.folder, f"part-{index:05d}"), "rb")  # noqa: SIM115
        return self._handles[index]

    def seek(self, position: int) -> None:
        self.position = position

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("a checkpoint record is read in bounded pieces")
        parts = []
        while size > 0:
            index, offset = divmod(self.position, self.chunk_bytes)
            try:
                handle = self._handle(index)
            except FileNotFoundError:
                break
            handle.seek(offset)
            piece = handle.read(min(size, self.chunk_bytes - offset))
            if not piece:
                break
            parts.append(piece)
            self.position += len(piece)
            size -= len(piece)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        # pickle protocol 5 never reads lines; a record that asks is not ours
        raise pickle.UnpicklingError("unexpected readline in a checkpoint record")

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


#: IPython's own names (`_`, `__`, `_i3`, `_5`, `_exit_code`), dunders and Airlock's helpers;
#: a user's own `_df` is the user's.
_NOT_USER = re.compile(r"_+|_i{1,3}|_i?\d+|_exit_code|__\w*__|_{1,2}airlock\w*")


def _user_names(shell: Any) -> list[str]:
    hidden = shell.user_ns_hidden
    return [
        name
        for name in list(shell.user_ns)
        if not _NOT_USER.fullmatch(name) and name not in hidden and name not in _SYSTEM_NAMES
    ]


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200]


def _fresh_folder(folder: str) -> None:
    """An empty folder at `folder`: whatever a cell left there goes, and a link is removed,
    never followed (the files it points to are not the checkpoint's)."""
    if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
        os.unlink(folder)
    elif os.path.isdir(folder):
        shutil.rmtree(folder)
    os.mkdir(folder, 0o700)


def save(folder: str, max_bytes: int, chunk_bytes: int, cap: str = "") -> None:
    """`cap`: what `max_bytes` is, in words (default: the checkpoint cap)."""
    import cloudpickle  # type: ignore[import-untyped]

    started = time.monotonic()
    shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - IPython's builtin
    _fresh_folder(folder)
    writer = _ChunkWriter(folder, chunk_bytes, max_bytes)
    variables: dict[str, dict[str, Any]] = {}
    modules: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in _user_names(shell):
        value = shell.user_ns[name]
        kind = type(value).__name__
        if isinstance(value, types.ModuleType):
            if sys.modules.get(value.__name__) is value:
                modules[name] = value.__name__
            else:
                skipped[name] = f"module {value.__name__} cannot be imported by name"
            continue
        start = writer.total
        try:
            cloudpickle.dump(value, writer, protocol=5)
        except _OverCap:
            writer.rewind(start)
            cap = cap or f"the checkpoint cap of {max_bytes / 2**20:.0f} MB"
            skipped[name] = f"{kind}: over {cap} (with the variables saved before it)"
            continue
        except RecursionError as error:
            writer.rewind(start)
            skipped[name] = f"{kind} cannot be saved ({_reason(error)})"
            continue
        except Exception as error:  # whatever pickling raises: the variable is named
            writer.rewind(start)
            skipped[name] = f"{kind} cannot be saved ({_reason(error)})"
            continue
        variables[name] = {"type": kind, "start": start, "end": writer.total}
    chunks = writer.close()
    print(
        MARKER
        + json.dumps(
            {
                "variables": variables,
                "modules": modules,
                "skipped": skipped,
                "bytes": writer.total,
                "chunks": chunks,
                "seconds": time.monotonic() - started,
            }
        )
    )


def restore(folder: str, index_json: str, chunk_bytes: int) -> None:
    started = time.monotonic()
    index = json.loads(index_json)
    shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - IPython's builtin
    loaded: dict[str, Any] = {}
    failed: dict[str, str] = {}
    reader = _ChunkReader(folder, chunk_bytes)
    try:
        for name, record in index.get("variables", {}).items():
            reader.seek(int(record["start"]))
            try:
                loaded[name] = pickle.load(reader)
            except Exception as error:  # a record that does not load is named, not fatal
                failed[name] = (
                    f"{record.get('type', 'value')} could not be loaded ({_reason(error)})"
                )
                continue
            if reader.position != int(record["end"]):
                loaded.pop(name)
                failed[name] = "its record in the checkpoint is damaged"
    finally:
        reader.close()
        # A namespace without variables (modules only, or nothing) was saved in no chunk.
        if os.path.isdir(folder):
            for part in os.listdir(folder):
                os.unlink(os.path.join(folder, part))
            os.rmdir(folder)
    for name, module in index.get("modules", {}).items():
        try:
            loaded[name] = importlib.import_module(module)
        except Exception as error:
            failed[name] = f"module {module} could not be imported ({_reason(error)})"
    shell.user_ns.update(loaded)
    print(
        MARKER
        + json.dumps(
            {
                "restored": sorted(loaded),
                "failed": failed,
                "seconds": time.monotonic() - started,
            }
        )
    )
