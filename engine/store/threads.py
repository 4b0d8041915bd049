"""The Store's conversations: assistants, threads and their messages, and the question every
write to a thread asks first: is a run active on it?"""

from __future__ import annotations

from ..schemas import (
    ACTIVE_RUN_STATUSES,
    Assistant,
    AssistantCreate,
    AssistantUpdate,
    Deleted,
    ListPage,
    Message,
    MessageCreate,
    MessageUpdate,
    Run,
    Thread,
    ThreadCreate,
    ThreadUpdate,
    ToolResources,
    all_pages,
)
from .base import DEFAULT_LIMIT, PAGE_MAX
from .database import ASSISTANTS, MESSAGES, RUNS, THREADS
from .errors import InvalidRequestError
from .files import FileStore

_ACTIVE = tuple(sorted(ACTIVE_RUN_STATUSES))
_ACTIVE_SQL = ", ".join("?" * len(_ACTIVE))


class ThreadStore(FileStore):
    """Assistants, threads and messages; `active_run` for a thread. Files named in tool
    resources and attachments must exist (`FileStore`)."""

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

    # ------------------------------------------------------------ the thread's active run

    def active_run(self, thread_id: str) -> Run | None:
        runs = self.db.select(
            RUNS, f"thread_id = ? AND status IN ({_ACTIVE_SQL})", [thread_id, *_ACTIVE]
        )
        return runs[-1] if runs else None

    def _refuse_if_active(self, thread_id: str, action: str) -> None:
        active = self.active_run(thread_id)
        if active is not None:
            raise InvalidRequestError(
                f"Can't {action}: thread {thread_id} has run {active.id} {active.status}."
            )


def _resource_file_ids(resources: ToolResources | None) -> list[str]:
    return resources.code_interpreter_file_ids if resources else []
