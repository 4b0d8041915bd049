"""Containers: a sandbox session, keyed by the container's id, that the threads bound to it share.

The session starts when first needed (a file put in, a call's code) with the container's
`memory_limit`; every file of the container is recorded (`container_files`) with a copy of its
bytes kept outside the sandbox, so a kernel that was ended (idle reaping, a restart of the
server) comes back with its files, though not its variables. A container idle for longer than
its `expires_after.minutes` expires: its session ends and it takes no more work. Expiry is
checked lazily on every access and by a periodic sweep (`reap_forever`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sandbox import MOUNT_POINT, SandboxConfig, WorkspaceError

from ..core import Engine
from ..core.filenames import free_name
from ..core.sessions import ThreadSession
from ..schemas import Deleted, now
from ..schemas.responses import (
    DEFAULT_MEMORY_LIMIT,
    MEMORY_MB,
    Container,
    ContainerCreate,
    ContainerFileRecord,
)
from ..store import FileTooLargeError, InvalidRequestError
from ..store.contents import Source
from ..store.files import refuse_control_characters
from ..store.responses import ResponsesStore

log = logging.getLogger(__name__)

#: How often the sweep looks for expired containers, in seconds.
REAP_INTERVAL = 30.0


class ContainerService:
    def __init__(self, engine: Engine, db: ResponsesStore) -> None:
        self.engine = engine
        self.db = db
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------ lifecycle

    async def create(self, body: ContainerCreate) -> Container:
        for file_id in body.file_ids or []:
            await asyncio.to_thread(self.engine.store.get_file, file_id)
        container = Container(
            name=body.name, memory_limit=body.memory_limit or DEFAULT_MEMORY_LIMIT
        )
        if body.expires_after is not None:
            container = container.model_copy(update={"expires_after": body.expires_after})
        if body.network_policy is not None:
            container = container.model_copy(update={"network_policy": body.network_policy})
        container = await asyncio.to_thread(self.db.add_container, container)
        for file_id in body.file_ids or []:
            await self.add_store_file(container.id, file_id)
        return container

    def config_for(self, container: Container) -> SandboxConfig:
        """The engine's sandbox settings with the container's memory limit."""
        base = self.engine.settings.sandbox
        limits = dataclasses.replace(base.limits, memory_mb=MEMORY_MB[container.memory_limit])
        return dataclasses.replace(base, limits=limits)

    async def get(self, container_id: str) -> Container:
        """The container, expired now if its idle time ran out (checked on every access)."""
        container = await asyncio.to_thread(self.db.get_container, container_id)
        if container.status == "running":
            container = await self._note_activity(container)
            if container.expired_at(time.time()):
                container = await self.expire(container)
        return container

    async def require_running(self, container_id: str) -> Container:
        container = await self.get(container_id)
        if container.status != "running":
            raise InvalidRequestError(
                f"Container {container_id} has expired; create a new one.", param="container"
            )
        return container

    async def touch(self, container: Container) -> Container:
        updated = container.model_copy(update={"last_active_at": now()})
        return await asyncio.to_thread(self.db.save_container, updated)

    async def expire(self, container: Container) -> Container:
        log.info(
            "container %s expired after %d idle minutes",
            container.id,
            container.expires_after.minutes,
        )
        await self.engine.sessions.end(container.id)
        expired = container.model_copy(update={"status": "expired"})
        return await asyncio.to_thread(self.db.save_container, expired)

    async def delete(self, container_id: str) -> Deleted:
        await asyncio.to_thread(self.db.delete_container, container_id)
        await self.engine.sessions.end(container_id)
        self._locks.pop(container_id, None)
        return Deleted(id=container_id, object="container.deleted")

    async def reap(self) -> list[str]:
        """Expire every running container idle past its limit; returns their ids."""
        expired = []
        for container in await asyncio.to_thread(self.db.running_containers):
            updated = await self.get(container.id)
            if updated.status == "expired":
                expired.append(container.id)
        return expired

    async def reap_forever(self, interval: float = REAP_INTERVAL) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store closed under us, or one bad container
                log.exception("expiring idle containers failed")

    async def _note_activity(self, container: Container) -> Container:
        """Carry the kernel's own activity (cells run by bound threads) into last_active_at."""
        session = self.engine.sessions.get(container.id)
        if session is None:
            return container
        if session.lock.locked():
            active = now()  # a cell is running right now
        else:
            active = int(time.time() - (time.monotonic() - session.last_used))
        if active > container.last_active_at:
            container = container.model_copy(update={"last_active_at": active})
            container = await asyncio.to_thread(self.db.save_container, container)
        return container

    # ------------------------------------------------------------ the session

    async def session(self, container: Container) -> ThreadSession:
        """The container's live session, started (with its files put back) if it has none."""
        lock = self._locks.setdefault(container.id, asyncio.Lock())
        async with lock:
            fresh = self.engine.sessions.get(container.id) is None
            session = await self.engine.sessions.acquire(container.id, self.config_for(container))
            if fresh:
                records = await asyncio.to_thread(self.db.container_files, container.id)
                for record in records:
                    if record.in_workspace:
                        await asyncio.to_thread(self._restore, session, record)
            return session

    def bind(self, thread_id: str, container: Container) -> None:
        self.engine.bind_thread(thread_id, container.id, self.config_for(container))

    def _restore(self, session: ThreadSession, record: ContainerFileRecord) -> None:
        source = self._copy_path(record)
        if source is None:
            return
        try:
            session.session.put_file(_relative(record.path), source)
        except (OSError, WorkspaceError) as error:
            log.warning(
                "could not put %s back into %s: %s", record.path, record.container_id, error
            )

    def _copy_path(self, record: ContainerFileRecord) -> Path | None:
        if record.stored_copy:
            return self.db.copies.path(record.id)
        if record.file_id is not None:
            with contextlib.suppress(Exception):
                return self.engine.store.file_content_path(record.file_id)
        return None

    # ------------------------------------------------------------ files

    async def add_upload(
        self, container_id: str, filename: str, content: Source, size: int | None = None
    ) -> ContainerFileRecord:
        """A multipart upload: kept as a copy, then put into /mnt/data under a free name."""
        container = await self.require_running(container_id)
        if size is not None and size > self.engine.store.max_file_bytes:
            raise FileTooLargeError(self.engine.store.max_file_bytes)
        refuse_control_characters(filename)  # the store's rule for upload names
        path = await asyncio.to_thread(self._free_path, container.id, filename)
        record = ContainerFileRecord(container_id=container.id, bytes=0, path=path, source="user")
        record = await asyncio.to_thread(self.db.add_file, record, content)
        await self._place(container, record)
        return record

    async def add_store_file(self, container_id: str, file_id: str) -> ContainerFileRecord:
        """A file of the store (`/files`) copied into the container."""
        container = await self.require_running(container_id)
        file = await asyncio.to_thread(self.engine.store.get_file, file_id)
        path = await asyncio.to_thread(self._free_path, container.id, file.filename)
        record = ContainerFileRecord(
            container_id=container.id, bytes=file.bytes, path=path, source="user", file_id=file_id
        )
        record = await asyncio.to_thread(self.db.add_file, record)
        await self._place(container, record)
        return record

    async def _place(self, container: Container, record: ContainerFileRecord) -> None:
        """Into the live workspace now; a session started later puts it there itself."""
        lock = self._locks.setdefault(container.id, asyncio.Lock())
        async with lock:
            session = self.engine.sessions.get(container.id)
            if session is not None:
                await asyncio.to_thread(self._restore, session, record)
        await self.touch(container)

    async def delete_file(self, container_id: str, file_id: str) -> Deleted:
        await self.get(container_id)
        record = await asyncio.to_thread(self.db.delete_file, container_id, file_id)
        session = self.engine.sessions.get(container_id)
        if session is not None and record.in_workspace:
            await asyncio.to_thread(session.session.workspace.remove, _relative(record.path))
        return Deleted(id=file_id, object="container.file.deleted")

    async def open_content(
        self, container_id: str, file_id: str
    ) -> tuple[ContainerFileRecord, BinaryIO, int]:
        """The file's bytes as an open reader (the caller closes it) and their size: from the
        live workspace, through its safe copy-out, else from the kept copy."""
        await self.get(container_id)
        record = await asyncio.to_thread(self.db.get_file, container_id, file_id)
        session = self.engine.sessions.get(container_id)
        if session is not None and record.in_workspace:
            reader = await asyncio.to_thread(_copy_out, session, record.path)
            if reader is not None:
                return record, reader, os.fstat(reader.fileno()).st_size
        source = await asyncio.to_thread(self._copy_path, record)
        if source is None or not source.exists():
            raise InvalidRequestError(f"The content of {file_id} is no longer available.")
        reader = source.open("rb")
        return record, reader, os.fstat(reader.fileno()).st_size

    def _free_path(self, container_id: str, filename: str) -> str:
        """/mnt/data/NAME: the file's own name when free (no record, nothing in the workspace),
        else `stem_2.ext`, `stem_3.ext`..."""
        name = PurePosixPath(filename.replace("\\", "/")).name
        if name in ("", ".", "..") or name.startswith(".airlock-"):
            name = "upload"
        taken = {PurePosixPath(r.path).name for r in self.db.container_files(container_id)}
        session = self.engine.sessions.get(container_id)

        def in_use(candidate: str) -> bool:
            return candidate in taken or (session is not None and _exists(session, candidate))

        return str(MOUNT_POINT / free_name(name, in_use))

    # ------------------------------------------------------------ generated files

    def record_generated(
        self, container_id: str, file_id: str, path: str | None, *, in_workspace: bool
    ) -> ContainerFileRecord:
        """The container file for a store file a run produced (an image shown, a file
        written), created once: a file at the same path is that file, updated.
        NotFoundError when the container is gone."""
        self.db.get_container(container_id)
        records = self.db.container_files(container_id)
        for record in records:
            if record.file_id == file_id:
                return record
        if path is not None and in_workspace:
            for record in reversed(records):
                if record.path == path and record.in_workspace:
                    if record.source == "assistant" and record.file_id != file_id:
                        file = self.engine.store.get_file(file_id)
                        return self.db.save_file(
                            record.model_copy(update={"file_id": file_id, "bytes": file.bytes})
                        )
                    return record
        file = self.engine.store.get_file(file_id)
        if path is None:
            path = str(MOUNT_POINT / file.filename)
        return self.db.add_file(
            ContainerFileRecord(
                container_id=container_id,
                bytes=file.bytes,
                path=path,
                source="assistant",
                file_id=file_id,
                in_workspace=in_workspace,
            )
        )


def _relative(path: str) -> str:
    return str(PurePosixPath(path).relative_to(MOUNT_POINT))


def _exists(session: ThreadSession, name: str) -> bool:
    try:
        host = session.session.workspace.host_path(name)
    except WorkspaceError:
        return True
    return host.is_symlink() or host.exists()


def _copy_out(session: ThreadSession, path: str) -> BinaryIO | None:
    """A private copy of a workspace file, opened and already unlinked; None if it is gone."""
    handle, name = tempfile.mkstemp(prefix="airlock-cfile-")
    os.close(handle)
    target = Path(name)
    try:
        session.session.copy_file_out(_relative(path), target)
        return target.open("rb")
    except (OSError, WorkspaceError, ValueError):
        return None
    finally:
        target.unlink(missing_ok=True)
