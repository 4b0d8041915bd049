"""The Store's runs and run steps: a run created with the assistant's settings under the
request's overrides, the run loop's saves, cancels, and the steps each run records."""

from __future__ import annotations

from ..schemas import (
    RUN_EXPIRY_SECONDS,
    Assistant,
    ListPage,
    Run,
    RunCreate,
    RunStep,
    Thread,
    ThreadAndRunCreate,
    ThreadCreate,
    TruncationStrategy,
    all_pages,
    now,
)
from .base import DEFAULT_LIMIT, PAGE_MAX
from .database import RUN_STEPS, RUNS
from .errors import InvalidRequestError
from .threads import ThreadStore


class RunStore(ThreadStore):
    """Runs (on threads of `ThreadStore`) and their steps."""

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
