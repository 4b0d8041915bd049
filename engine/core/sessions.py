"""One sandbox session per thread: started on the thread's first cell, ended when idle.

Two threads never share a kernel. A thread's files (assistant, thread and message level) are
put into /mnt/data under their own names, once per session; a name already taken gets a
numbered variant, so two uploads called `data.csv` both arrive intact.

Live sessions are capped (`max_sessions`; by default what the machine's memory allows at the
per-session memory limit). A new session past the cap ends the least recently used idle one
(no cell running, no run in flight on it); when every session is busy it waits a little for one
to come free, then gives up with SessionCapacityError, which the server answers 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import psutil

from sandbox import AsyncSession, Execution, KernelPool, SandboxConfig, WorkspaceError
from sandbox.workspace import safe_relative_path

from ..store import NotFoundError, Store
from .checkpoints import Checkpoints
from .filenames import numbered_names

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
    #: What the restore from the thread's checkpoint brought back and what not: told with the
    #: next cell's logs (the model reads them, the user sees them once).
    restore_notice: str | None = None

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
        for candidate in itertools.islice(numbered_names(name), _MAX_NUMBERED):
            if candidate not in taken and not self._exists(candidate):
                return candidate
        # ids are unique: it cannot be taken by another upload
        return f"{file_id}{PurePosixPath(name).suffix}"

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


#: Seconds a client is told to wait (Retry-After) when every session is busy.
RETRY_AFTER_SECONDS = 2
#: Seconds a new session waits for a busy one to come free before giving up.
CAPACITY_WAIT_SECONDS = 30.0
#: Share of the machine's memory the default cap gives to sessions at their memory limit.
_MEMORY_SHARE = 0.75


class SessionCapacityError(RuntimeError):
    """Every one of the `cap` live sessions is busy: retry after `retry_after` seconds."""

    def __init__(self, cap: int, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            f"All {cap} sandbox sessions of this server are busy running code; none is idle "
            f"to make room for another. Retry in {retry_after} s (the cap is the server's "
            "--max-sessions)."
        )
        self.cap = cap
        self.retry_after = retry_after


def default_max_sessions(config: SandboxConfig) -> int:
    """As many sessions as three quarters of the machine's memory holds at the per-session
    memory limit, and at least 4 (the limit is a ceiling: an idle kernel takes ~50 MB)."""
    total_mb = psutil.virtual_memory().total // (1024 * 1024)
    per_session = config.limits.memory_mb if config.limits.memory_mb > 0 else 2048
    return max(4, int(total_mb * _MEMORY_SHARE) // per_session)


class SessionManager:
    def __init__(
        self,
        config: SandboxConfig,
        *,
        idle_seconds: float = 3600.0,
        pool_size: int = 0,
        max_sessions: int | None = None,
        runs_on: Callable[[], Collection[str]] | None = None,
        capacity_wait: float = CAPACITY_WAIT_SECONDS,
        checkpoints: Checkpoints | None = None,
        checkpointed: Callable[[str], bool] = lambda _key: True,
    ) -> None:
        """`max_sessions`: the cap on live sessions (None: `default_max_sessions`);
        `runs_on()`: the keys of the sessions runs in flight use or will use (such a session
        is never evicted, and one not started yet is counted when admitting a new run);
        `checkpoints`: where the sessions whose key `checkpointed` accepts are saved when
        they end and restored from when they start again."""
        self.config = config
        self.idle_seconds = idle_seconds
        self.max_sessions = (
            max_sessions if max_sessions is not None else (default_max_sessions(config))
        )
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.runs_on: Callable[[], Collection[str]] = runs_on or (lambda: ())
        self.capacity_wait = capacity_wait
        self.checkpoints = checkpoints
        self.checkpointed = checkpointed
        self._sessions: dict[str, ThreadSession] = {}
        self._starting: dict[str, asyncio.Lock] = {}
        #: Sessions being ended, by key: a new session for the same key waits for the end
        #: (and its checkpoint) before it starts, so it restores what that one saved.
        self._ending: dict[str, asyncio.Event] = {}
        #: Sessions being started or closed: alive, though not (or no longer) in _sessions.
        self._opening = 0
        self._closing = 0
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
            ending = self._ending.get(thread_id)
            if ending is not None:
                await ending.wait()
            await self._make_room(thread_id)
            # No await since the room was counted: nobody else takes it. The session stays
            # counted as opening until it is in _sessions (its checkpoint restore awaits).
            self._opening += 1
            try:
                if self._pool is not None and config is None:
                    session = await self._pool.acquire()
                else:
                    session = await AsyncSession.start(config or self.config)
                thread_session = ThreadSession(thread_id, session)
                log.info("started a %s kernel for %s", session.isolation, thread_id)
                try:
                    await self._restore(thread_session)
                except BaseException:
                    await session.close()
                    raise
                self._sessions[thread_id] = thread_session
            finally:
                self._opening -= 1
            return thread_session

    # -- checkpoints -------------------------------------------------------------------
    def _checkpoints_for(self, key: str) -> Checkpoints | None:
        return self.checkpoints if self.checkpoints is not None and self.checkpointed(key) else None

    async def _restore(self, thread_session: ThreadSession) -> None:
        """Put the thread's checkpoint, if it has one, into its new session."""
        checkpoints = self._checkpoints_for(thread_session.thread_id)
        if checkpoints is None:
            return
        restored = await checkpoints.restore(thread_session.thread_id, thread_session.session)
        if restored is None:
            return
        put_back = set(restored.files)
        staged = restored.saved.extra.get("staged", {}) if restored.saved else {}
        for file_id, record in staged.items() if isinstance(staged, dict) else ():
            try:
                file = StagedFile(
                    file_id, str(record["filename"]), str(record["path"]), int(record["bytes"])
                )
            except (KeyError, TypeError, ValueError):
                continue
            if file.path.removeprefix("/mnt/data/") in put_back:
                thread_session.staged[file_id] = file
        thread_session.restore_notice = restored.notice() or None

    async def _save(self, thread_session: ThreadSession) -> None:
        checkpoints = self._checkpoints_for(thread_session.thread_id)
        if checkpoints is None:
            return
        staged = {
            file_id: {"filename": f.filename, "path": f.path, "bytes": f.bytes}
            for file_id, f in thread_session.staged.items()
        }
        try:
            await checkpoints.save(thread_session.thread_id, thread_session.session, staged=staged)
        except Exception:  # saving never keeps a session from ending
            log.exception("checkpoint of %s failed", thread_session.thread_id)

    # -- capacity ----------------------------------------------------------------------
    @property
    def live_count(self) -> int:
        """Sessions alive now, those starting and closing included."""
        return len(self._sessions) + self._opening + self._closing

    def in_use(self, thread_id: str) -> bool:
        return thread_id in self.runs_on()

    def _idle_victim(self, exclude: str) -> str | None:
        """The least recently used session that no cell and no run is using."""
        busy = set(self.runs_on())
        idle = [
            ts
            for key, ts in self._sessions.items()
            if key != exclude and not ts.lock.locked() and key not in busy
        ]
        return min(idle, key=lambda ts: ts.last_used).thread_id if idle else None

    def has_room(self, thread_id: str) -> bool:
        """Whether a new run on `thread_id` can have a session: it has one, or the sessions
        alive plus those runs in flight still wait for stay within the cap, or an idle
        session can make room."""
        if thread_id in self._sessions:
            return True
        wanted = set(self._sessions) | set(self.runs_on()) | {thread_id}
        if len(wanted) + self._closing <= self.max_sessions:
            return True
        return self._idle_victim(thread_id) is not None

    def admit(self, thread_id: str) -> None:
        """SessionCapacityError unless `has_room(thread_id)`."""
        if not self.has_room(thread_id):
            raise SessionCapacityError(self.max_sessions)

    async def _make_room(self, thread_id: str) -> None:
        deadline = time.monotonic() + self.capacity_wait
        while self.live_count >= self.max_sessions:
            victim = self._idle_victim(thread_id)
            if victim is not None:
                log.info(
                    "ending the idle kernel of %s to make room for %s (cap %d)",
                    victim,
                    thread_id,
                    self.max_sessions,
                )
                await self.end(victim)
                continue
            if time.monotonic() >= deadline:
                raise SessionCapacityError(self.max_sessions)
            # Runs end without telling us: look again shortly.
            await asyncio.sleep(0.2)

    async def end(self, thread_id: str, *, save: bool = True) -> None:
        """End the session of `thread_id`, saving its checkpoint first unless `save` is
        False (a deleted thread)."""
        thread_session = self._sessions.pop(thread_id, None)
        self._starting.pop(thread_id, None)
        if thread_session is not None:
            self._closing += 1
            ended = self._ending[thread_id] = asyncio.Event()
            try:
                if save:
                    await self._save(thread_session)
            finally:
                try:
                    await thread_session.session.close()
                finally:
                    self._closing -= 1
                    ended.set()
                    if self._ending.get(thread_id) is ended:
                        del self._ending[thread_id]

    async def reap_idle(self) -> list[str]:
        """End the sessions idle for longer than `idle_seconds`; returns their threads."""
        cutoff = time.monotonic() - self.idle_seconds
        ended = []
        for thread_id in [key for key in self._sessions if self._idle_since(key, cutoff)]:
            # Each end awaits a save: a run may have taken an idle session again meanwhile.
            if not self._idle_since(thread_id, cutoff):
                continue
            log.info("ending the idle kernel of %s", thread_id)
            await self.end(thread_id)
            ended.append(thread_id)
        return ended

    def _idle_since(self, thread_id: str, cutoff: float) -> bool:
        """Whether `thread_id` has a session unused since `cutoff` that no cell or run holds."""
        ts = self._sessions.get(thread_id)
        return (
            ts is not None
            and ts.last_used < cutoff
            and not ts.lock.locked()
            and thread_id not in self.runs_on()
        )

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
        # All at once: each end saves a checkpoint (a cell in its own kernel, then copies),
        # and a supervisor waits only so long for a shutdown.
        await asyncio.gather(*(self._end_logged(key) for key in list(self._sessions)))
        if self._pool is not None:
            await self._pool.close()

    async def _end_logged(self, thread_id: str) -> None:
        try:
            await self.end(thread_id)
        except Exception:  # the others still end
            log.exception("could not end the session of thread %s", thread_id)

    @property
    def active_threads(self) -> list[str]:
        return list(self._sessions)
