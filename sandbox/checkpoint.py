"""Checkpoints of a session: its kernel's namespace and its workspace's files, kept in a host
folder when the session ends and put back into a new session later.

The namespace is pickled inside the sandbox (`checkpoint_kernel`), into chunk files in the
workspace, which the host copies out, digests and removes; restoring copies them back in and
loads them there. The host never unpickles a checkpoint: it is untrusted input, written by code
the model wrote. A checkpoint whose chunks do not match their digests is refused before the
kernel sees it; a record that fails to load is named, the rest is restored.

    saved = await save_checkpoint(session, folder, max_bytes=1 << 30)
    ...
    restored = await restore_checkpoint(new_session, folder)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from .checkpoint_kernel import MARKER
from .checkpoint_manifest import (
    MANIFEST,
    CheckpointError,
    RestoredCheckpoint,
    SavedCheckpoint,
    read_manifest,
)
from .limits import MiB
from .session import AsyncSession
from .workspace import WorkspaceError

__all__ = [
    "FILES",
    "MANIFEST",
    "NAMESPACE",
    "CheckpointError",
    "RestoredCheckpoint",
    "SavedCheckpoint",
    "chunk_size",
    "read_manifest",
    "restore_checkpoint",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

#: Where the kernel writes the namespace, and where a restore puts it back, in /mnt/data.
SAVE_FOLDER = ".airlock-checkpoint"
RESTORE_FOLDER = ".airlock-restore"
#: Folders and files of a checkpoint on the host.
NAMESPACE = "namespace"
FILES = "files"
_SOURCE = resources.files(__package__).joinpath("checkpoint_kernel.py").read_text(encoding="utf-8")
_MODULE_NAME = "_airlock_checkpoint"


def _call(call: str) -> str:
    """A cell that loads the kernel-side module (once per kernel) and calls it as `m`."""
    return (
        "def __airlock_checkpoint():\n"
        "    import sys, types\n"
        f"    m = sys.modules.get({_MODULE_NAME!r})\n"
        "    if m is None:\n"
        f"        m = types.ModuleType({_MODULE_NAME!r})\n"
        f"        exec(compile({_SOURCE!r}, '<airlock-checkpoint>', 'exec'), m.__dict__)\n"
        f"        sys.modules[{_MODULE_NAME!r}] = m\n"
        f"    {call}\n"
        "try:\n"
        "    __airlock_checkpoint()\n"
        "finally:\n"
        "    del __airlock_checkpoint\n"
    )


async def _kernel_report(session: AsyncSession, call: str, timeout: float) -> dict[str, Any]:
    execution = await session.execute(_call(call), timeout=timeout)
    for line in execution.stdout.splitlines():
        if line.startswith(MARKER):
            try:
                report = json.loads(line[len(MARKER) :])
            except ValueError:
                break
            if isinstance(report, dict):
                return report
            break
    if execution.error is not None:
        raise CheckpointError(f"{execution.error.name}: {execution.error.value}"[:500])
    raise CheckpointError("the kernel gave no report")


def chunk_size(session: AsyncSession) -> int:
    """Chunks stay well under the largest file the sandbox lets code write."""
    return max(MiB, min(256 * MiB, session.config.limits.max_file_mb * MiB // 2))


async def save_checkpoint(
    session: AsyncSession,
    folder: Path,
    *,
    max_bytes: int,
    timeout: float = 300.0,
    extra: dict[str, Any] | None = None,
) -> SavedCheckpoint:
    """Save the session's namespace (at most `max_bytes` of it) and files into `folder`,
    replacing what was there only once the new checkpoint is complete. A namespace that
    cannot be saved (the kernel fails, runs out of time, lies) is recorded as such and the
    files are saved all the same: they are lost with the session otherwise, and the previous
    checkpoint would bring older ones back. OSError when the host could not write the
    checkpoint: the previous one is then kept."""
    started = time.monotonic()
    chunk_bytes = chunk_size(session)
    building = folder.with_name(folder.name + ".new")
    await asyncio.to_thread(_start_building, building)
    try:
        try:
            saved = await _save_namespace(session, building, max_bytes, chunk_bytes, timeout)
        except CheckpointError as exc:
            log.warning("checkpoint: the namespace was not saved: %s", exc)
            await asyncio.to_thread(_start_building, building)
            saved = SavedCheckpoint(chunk_bytes=chunk_bytes, namespace_error=str(exc))
        saved.extra = extra or {}
        saved.files, saved.files_bytes = await asyncio.to_thread(
            _copy_files, session, building / FILES
        )
        saved.seconds = time.monotonic() - started
        await asyncio.to_thread(_finish, saved, building, folder)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, building, True)
        raise
    return saved


async def _save_namespace(
    session: AsyncSession, building: Path, max_bytes: int, chunk_bytes: int, timeout: float
) -> SavedCheckpoint:
    """Pickle the namespace in the kernel and copy its chunks into `building`."""
    # The chunks are written into the workspace: past its quota they would be trimmed and
    # nothing saved, so the namespace gets at most the room the quota leaves.
    room = await asyncio.to_thread(_workspace_room, session, chunk_bytes)
    cap = ""
    if room < max_bytes:
        max_bytes = room
        cap = f"the room left in the workspace quota ({room / MiB:.0f} MB)"
    try:
        report = await _kernel_report(
            session,
            f"m.save({'/mnt/data/' + SAVE_FOLDER!r}, {int(max_bytes)}, {chunk_bytes}, {cap!r})",
            timeout,
        )
        saved = SavedCheckpoint(
            variables=report.get("variables", {}),
            modules=report.get("modules", {}),
            skipped=report.get("skipped", {}),
            chunk_bytes=chunk_bytes,
            namespace_bytes=report.get("bytes", 0),
            pickle_seconds=float(report.get("seconds", 0.0)),
        )
        count = report.get("chunks", 0)
        if not isinstance(count, int) or not 0 <= count * chunk_bytes <= max_bytes + chunk_bytes:
            raise CheckpointError("the kernel's report is malformed")
        # Copies and digests of up to max_bytes: off the event loop.
        await asyncio.to_thread(_collect, session, saved, count, building, max_bytes)
    except (TypeError, ValueError) as exc:  # a report of the wrong types
        raise CheckpointError(f"the kernel's report is malformed ({exc})") from None
    finally:
        await asyncio.to_thread(_clear, session, SAVE_FOLDER)
    return saved


def _workspace_room(session: AsyncSession, chunk_bytes: int) -> int:
    """Bytes of chunks the session can still write before its workspace quota (bytes and
    entries: the folder and each chunk count), less a margin of a MiB."""
    used, entries = session.quota.usage()
    chunks_left = session.config.limits.max_workspace_files - entries - 1
    return max(0, min(session.quota.max_bytes - used - MiB, chunks_left * chunk_bytes))


def _start_building(building: Path) -> None:
    shutil.rmtree(building, ignore_errors=True)
    (building / NAMESPACE).mkdir(parents=True)


def _collect(
    session: AsyncSession, saved: SavedCheckpoint, count: int, building: Path, max_bytes: int
) -> None:
    """Copy the chunks the kernel wrote into `building`. The kernel is not trusted to have
    kept to the cap (a cell can replace its side of the code): every chunk is checked against
    the chunk size and the total against the cap as it is copied."""
    saved.chunks = []
    total = 0
    for i in range(count):
        chunk = _copy_chunk(session, f"{SAVE_FOLDER}/part-{i:05d}", building / NAMESPACE)
        total += chunk["bytes"]
        if chunk["bytes"] > saved.chunk_bytes or total > max_bytes:
            raise CheckpointError("the kernel wrote more than the checkpoint's cap")
        saved.chunks.append(chunk)
    if total != saved.namespace_bytes:
        raise CheckpointError("the chunks the kernel wrote do not add up to its report")
    saved._check()


def _finish(saved: SavedCheckpoint, building: Path, folder: Path) -> None:
    """Write the manifest, then put the new checkpoint in the place of the old one."""
    (building / MANIFEST).write_text(json.dumps(saved.to_json()), encoding="utf-8")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    building.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _clear(session: AsyncSession, folder: str) -> None:
    """Remove the files of one of Airlock's folders from the workspace (never following a
    link a cell may have put in its place)."""
    workspace = session.workspace
    prefix = f"{folder}/"
    for path, entry in workspace.snapshot().items():
        relative = Path(path).relative_to(workspace.root).as_posix()
        if entry.size >= 0 and relative.startswith(prefix):
            with contextlib.suppress(WorkspaceError, OSError):
                workspace.remove(relative)
    with contextlib.suppress(OSError):  # only an empty folder (rmdir never follows a link)
        os.rmdir(workspace.host_path(folder))


def _copy_chunk(session: AsyncSession, name: str, folder: Path) -> dict[str, Any]:
    target = folder / PurePosixPath(name).name
    try:
        session.copy_file_out(name, target)
    except (WorkspaceError, OSError) as exc:
        raise CheckpointError(f"could not copy {name} out of the workspace: {exc}") from None
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while block := handle.read(MiB):
            digest.update(block)
    return {"name": target.name, "bytes": target.stat().st_size, "sha256": digest.hexdigest()}


def _copy_files(session: AsyncSession, folder: Path) -> tuple[list[str], int]:
    """Copy the workspace's regular files (Airlock's own folders aside) under `folder`."""
    workspace = session.workspace
    copied: list[str] = []
    total = 0
    for path, entry in sorted(workspace.snapshot().items()):
        relative = Path(path).relative_to(workspace.root).as_posix()
        if entry.size < 0 or relative.split("/")[0].startswith(".airlock-"):
            continue
        try:
            workspace.copy_out_under(relative, folder)
        except (WorkspaceError, OSError) as exc:
            log.warning("checkpoint: %r not saved: %s", relative, exc)
            continue
        copied.append(relative)
        total += entry.size
    return copied, total


async def restore_checkpoint(
    session: AsyncSession, folder: Path, *, timeout: float = 300.0
) -> RestoredCheckpoint:
    """Put a checkpoint's files back into the session's workspace and load its namespace into
    the kernel. Never raises for a damaged checkpoint: the result says what is not back."""
    started = time.monotonic()
    result = RestoredCheckpoint()
    try:
        saved = await asyncio.to_thread(read_manifest, folder)
    except CheckpointError as exc:
        result.error = str(exc)
        return result
    result.saved = saved
    result.missing.update({str(k): str(v) for k, v in saved.skipped.items()})
    result.files = await asyncio.to_thread(_put_files_back, session, saved, folder)
    if saved.namespace_error is not None:
        result.error = f"its variables could not be saved ({saved.namespace_error})"
        result.seconds = time.monotonic() - started
        return result
    try:
        await asyncio.to_thread(_put_chunks_back, session, saved, folder)
        index = json.dumps({"variables": saved.variables, "modules": saved.modules})
        report = await _kernel_report(
            session,
            f"m.restore({'/mnt/data/' + RESTORE_FOLDER!r}, {index!r}, {saved.chunk_bytes})",
            timeout,
        )
    except (CheckpointError, WorkspaceError, OSError) as exc:
        result.error = str(exc)
        await asyncio.to_thread(_clear, session, RESTORE_FOLDER)
    else:
        restored, failed = report.get("restored", []), report.get("failed", {})
        if isinstance(restored, list):
            result.restored = [str(name) for name in restored]
        if isinstance(failed, dict):
            result.missing.update({str(k): str(v) for k, v in failed.items()})
    result.seconds = time.monotonic() - started
    return result


def _put_files_back(session: AsyncSession, saved: SavedCheckpoint, folder: Path) -> list[str]:
    put_back = []
    for relative in saved.files:
        try:
            session.put_file(relative, folder / FILES / relative)
        except (WorkspaceError, OSError) as exc:
            log.warning("checkpoint: %r not put back: %s", relative, exc)
            continue
        put_back.append(relative)
    return put_back


def _put_chunks_back(session: AsyncSession, saved: SavedCheckpoint, folder: Path) -> None:
    """Check every chunk against its digest, then put them where the kernel loads them."""
    _verify_chunks(folder / NAMESPACE, saved)
    for chunk in saved.chunks:
        session.put_file(f"{RESTORE_FOLDER}/{chunk['name']}", folder / NAMESPACE / chunk["name"])


def _verify_chunks(folder: Path, saved: SavedCheckpoint) -> None:
    for chunk in saved.chunks:
        name = chunk["name"]
        if not name.startswith("part-") or "/" in name:
            raise CheckpointError("the manifest names a chunk that is not one")
        digest = hashlib.sha256()
        try:
            with (folder / name).open("rb") as handle:
                while block := handle.read(MiB):
                    digest.update(block)
        except OSError as exc:
            raise CheckpointError(f"{name} is missing ({exc.strerror})") from None
        if digest.hexdigest() != chunk["sha256"]:
            raise CheckpointError(
                f"the checkpoint is damaged ({name} does not match its digest); "
                "its variables were not loaded"
            )
