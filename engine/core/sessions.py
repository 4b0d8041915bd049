"""One sandbox session per thread: started on the thread's first cell, ended when idle.

Two threads never share a kernel. A thread's files (assistant, thread and message level) are
put into /mnt/data under their own names, once per session; a name already taken gets a
numbered variant, so two uploads called `data.csv` both arrive intact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sandbox import AsyncSession, Execution, KernelPool, SandboxConfig, WorkspaceError
from sandbox.workspace import safe_relative_path

from ..store import NotFoundError, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StagedFile:
    file_id: str
    filename: str
    #: Where the code finds it: /mnt/data/NAME.
    path: str
    bytes: int


@dataclass
class ThreadSession:
    thread_id: str
    session: AsyncSession
    #: file id -> the copy in /mnt/data
    staged: dict[str, StagedFile] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)
    #: Held while a run uses the session, so the idle reaper leaves it alone.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: /mnt/data paths some cell wrote (a staged upload among them is no longer the upload).
    written: set[str] = field(default_factory=set)
    #: /mnt/data path -> what the file holds, as described to the model (see engine.core.assist)
    previews: dict[str, str] = field(default_factory=dict)

    def note_written(self, execution: Execution) -> None:
        for change in execution.files:
            self.written.add(change.path)
            self.previews.pop(change.path, None)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def stage(self, store: Store, file_ids: list[str]) -> list[StagedFile]:
        """Copy the files not yet here into /mnt/data; returns every staged file asked for.
        A file deleted from the store since it was attached is left out (and logged)."""
        for file_id in dict.fromkeys(file_ids):
            if file_id in self.staged:
                continue
            try:
                file = store.get_file(file_id)
            except NotFoundError:
                log.warning(
                    "%s: attached file %s no longer exists; not staged", self.thread_id, file_id
                )
                continue
            name = self._free_name(file.filename, file_id)
            path = self.session.put_file(name, store.file_content_path(file_id))
            self.staged[file_id] = StagedFile(file_id, file.filename, path, file.bytes)
        return [
            self.staged[file_id] for file_id in dict.fromkeys(file_ids) if file_id in self.staged
        ]

    def _free_name(self, filename: str, file_id: str) -> str:
        """The upload's own name when it is safe and free, else `stem_2.ext`, `stem_3.ext`...;
        the file's id when the name is one the workspace refuses (control characters, dots,
        Airlock's own temporary names) or longer than a file name may be."""
        name = PurePosixPath(filename).name
        if not _usable_name(name):
            name = file_id
        taken = {PurePosixPath(staged.path).name for staged in self.staged.values()}
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        candidate = name
        for n in range(2, _MAX_NUMBERED + 2):
            if candidate not in taken and not self._exists(candidate):
                return candidate
            candidate = f"{stem}_{n}{suffix}"
        return f"{file_id}{suffix}"  # ids are unique: it cannot be taken by another upload

    def _exists(self, name: str) -> bool:
        try:
            host = self.session.workspace.host_path(name)
            return host.is_symlink() or host.exists()
        except (WorkspaceError, OSError):
            return True  # a name the workspace refuses is never "free"


_MAX_NUMBERED = 1000
#: Bytes in a file name on Linux file systems, less room for a `_1000` numbering.
_MAX_NAME_BYTES = 255 - 8


def _usable_name(name: str) -> bool:
    if name in ("", ".", "..") or name.startswith(".airlock-"):
        return False
    if len(name.encode()) > _MAX_NAME_BYTES:
        return False
    try:
        safe_relative_path(name)
    except WorkspaceError:
        return False
    return True


class SessionManager:
    def __init__(
        self, config: SandboxConfig, *, idle_seconds: float = 3600.0, pool_size: int = 0
    ) -> None:
        self.config = config
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, ThreadSession] = {}
        self._starting: dict[str, asyncio.Lock] = {}
        self._pool = KernelPool(config, size=pool_size) if pool_size > 0 else None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._pool is not None:
            await self._pool.start(wait=False)
        self._reaper = asyncio.create_task(self._reap_idle_forever())

    def get(self, thread_id: str) -> ThreadSession | None:
        return self._sessions.get(thread_id)

    async def acquire(self, thread_id: str, config: SandboxConfig | None = None) -> ThreadSession:
        """The session of `thread_id` (a thread, or a container several threads share),
        started now if it has none; `config` overrides the default for a new one."""
        lock = self._starting.setdefault(thread_id, asyncio.Lock())
        async with lock:
            existing = self._sessions.get(thread_id)
            if existing is not None:
                existing.touch()
                return existing
            if self._pool is not None and config is None:
                session = await self._pool.acquire()
            else:
                session = await AsyncSession.start(config or self.config)
            thread_session = self._sessions[thread_id] = ThreadSession(thread_id, session)
            log.info("started a %s kernel for %s", session.isolation, thread_id)
            return thread_session

    async def end(self, thread_id: str) -> None:
        thread_session = self._sessions.pop(thread_id, None)
        self._starting.pop(thread_id, None)
        if thread_session is not None:
            await thread_session.session.close()

    async def reap_idle(self) -> list[str]:
        """End the sessions idle for longer than `idle_seconds`; returns their threads."""
        cutoff = time.monotonic() - self.idle_seconds
        idle = [
            thread_id
            for thread_id, ts in self._sessions.items()
            if ts.last_used < cutoff and not ts.lock.locked()
        ]
        for thread_id in idle:
            log.info("ending the idle kernel of %s", thread_id)
            await self.end(thread_id)
        return idle

    async def _reap_idle_forever(self) -> None:
        interval = max(0.5, min(60.0, self.idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap_idle()
            except Exception:  # one bad close must not stop the reaper
                log.exception("ending idle sessions failed")

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for thread_id in list(self._sessions):
            try:
                await self.end(thread_id)
            except Exception:  # the others still end
                log.exception("could not end the session of thread %s", thread_id)
        if self._pool is not None:
            await self._pool.close()

    @property
    def active_threads(self) -> list[str]:
        return list(self._sessions)
