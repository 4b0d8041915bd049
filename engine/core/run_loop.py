"""The run loop: model -> code -> kernel -> output back to the model, until it answers in text.

A failed cell is not a failed run: its traceback goes back to the model, which tries again.
Each code call is a `tool_calls` step, each text a `message_creation` step with its message;
every change is stored before it is announced, and a run always ends in a terminal status,
whatever happens (an exception in here fails the run with `server_error`, it never hangs).

This module holds the outline (`RunLoop.execute`, the conversation's loop, the limits) and the
end of a run; its parts are mixins over one `RunState` (`run_state`): the model calls
(`run_model`), the code calls and the thread's session (`run_cells`) and the final answer
(`run_answer`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from models import ChatMessage, ChatResult, ContextOverflowError, ModelError

from ..schemas import (
    CodeInterpreterTool,
    LastError,
    RunIncompleteDetails,
    ToolChoiceObject,
    now,
)
from .assist import COMPUTE_FIRST
from .conversation import fit_to_budget, message_to_chat, system_message
from .conversation import visible_messages as thread_messages_for
from .run_answer import FinalAnswer
from .run_cells import CodeCalls
from .run_model import ModelCalls
from .run_state import RunDeps
from .sessions import StagedFile

__all__ = ["RunDeps", "RunLoop"]

log = logging.getLogger(__name__)


class RunLoop(ModelCalls, CodeCalls, FinalAnswer):
    """One run, from `queued` to its terminal status: `await RunLoop(deps, handle).execute()`."""

    # ------------------------------------------------------------ outline

    async def execute(self) -> None:
        watcher = asyncio.create_task(self._stop_on_cancel())
        timer: asyncio.TimerHandle | None = None
        try:
            self._emit_object("thread.run.queued", self.run)
            if self.handle.cancel_requested.is_set():
                await self._finish("cancelled")
                return
            started = now()
            in_progress = await self._db(
                self.store.start_run,
                self.run.model_copy(
                    update={
                        "status": "in_progress",
                        "started_at": started,
                        "expires_at": started + int(self.limits.max_wall_seconds),
                    }
                ),
            )
            if in_progress is None or self.handle.cancel_requested.is_set():
                await self._finish("cancelled")  # cancelled before it started
                return
            self.run = self.handle.run = in_progress
            self._emit_object("thread.run.in_progress", self.run)
            loop = asyncio.get_running_loop()
            self.deadline = loop.time() + self.limits.max_wall_seconds
            timer = loop.call_at(self.deadline, self._expire)
            outcome = await self._loop()
            await self._finish(*outcome)
        except Exception as error:  # a bug, or the store failing: fail the run, never hang
            log.exception("run %s failed", self.run.id)
            try:
                await self._finish(
                    "failed",
                    LastError(
                        code="server_error",
                        message=f"Airlock failed: {type(error).__name__}: {error}",
                    ),
                )
            except Exception:
                log.exception("run %s: could not record its failure", self.run.id)
        finally:
            if timer is not None:
                timer.cancel()
            watcher.cancel()
            self.handle.finish()

    async def _loop(self) -> tuple[str, LastError | None, str | None]:
        """The conversation with the model; returns (status, last error, incomplete reason)."""
        assistant = await self._db(self.store.get_assistant, self.run.assistant_id)
        thread = await self._db(self.store.get_thread, self.run.thread_id)
        model = await self.deps.models.resolve(self.run.model)
        self.coach.may_rewind = not model.replays_by_position
        messages = await self._db(self.store.all_messages, self.run.thread_id)
        # A limit of 0 code calls lets the model answer, in text only.
        code_enabled = self._code_enabled() and self.limits.max_code_calls > 0
        self.file_ids = [
            *self._resource_files(assistant.tool_resources),
            *self._resource_files(thread.tool_resources),
            *(f for m in messages for f in m.code_interpreter_file_ids),
        ]
        staged: list[StagedFile] = []
        if code_enabled and self.file_ids:
            staged = await self._stage_files()
        by_id = {f.file_id: f for f in staged}
        previews = await self._previews(staged) if staged else {}
        system = system_message(self.run, staged, code_enabled, previews)
        history = [message_to_chat(m, by_id) for m in thread_messages_for(messages, self.run)]
        if not history:
            history = [ChatMessage.user("(no message)")]
        self.coach.question = next((m.content for m in reversed(history) if m.role == "user"), "")
        budget = min(
            self.limits.prompt_token_budget,
            self.run.max_prompt_tokens or self.limits.prompt_token_budget,
        )
        if model.context_window is not None:  # room left for the reply
            budget = max(256, min(budget, model.context_window - self.limits.max_tokens_per_call))
        while True:
            if self.stop.is_set():
                return self._stopped()
            if (reason := self._limit_reached()) is not None:
                return "incomplete", None, reason
            code_tool = self.coach.code_tool(
                code_enabled,
                first_call=self.code_calls == 0,
                required=self._code_required(),
                has_files=bool(staged),
            )
            conversation = fit_to_budget(system, history, self.turns, budget)
            try:
                result = await self._call_model(model, conversation, code_tool)
            except ContextOverflowError as error:
                await self.record.close_open("incomplete")
                log.warning("run %s: %s", self.run.id, error)
                return "incomplete", None, "max_prompt_tokens"
            except ModelError as error:
                return "failed", LastError(code="server_error", message=str(error)), None
            if self.stop.is_set():
                return self._stopped()
            if result.code is None:
                if self.coach.needs_computing(
                    code_enabled=code_enabled, has_files=bool(staged), code_calls=self.code_calls
                ):
                    await self._send_back(result, COMPUTE_FIRST)
                    continue
                await self._answer(result)
                return "completed", None, None
            execution = await self._code_call(result)
            if self.stop.is_set():
                return self._stopped()
            self.coach.outcome(execution)
            if execution.ok:
                self.failures_in_a_row = 0
            else:
                self.failures_in_a_row += 1
                if self.failures_in_a_row >= self.limits.max_consecutive_failures:
                    message = (
                        f"The code failed {self.failures_in_a_row} times in a row; the "
                        f"last error: {self.coach.last_error or execution.error}"
                    )
                    return "failed", LastError(code="server_error", message=message), None

    async def _send_back(self, result: ChatResult, request: str) -> None:
        """Keep a text reply as an intermediate message and ask the model again."""
        if result.text and self.record.open_message is None:
            await self.record.ensure_message(result.text)
        await self.record.close_message(usage=self._last_usage)
        self.turns.append(ChatMessage.assistant(result.text))
        self.turns.append(ChatMessage.user(request))

    def _stopped(self) -> tuple[str, LastError | None, str | None]:
        if self.expired:
            message = f"The run exceeded its time limit of {self.limits.max_wall_seconds:g} s."
            return "expired", LastError(code="server_error", message=message), None
        return "cancelled", None, None

    def _limit_reached(self) -> str | None:
        if self.code_calls >= self.limits.max_code_calls > 0:
            return "max_code_calls"
        run = self.run
        if run.max_completion_tokens and self.usage.completion_tokens >= run.max_completion_tokens:
            return "max_completion_tokens"
        if run.max_prompt_tokens and self.prompt_tokens_sent >= run.max_prompt_tokens:
            return "max_prompt_tokens"
        if self.limits.max_run_tokens and self.usage.total_tokens >= self.limits.max_run_tokens:
            return "max_run_tokens"
        return None

    # ------------------------------------------------------------ the end

    async def _finish(
        self, status: str, last_error: LastError | None = None, incomplete_reason: str | None = None
    ) -> None:
        await self.record.close_open(status)
        try:
            # Whatever the outcome, the files the code wrote are kept.
            await self._db(
                self.generated.store_all,
                self.session
                or self.deps.sessions.get(self.deps.session_key(self.run.thread_id)[0]),
            )
        except Exception:  # the run still ends; its files are what is lost
            log.exception("run %s: could not keep the files its code wrote", self.run.id)
        ended = now()
        update: dict[str, Any] = {
            "status": status,
            "expires_at": None,
            "usage": self.usage,
            "last_error": last_error,
        }
        stamp = {
            "completed": "completed_at",
            "cancelled": "cancelled_at",
            "failed": "failed_at",
            "incomplete": "completed_at",
        }.get(status)
        if stamp:
            update[stamp] = ended
        if incomplete_reason:
            update["incomplete_details"] = RunIncompleteDetails(reason=incomplete_reason)
        self.run = await self._db(self.store.save_run, self.run.model_copy(update=update))
        self.handle.run = self.run
        self.handle.generated_file_ids = self.generated.file_ids
        self.handle.generated_paths = {
            path: file.id for path, file in self.generated.stored.items()
        }
        self._emit_object(f"thread.run.{status}", self.run)

    # ------------------------------------------------------------ helpers

    async def _stop_on_cancel(self) -> None:
        await self.handle.cancel_requested.wait()
        self.stop.set()

    def _code_enabled(self) -> bool:
        if self.run.tool_choice == "none":
            return False
        return any(isinstance(tool, CodeInterpreterTool) for tool in self.run.tools)

    def _code_required(self) -> bool:
        choice = self.run.tool_choice
        return choice == "required" or (
            isinstance(choice, ToolChoiceObject) and choice.type == "code_interpreter"
        )

    @staticmethod
    def _resource_files(resources: Any) -> list[str]:
        return list(resources.code_interpreter_file_ids) if resources is not None else []
