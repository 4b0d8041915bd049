"""The Responses API's tables beside the Assistants ones: responses, containers, container files.

Created on first use with `CREATE TABLE IF NOT EXISTS` (an existing database gains them, an
older Airlock ignores them), in the same SQLite file and with the same `Kind` machinery, so
pages, cursors and errors behave as everywhere else. Bytes of multipart uploads into a container
lie in `container-files/<cfile id>`, beside the store's own `files/`.
"""

from __future__ import annotations

from ..schemas import AssistantCreate, ListPage
from ..schemas.responses import Container, ContainerFileRecord, ResponseRecord
from .base import DEFAULT_LIMIT
from .contents import ContentDir, Source
from .database import Kind
from .errors import NotFoundError
from .store import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS containers_by_name ON containers(name, seq);
CREATE TABLE IF NOT EXISTS container_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    file_id TEXT, path TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS container_files_by_container ON container_files(container_id, seq);
CREATE TABLE IF NOT EXISTS responses (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL, run_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

CONTAINERS = Kind("containers", Container, "container", ("name",))
CONTAINER_FILES = Kind(
    "container_files", ContainerFileRecord, "container file", ("container_id", "file_id", "path")
)
RESPONSES = Kind("responses", ResponseRecord, "response", ("thread_id", "run_id"))


class ResponsesStore:
    """Synchronous, like the Store it extends; call it through `asyncio.to_thread`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self.copies = ContentDir(store.data_dir / "container-files")
        with self.db.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    # ------------------------------------------------------------ responses

    def hidden_assistant(self, model: str) -> str:
        """The id of the one assistant every Responses run names (runs set their own model,
        instructions and tools), created when there is none: `/assistants` lists one such
        assistant, not one per response."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT value FROM responses_meta WHERE key = 'assistant'"
            ).fetchone()
            if row is not None:
                try:
                    return self.store.get_assistant(row[0]).id
                except NotFoundError:
                    pass  # deleted by a client: make another
            assistant = self.store.create_assistant(
                AssistantCreate(
                    model=model,
                    name="Responses API",
                    description="Runs of the Responses API (made by Airlock; needed by them).",
                    metadata={"airlock": "responses"},
                )
            )
            conn.execute(
                "INSERT OR REPLACE INTO responses_meta (key, value) VALUES ('assistant', ?)",
                [assistant.id],
            )
            return assistant.id

    def add_response(self, record: ResponseRecord) -> ResponseRecord:
        return self.db.insert(RESPONSES, record)

    def get_response(self, response_id: str) -> ResponseRecord:
        return self.db.get(RESPONSES, response_id)

    def delete_response(self, response_id: str) -> None:
        self.db.delete(RESPONSES, response_id)

    # ------------------------------------------------------------ containers

    def add_container(self, container: Container) -> Container:
        return self.db.insert(CONTAINERS, container)

    def get_container(self, container_id: str) -> Container:
        return self.db.get(CONTAINERS, container_id)

    def save_container(self, container: Container) -> Container:
        return self.db.replace(CONTAINERS, container)

    def list_containers(
        self,
        *,
        name: str | None = None,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[Container]:
        scope = {"name": name} if name else {}
        return self.db.page(CONTAINERS, scope, limit=limit, order=order, after=after, before=before)

    def running_containers(self) -> list[Container]:
        return [c for c in self.db.select(CONTAINERS, "1 = 1", []) if c.status == "running"]

    def delete_container(self, container_id: str) -> list[ContainerFileRecord]:
        """The container and its file records (their copies removed too); returns those."""
        with self.db.write():
            files = self.container_files(container_id)
            self.db.delete(CONTAINERS, container_id)  # the file rows cascade
        for record in files:
            if record.stored_copy:
                self.copies.remove(record.id)
        return files

    # ------------------------------------------------------------ container files

    def add_file(
        self, record: ContainerFileRecord, content: Source | None = None
    ) -> ContainerFileRecord:
        """Store a record; with `content`, a copy of its bytes first (`stored_copy`)."""
        if content is not None:
            size = self.copies.write(record.id, content, self.store.max_file_bytes)
            record = record.model_copy(update={"stored_copy": True, "bytes": size})
        try:
            return self.db.insert(CONTAINER_FILES, record)
        except BaseException:
            if content is not None:
                self.copies.remove(record.id)
            raise

    def save_file(self, record: ContainerFileRecord) -> ContainerFileRecord:
        return self.db.replace(CONTAINER_FILES, record)

    def get_file(self, container_id: str, file_id: str) -> ContainerFileRecord:
        return self.db.get(CONTAINER_FILES, file_id, {"container_id": container_id})

    def container_files(self, container_id: str) -> list[ContainerFileRecord]:
        return self.db.select(CONTAINER_FILES, "container_id = ?", [container_id])

    def list_files(
        self,
        container_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[ContainerFileRecord]:
        self.get_container(container_id)
        return self.db.page(
            CONTAINER_FILES,
            {"container_id": container_id},
            limit=limit,
            order=order,
            after=after,
            before=before,
        )

    def delete_file(self, container_id: str, file_id: str) -> ContainerFileRecord:
        with self.db.write():
            record = self.get_file(container_id, file_id)
            self.db.delete(CONTAINER_FILES, file_id, {"container_id": container_id})
        if record.stored_copy:
            self.copies.remove(record.id)
        return record
