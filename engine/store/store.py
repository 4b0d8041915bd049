"""The Store: Assistants-shaped objects in SQLite (WAL), file contents on disk beside it.

Layout of a data folder: `airlock.db` (+ `-wal`, `-shm`), `files/<file id>`, `files/.partial/`
and `airlock.lock`. Every write is one transaction; a file's bytes are durable on disk before
its row is committed. Synchronous on purpose: the async run loop calls it through
`asyncio.to_thread`, and the calls are short except uploads, which stream outside the lock.

Crash recovery needs to know that no other process is still running the runs it would end, so
each Store holds a shared `flock` on `airlock.lock`; the first to open a folder nobody else has
open gets it exclusively for a moment and, with it, ends the runs a crash left active and sweeps
partial uploads and orphaned contents.

The Store is one class made of a part per object family, each in its own module: `FileStore`
(files.py), `ThreadStore` (threads.py: assistants, threads, messages) and `RunStore` (runs.py:
runs and run steps), over `StoreBase` (base.py). This module opens and closes the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from ..schemas import Run
from .base import DEFAULT_LIMIT, PAGE_MAX
from .contents import ContentDir
from .database import Database
from .files import (
    FILES_DEFAULT_LIMIT,
    FILES_MAX_LIMIT,
    MAX_FILE_BYTES,
    FileStore,
    refuse_control_characters,
)
from .paths import resolve_data_dir
from .recovery import recover_runs
from .runs import RunStore
from .threads import ThreadStore

__all__ = [
    "DEFAULT_LIMIT",
    "FILES_DEFAULT_LIMIT",
    "FILES_MAX_LIMIT",
    "MAX_FILE_BYTES",
    "PAGE_MAX",
    "Store",
    "refuse_control_characters",
]


class Store(RunStore, ThreadStore, FileStore):
    """Synchronous and thread-safe; one per process and data folder is the intended use.

    Per object: `create_*` from a request body, `get_*`, `list_*` (cursor pages), `update_*`
    (partial, from an update body), `delete_*`. For the run loop: `add_message`/`save_message`,
    `save_run`, `add_run_step`/`save_run_step` store objects it built, and `cancel_run`,
    `active_run`. Unknown ids raise NotFoundError; refused requests InvalidRequestError.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.data_dir = resolve_data_dir(data_dir)
        # Private: the database and the uploads are nobody else's business (a sandbox at a
        # weaker level can read what its uid may read).
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.max_file_bytes = max_file_bytes
        self.contents = ContentDir(self.data_dir / "files")
        self._lock_fd = os.open(self.data_dir / "airlock.lock", os.O_RDWR | os.O_CREAT, 0o600)
        opened: Database | None = None
        try:
            self.db = opened = Database(self.data_dir / "airlock.db")
            for private in ("airlock.db", "airlock.db-wal", "airlock.db-shm", "files"):
                with contextlib.suppress(OSError):
                    os.chmod(self.data_dir / private, 0o700 if private == "files" else 0o600)
            #: Runs this Store found left active by a crash and ended; empty when another
            #: process had the folder open (its runs may be live).
            self.recovered_runs: list[Run] = []
            self.swept: list[str] = []
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                self.recovered_runs = recover_runs(self.db)
                self.purge_expired_files()
                self.swept = self.contents.sweep(self._file_ids())
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        except BaseException:
            if opened is not None:
                opened.close()
            os.close(self._lock_fd)
            raise

    @property
    def db_path(self) -> Path:
        return self.data_dir / "airlock.db"

    def close(self) -> None:
        if self._lock_fd < 0:
            return
        self.db.close()
        os.close(self._lock_fd)  # releases the flock
        self._lock_fd = -1

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
