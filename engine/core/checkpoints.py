"""A thread's kernel state outlives its session: saved when the session ends (idle expiry, the
engine closing, a CLI run finishing, room made for another), restored when the thread next
runs code in a new kernel.

Checkpoints live in the store's data folder (`checkpoints/<session key>/`), outside /mnt/data,
so no cell can rewrite what a later restore loads; they are deleted with their thread. Saving
never blocks ending a session: a failure is logged and the previous checkpoint stays. What the
sandbox does (pickling inside the kernel, digests, copying files) is `sandbox.checkpoint`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from pathlib import Path

from sandbox import AsyncSession
from sandbox.checkpoint import (
    CheckpointError,
    RestoredCheckpoint,
    SavedCheckpoint,
    restore_checkpoint,
    save_checkpoint,
)

from .sizes import human_size

log = logging.getLogger(__name__)

#: Session keys are thread and container ids; anything else never names a folder.
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: The folder of the store's data folder that holds the checkpoints.
FOLDER = "checkpoints"


def checkpoints_root(data_dir: Path) -> Path:
    return data_dir / FOLDER


def delete_checkpoint(data_dir: Path, key: str) -> None:
    """Remove `key`'s checkpoint from the store in `data_dir` (for a thread deleted without an
    engine, as `airlock threads delete` does)."""
    if _KEY.match(key):
        for name in (key, key + ".new", key + ".old"):
            shutil.rmtree(checkpoints_root(data_dir) / name, ignore_errors=True)


class Checkpoints:
    """The checkpoints under one folder, by session key."""

    def __init__(self, root: Path, *, max_bytes: int, timeout: float = 120.0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.timeout = timeout

    def folder(self, key: str) -> Path | None:
        return self.root / key if _KEY.match(key) else None

    def has(self, key: str) -> bool:
        folder = self.folder(key)
        return folder is not None and folder.is_dir()

    async def save(
        self, key: str, session: AsyncSession, *, staged: dict[str, dict[str, object]]
    ) -> SavedCheckpoint | None:
        """Save `key`'s session; `staged` (file id -> /mnt/data path) travels with it. None,
        logged, when it could not be saved (the previous checkpoint is then kept)."""
        folder = self.folder(key)
        if folder is None:
            return None
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            saved = await save_checkpoint(
                session,
                folder,
                max_bytes=self.max_bytes,
                timeout=self.timeout,
                extra={"staged": staged},
            )
        except (CheckpointError, OSError) as exc:
            log.warning("checkpoint of %s not saved: %s", key, exc)
            return None
        log.info(
            "checkpoint of %s: %d variables, %d modules, %d files, %s in %.2f s%s",
            key,
            len(saved.variables),
            len(saved.modules),
            len(saved.files),
            human_size(saved.namespace_bytes + saved.files_bytes),
            saved.seconds,
            f"; not saved: {', '.join(map(repr, saved.skipped))}" if saved.skipped else "",
        )
        if saved.namespace_error is not None:
            log.warning("checkpoint of %s: the variables not saved: %s", key, saved.namespace_error)
        return saved

    async def restore(self, key: str, session: AsyncSession) -> RestoredCheckpoint | None:
        """Put `key`'s checkpoint into a new session (None when it has none)."""
        folder = self.folder(key)
        if folder is None or not folder.is_dir():
            return None
        restored = await restore_checkpoint(session, folder, timeout=self.timeout)
        if restored.error:
            log.warning("checkpoint of %s not restored: %s", key, restored.error)
        else:
            log.info(
                "checkpoint of %s restored in %.2f s: %d variables, %d files",
                key,
                restored.seconds,
                len(restored.restored),
                len(restored.files),
            )
        return restored

    async def delete(self, key: str) -> None:
        if _KEY.match(key):
            await asyncio.to_thread(delete_checkpoint, self.root.parent, key)
