"""The Store: Assistants-shaped objects in SQLite (WAL), file contents on disk beside it.

Layout of a data folder: `airlock.db` (+ `-wal`, `-shm`), `files/<file id>`, `files/.partial/`
and `airlock.lock`. Every write is one transaction; a file's bytes are durable on disk before
its row is committed. Synchronous on purpose: the async run loop calls it through
`asyncio.to_thread`, and the calls are short except uploads, which stream outside the lock.

Crash recovery needs to know that no other process is still running the runs it would end, so
each Store holds a shared `flock` on `airlock.lock`; the first to open a folder nobody else has
open gets it exclusively for a moment and, with it, ends the runs a crash left active and sweeps
partial uploads and orphaned contents.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ..schemas import (
    ACTIVE_RUN_STATUSES,
    FILE_PURPOSES,
    RUN_EXPIRY_SECONDS,
    Assistant,
    AssistantCreate,
    AssistantUpdate,
    Deleted,
    File,
    ListPage,
    Message,
    MessageCreate,
    MessageUpdate,
    Run,
    RunCreate,
    RunStep,
    Thread,
    ThreadAndRunCreate,
    ThreadCreate,
    ThreadUpdate,
    ToolResources,
    TruncationStrategy,
    all_pages,
    now,
)
from .contents import ContentDir, Source
from .database import (
    ASSISTANTS,
    FILES,
    MESSAGES,
    RUN_STEPS,
    RUNS,
    THREADS,
    Database,
    Kind,
    M,
)
from .errors import FileTooLargeError, InvalidRequestError
from .paths import resolve_data_dir
from .recovery import recover_runs

#: The hosted service's per-file limit.
MAX_FILE_BYTES = 512 * 1024 * 1024
DEFAULT_LIMIT = 20
#: The largest page a listing gives (files aside).
PAGE_MAX = 100
FILES_DEFAULT_LIMIT = FILES_MAX_LIMIT = 10_000

_ACTIVE = tuple(sorted(ACTIVE_RUN_STATUSES))
_ACTIVE_SQL = ", ".join("?" * len(_ACTIVE))


def refuse_control_characters(filename: str) -> None:
    """An uploaded file's name may hold no control character: the sandbox's /mnt/data refuses
    them (sandbox.workspace), and they would reach clients and the model verbatim. (Files the
    code wrote keep their names: the kernel made them.)"""
    controls = sorted({f"U+{ord(char):04X}" for char in filename if ord(char) < 0x20})
    if controls:
        raise InvalidRequestError(
            f"The file name {filename!r} contains control characters ({', '.join(controls)}), "
            "which file names in /mnt/data may not; rename the file. Nothing was stored.",
            param="file",
        )


class Store:
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

    # ------------------------------------------------------------ files

    def create_file(
        self,
        content: Source,
        filename: str,
        purpose: str,
        *,
        size: int | None = None,
        expires_after_seconds: int | None = None,
    ) -> File:
        """Stream `content` (a binary reader, an iterable of chunks, or bytes) to disk.

        `size`, when the caller knows it (Content-Length), lets an oversized upload be refused
        before a byte is written; without it the limit is enforced while streaming. Either way
        nothing is left behind on refusal.
        """
        if purpose not in FILE_PURPOSES:
            raise InvalidRequestError(f"unknown purpose {purpose!r}", param="purpose")
        name = os.path.basename(filename.replace("\\", "/"))
        if name in ("", ".", ".."):
            raise InvalidRequestError(f"{filename!r} is not a usable file name", param="file")
        if size is not None and size > self.max_file_bytes:
            raise FileTooLargeError(self.max_file_bytes)
        file = File.model_validate({"bytes": 0, "filename": name, "purpose": purpose})
        written = self.contents.write(file.id, content, self.max_file_bytes)
        file = file.model_copy(update={"bytes": written})
        if expires_after_seconds is not None:
            file = file.model_copy(update={"expires_at": file.created_at + expires_after_seconds})
        try:
            return self.db.insert(FILES, file)
        except BaseException:
            self.contents.remove(file.id)
            raise

    def get_file(self, file_id: str) -> File:
        return self.db.get(FILES, file_id)

    def list_files(
        self,
        *,
        purpose: str | None = None,
        limit: int = FILES_DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[File]:
        scope = {"purpose": purpose} if purpose else {}
        return self.db.page(
            FILES,
            scope,
            limit=limit,
            order=order,
            after=after,
            before=before,
            max_limit=FILES_MAX_LIMIT,
        )

    def open_file_content(self, file_id: str) -> BinaryIO:
        """The content as an open binary file; the caller closes it. Opened under the lock, so
        a concurrent delete cannot pull it away half-read (POSIX keeps unlinked files open)."""
        with self.db.read():
            self.get_file(file_id)
            return self.contents.open(file_id)

    def file_content_path(self, file_id: str) -> Path:
        """Where the content lies, for copying into a sandbox; read-only by convention."""
        self.get_file(file_id)
        return self.contents.path(file_id)

    def delete_file(self, file_id: str) -> Deleted:
        # Row first: a crash between the two leaves an orphan that the next start sweeps.
        self.db.delete(FILES, file_id)
        self.contents.remove(file_id)
        return Deleted(id=file_id, object="file")

    def purge_expired_files(self) -> int:
        with self.db.write() as conn:
            expired = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?", [now()]
                )
            ]
            conn.executemany("DELETE FROM files WHERE id = ?", [[i] for i in expired])
        for file_id in expired:
            self.contents.remove(file_id)
        return len(expired)

    def _file_ids(self) -> set[str]:
        with self.db.read() as conn:
            return {row[0] for row in conn.execute("SELECT id FROM files")}

    def _require_files(self, file_ids: list[str]) -> None:
        for file_id in file_ids:
            self.get_file(file_id)

    # ------------------------------------------------------------ assistants

    def create_assistant(self, body: AssistantCreate) -> Assistant:
        assistant = body.to_assistant()
        self._require_files(_resource_file_ids(assistant.tool_resources))
        return self.db.insert(ASSISTANTS, assistant)

    def get_assistant(self, assistant_id: str) -> Assistant:
        return self.db.get(ASSISTANTS, assistant_id)

    def update_assistant(self, assistant_id: str, body: AssistantUpdate) -> Assistant:
        with self.db.write():
            current = self.get_assistant(assistant_id)
            changes = body.model_dump(include=body.model_fields_set)
            # `model` and `tools` cannot be null on the object; a null there means "unchanged".
            for key in ("model", "tools"):
                if changes.get(key, ...) is None:
                    del changes[key]
            updated = Assistant.model_validate({**current.model_dump(), **changes})
            self._require_files(_resource_file_ids(updated.tool_resources))
            return self.db.replace(ASSISTANTS, updated)

    def delete_assistant(self, assistant_id: str) -> Deleted:
        self.db.delete(ASSISTANTS, assistant_id)
        return Deleted(id=assistant_id, object="assistant.deleted")

    def list_assistants(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[Assistant]:
        return self.db.page(ASSISTANTS, {}, limit=limit, order=order, after=after, before=before)

    # ------------------------------------------------------------ threads

    def create_thread(self, body: ThreadCreate | None = None) -> Thread:
        body = body or ThreadCreate()
        thread = body.to_thread()
        with self.db.write():
            self._require_files(_resource_file_ids(thread.tool_resources))
            self.db.insert(THREADS, thread)
            for message in body.messages:
                self._insert_user_message(thread.id, message)
        return thread

    def get_thread(self, thread_id: str) -> Thread:
        return self.db.get(THREADS, thread_id)

    def update_thread(self, thread_id: str, body: ThreadUpdate) -> Thread:
        with self.db.write():
            current = self.get_thread(thread_id)
            updated = Thread.model_validate(
                {**current.model_dump(), **body.model_dump(include=body.model_fields_set)}
            )
            self._require_files(_resource_file_ids(updated.tool_resources))
            return self.db.replace(THREADS, updated)

    def delete_thread(self, thread_id: str) -> Deleted:
        """Deletes its messages, runs and steps too (foreign keys cascade)."""
        with self.db.write():
            self._refuse_if_active(thread_id, "delete the thread")
            self.db.delete(THREADS, thread_id)
        return Deleted(id=thread_id, object="thread.deleted")

    def list_threads(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[Thread]:
        return self.db.page(THREADS, {}, limit=limit, order=order, after=after, before=before)

    # ------------------------------------------------------------ messages

    def create_message(self, thread_id: str, body: MessageCreate) -> Message:
        """A client's message; refused while a run is active on the thread, as hosted."""
        with self.db.write():
            self.get_thread(thread_id)
            self._refuse_if_active(thread_id, "add messages")
            return self._insert_user_message(thread_id, body)

    def add_message(self, message: Message) -> Message:
        """Store a message built by the run loop (no active-run check)."""
        with self.db.write():
            self.get_thread(message.thread_id)
            return self.db.insert(MESSAGES, message)

    def save_message(self, message: Message) -> Message:
        """Replace a stored message (the run loop filling in content and status)."""
        self._check_scope(MESSAGES, message.id, thread_id=message.thread_id)
        return self.db.replace(MESSAGES, message)

    def get_message(self, thread_id: str, message_id: str) -> Message:
        return self.db.get(MESSAGES, message_id, {"thread_id": thread_id})

    def update_message(self, thread_id: str, message_id: str, body: MessageUpdate) -> Message:
        with self.db.write():
            message = self.get_message(thread_id, message_id)
            if "metadata" in body.model_fields_set:
                message = message.model_copy(update={"metadata": body.metadata})
            return self.db.replace(MESSAGES, message)

    def delete_message(self, thread_id: str, message_id: str) -> Deleted:
        self.db.delete(MESSAGES, message_id, {"thread_id": thread_id})
        return Deleted(id=message_id, object="thread.message.deleted")

    def list_messages(
        self,
        thread_id: str,
        *,
        run_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[Message]:
        self.get_thread(thread_id)
        scope = {"thread_id": thread_id, **({"run_id": run_id} if run_id else {})}
        return self.db.page(MESSAGES, scope, limit=limit, order=order, after=after, before=before)

    def all_messages(self, thread_id: str, *, run_id: str | None = None) -> list[Message]:
        """Every message of the thread (of one run, with `run_id`), oldest first."""
        return all_pages(
            lambda after: self.list_messages(
                thread_id, run_id=run_id, order="asc", limit=PAGE_MAX, after=after
            )
        )

    def _insert_user_message(
        self, thread_id: str, body: MessageCreate, run_id: str | None = None
    ) -> Message:
        message = body.to_message(thread_id, run_id=run_id)
        self._require_files([attachment.file_id for attachment in message.attachments or []])
        return self.db.insert(MESSAGES, message)

    # ------------------------------------------------------------ runs

    def create_run(self, thread_id: str, body: RunCreate) -> Run:
        """A queued run with the assistant's settings under the body's overrides; the body's
        `additional_messages` are added to the thread first, in the same transaction."""
        with self.db.write():
            self.get_thread(thread_id)
            assistant = self.get_assistant(body.assistant_id)
            self._refuse_if_active(thread_id, "start another run")
            for message in body.additional_messages or []:
                self._insert_user_message(thread_id, message)
            return self.db.insert(RUNS, _new_run(thread_id, assistant, body))

    def create_thread_and_run(self, body: ThreadAndRunCreate) -> tuple[Thread, Run]:
        thread_body = body.thread or ThreadCreate()
        if thread_body.tool_resources is None and body.tool_resources is not None:
            thread_body = thread_body.model_copy(update={"tool_resources": body.tool_resources})
        with self.db.write():
            self.get_assistant(body.assistant_id)  # before anything is written
            thread = self.create_thread(thread_body)
            run_body = RunCreate.model_validate(
                body.model_dump(
                    exclude={
                        "thread",
                        "tool_resources",
                        "additional_instructions",
                        "additional_messages",
                    }
                )
            )
            return thread, self.create_run(thread.id, run_body)

    def get_run(self, thread_id: str, run_id: str) -> Run:
        return self.db.get(RUNS, run_id, {"thread_id": thread_id})

    def save_run(self, run: Run) -> Run:
        """Replace a stored run: the run loop's status changes, timestamps, usage. The stored
        metadata is kept: it is the client's (`update_run_metadata`), never the loop's."""
        with self.db.write():
            current = self.get_run(run.thread_id, run.id)
            return self.db.replace(RUNS, run.model_copy(update={"metadata": current.metadata}))

    def update_run_metadata(
        self, thread_id: str, run_id: str, metadata: dict[str, str] | None
    ) -> Run:
        with self.db.write():
            run = self.get_run(thread_id, run_id)
            return self.db.replace(RUNS, run.model_copy(update={"metadata": metadata}))

    def start_run(self, run: Run) -> Run | None:
        """Save `run` (moving to in_progress) only if the stored run is still `queued`; None
        when a cancel got there first."""
        with self.db.write():
            if self.get_run(run.thread_id, run.id).status != "queued":
                return None
            return self.db.replace(RUNS, run)

    def cancel_run(self, thread_id: str, run_id: str) -> Run:
        """Mark an active run `cancelling` (the run loop takes it to `cancelled`); 400 for a
        run that already ended."""
        with self.db.write():
            run = self.get_run(thread_id, run_id)
            if run.status == "cancelling":
                return run
            if not run.is_active:
                raise InvalidRequestError(f"Cannot cancel run with status '{run.status}'.")
            return self.db.replace(RUNS, run.model_copy(update={"status": "cancelling"}))

    def active_run(self, thread_id: str) -> Run | None:
        runs = self.db.select(
            RUNS, f"thread_id = ? AND status IN ({_ACTIVE_SQL})", [thread_id, *_ACTIVE]
        )
        return runs[-1] if runs else None

    def list_runs(
        self,
        thread_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[Run]:
        self.get_thread(thread_id)
        return self.db.page(
            RUNS, {"thread_id": thread_id}, limit=limit, order=order, after=after, before=before
        )

    def _refuse_if_active(self, thread_id: str, action: str) -> None:
        active = self.active_run(thread_id)
        if active is not None:
            raise InvalidRequestError(
                f"Can't {action}: thread {thread_id} has run {active.id} {active.status}."
            )

    # ------------------------------------------------------------ run steps

    def add_run_step(self, step: RunStep) -> RunStep:
        with self.db.write():
            self.get_run(step.thread_id, step.run_id)
            return self.db.insert(RUN_STEPS, step)

    def save_run_step(self, step: RunStep) -> RunStep:
        self._check_scope(RUN_STEPS, step.id, thread_id=step.thread_id, run_id=step.run_id)
        return self.db.replace(RUN_STEPS, step)

    def get_run_step(self, thread_id: str, run_id: str, step_id: str) -> RunStep:
        return self.db.get(RUN_STEPS, step_id, {"thread_id": thread_id, "run_id": run_id})

    def list_run_steps(
        self,
        thread_id: str,
        run_id: str,
        *,
        limit: int = DEFAULT_LIMIT,
        order: str = "desc",
        after: str | None = None,
        before: str | None = None,
    ) -> ListPage[RunStep]:
        self.get_run(thread_id, run_id)
        return self.db.page(
            RUN_STEPS,
            {"thread_id": thread_id, "run_id": run_id},
            limit=limit,
            order=order,
            after=after,
            before=before,
        )

    def all_run_steps(self, thread_id: str, run_id: str) -> list[RunStep]:
        """Every step of the run, in order."""
        return all_pages(
            lambda after: self.list_run_steps(
                thread_id, run_id, order="asc", limit=PAGE_MAX, after=after
            )
        )

    def _check_scope(self, kind: Kind[M], object_id: str, **scope: str) -> None:
        """A save may not move an object to another thread or run."""
        self.db.get(kind, object_id, scope)


def _resource_file_ids(resources: ToolResources | None) -> list[str]:
    return resources.code_interpreter_file_ids if resources else []


def _new_run(thread_id: str, assistant: Assistant, body: RunCreate) -> Run:
    instructions = body.instructions if body.instructions is not None else assistant.instructions
    if body.additional_instructions:
        instructions = "\n\n".join(filter(None, [instructions, body.additional_instructions]))
    created = now()

    def pick(value: object, default: object) -> object:
        return default if value is None else value

    return Run.model_validate(
        {
            "created_at": created,
            "expires_at": created + RUN_EXPIRY_SECONDS,
            "thread_id": thread_id,
            "assistant_id": assistant.id,
            "model": body.model or assistant.model,
            "instructions": instructions,
            "tools": pick(body.tools, assistant.tools),
            "metadata": pick(body.metadata, {}),
            "temperature": pick(body.temperature, assistant.temperature),
            "top_p": pick(body.top_p, assistant.top_p),
            "max_prompt_tokens": body.max_prompt_tokens,
            "max_completion_tokens": body.max_completion_tokens,
            "truncation_strategy": pick(body.truncation_strategy, TruncationStrategy()),
            "tool_choice": pick(body.tool_choice, "auto"),
            "parallel_tool_calls": pick(body.parallel_tool_calls, True),
            "response_format": pick(body.response_format, assistant.response_format),
            "reasoning_effort": pick(body.reasoning_effort, assistant.reasoning_effort),
        }
    )
