"""The run loop: model -> code -> kernel -> output back to the model, until it answers in text.

A failed cell is not a failed run: its traceback goes back to the model, which tries again.
Each code call is a `tool_calls` step, each text a `message_creation` step with its message;
every change is stored before it is announced, and a run always ends in a terminal status,
whatever happens (an exception in here fails the run with `server_error`, it never hangs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from models import (
    ChatMessage,
    ChatResult,
    CodeDelta,
    CodeTool,
    ContextOverflowError,
    ModelBackend,
    ModelError,
    SamplingParams,
    TextDelta,
)
from sandbox import AsyncSession, Execution, SandboxConfig

from ..schemas import (
    CodeInterpreterTool,
    ImageFile,
    ImageFileContent,
    LastError,
    MessageIncompleteDetails,
    RunIncompleteDetails,
    Text,
    TextContent,
    ToolCallsStepDetails,
    ToolChoiceObject,
    Usage,
    now,
)
from ..store import Store
from .annotations import fix_links
from .assist import COMPUTE_FIRST, Coach, describe_files, error_hints, sanity_hints
from .cell_outputs import CellOutputs
from .conversation import fit_to_budget, message_to_chat, system_message
from .conversation import visible_messages as thread_messages_for
from .events import message_delta, object_event, step_delta
from .generated import GeneratedFiles
from .handle import RunHandle
from .model_registry import ModelRegistry
from .run_record import RunRecord
from .sessions import SessionManager, StagedFile, ThreadSession
from .settings import EngineSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunDeps:
    """What a run needs from the engine around it, and nothing more."""

    store: Store
    models: ModelRegistry
    settings: EngineSettings
    sessions: SessionManager
    #: thread id -> the key of the session its code runs in, and that session's config
    session_key: Callable[[str], tuple[str, SandboxConfig | None]]


class RunLoop:
    def __init__(self, deps: RunDeps, handle: RunHandle) -> None:
        self.deps = deps
        self.handle = handle
        self.store = deps.store
        self.limits = deps.settings.limits
        self.coach = Coach(deps.settings.assist, self.limits.max_output_chars)
        self.run = handle.run
        #: This run's code calls and their outputs, as the model sees them.
        self.turns: list[ChatMessage] = []
        self.usage = Usage()
        self.prompt_tokens_sent = 0
        self.code_calls = 0
        self.failures_in_a_row = 0
        #: Set when the run must stop at once: cancelled, or out of wall time.
        self.stop = asyncio.Event()
        self.expired = False
        #: When the run expires, on the event loop's clock.
        self.deadline = float("inf")
        self.session: ThreadSession | None = None
        self.file_ids: list[str] = []
        self.generated = GeneratedFiles(self.store, max_files=deps.settings.max_generated_files)
        self.record = RunRecord(self.store, handle)
        self._last_usage = Usage()

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

    # ------------------------------------------------------------ the model

    async def _call_model(
        self, model: ModelBackend, conversation: list[ChatMessage], code_tool: CodeTool
    ) -> ChatResult:
        """Stream one model call into the run's steps and message; returns its result."""
        run = self.run
        sampling = SamplingParams(
            temperature=self.coach.temperature(run.temperature, self.failures_in_a_row),
            top_p=run.top_p if run.top_p and 0 < run.top_p <= 1 else 1.0,
            max_tokens=self._max_tokens_for_call(),
        )
        result: ChatResult | None = None
        stream = model.stream(
            conversation, code_tool=code_tool, sampling=sampling, cancel=self.stop
        )
        async for item in stream:
            if isinstance(item, TextDelta) and item.text:
                await self.record.ensure_message()
                self.record.add_text(item.text)
            elif isinstance(item, CodeDelta) and item.code:
                step = await self.record.ensure_tool_step()
                self.handle.emit(
                    step_delta(
                        step.id,
                        {"type": "code_interpreter", "code_interpreter": {"input": item.code}},
                    )
                )
            elif isinstance(item, ChatResult):
                result = item
        if result is None:
            raise ModelError(f"{model.name}: the stream ended without a result")
        self.prompt_tokens_sent += result.usage.prompt_tokens
        self._last_usage = Usage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            total_tokens=result.usage.total_tokens,
        )
        self.usage = self.usage + self._last_usage
        return result

    def _max_tokens_for_call(self) -> int:
        cap = self.limits.max_tokens_per_call
        if self.run.max_completion_tokens:
            cap = min(cap, max(1, self.run.max_completion_tokens - self.usage.completion_tokens))
        return cap

    # ------------------------------------------------------------ code calls

    async def _code_call(self, result: ChatResult) -> Execution:
        assert result.code is not None
        if result.text and self.record.open_message is None:
            # Prose that came with the code but streamed no delta (a non-streaming backend).
            await self.record.ensure_message(result.text)
        step = await self.record.record_code(result.code)
        call_id = self.record.call_id(step)
        self.code_calls += 1
        outputs = CellOutputs(step.id, self.handle.emit, self._store_image)
        repeat = self.coach.check_repeat(result.code)
        hints: list[str] = []
        if self.stop.is_set():  # cancelled between the model's answer and the cell
            execution = Execution(code=result.code, cancelled=True)
        elif repeat is not None:
            execution = self.coach.not_run(result.code, repeat)
        else:
            code, answer_lines = self.coach.prepare(result.code)
            pump = asyncio.create_task(outputs.pump())
            try:
                execution, hints = await self._run_cell(code, outputs)
                self.coach.show_hints(execution, hints)
            finally:
                outputs.on_output(None)
                await pump
            if answer_lines:
                execution.code = result.code
                self.coach.note_answer_lines(execution, answer_lines)
        final_outputs = await outputs.finish(execution)
        image_ids = list(outputs.image_ids.values())
        self.record.pending_images.extend(image_ids)
        self.generated.note_changes(execution)
        call = {
            "id": call_id,
            "type": "code_interpreter",
            "code_interpreter": {"input": result.code, "outputs": final_outputs},
        }
        details = ToolCallsStepDetails.model_validate({"tool_calls": [call]})
        if execution.cancelled:
            ended = self.record.ended_step(
                step, "expired" if self.expired else "cancelled", self._last_usage
            )
        else:
            ended = self.record.ended_step(step, "completed", self._last_usage)
        await self.record.save_step(ended.model_copy(update={"step_details": details}))
        self.record.open_tool_step = None
        if repeat is not None and repeat.rewind:
            self.coach.rewind(self.turns, result.code, repeat)
            return execution
        if repeat is not None and repeat.hidden:
            # Asked again as if it had not been sent: a small model copies what it sees.
            return execution
        self.turns.append(ChatMessage.code(result.code, call_id, content=result.text))
        self.turns.append(
            ChatMessage.tool(
                call_id, self.coach.for_model(execution, hints, repeat, len(image_ids))
            )
        )
        return execution

    async def _store_image(self, path: Path) -> str:
        return await self._db(self.generated.store_image, path)

    async def _run_cell(self, code: str, outputs: CellOutputs) -> tuple[Execution, list[str]]:
        """The cell's execution, and hints from the kernel when it failed."""
        thread_session = await self._thread_session()
        async with thread_session.lock:
            thread_session.touch()
            session = thread_session.session
            timeout = session.config.limits.timeout
            remaining = self.deadline - asyncio.get_running_loop().time()
            interrupter = asyncio.create_task(self._interrupt_when_stopped(session))
            try:
                # The run's own timer interrupts the cell at the deadline (an expiry); the
                # cell's timeout, a moment later, is only the backstop.
                execution = await session.execute(
                    code,
                    timeout=max(0.5, min(timeout, remaining + 1.0)),
                    on_output=outputs.on_output,
                )
            finally:
                interrupter.cancel()
                thread_session.touch()
            thread_session.note_written(execution)
            if thread_session.restore_notice:
                execution.notices.insert(0, thread_session.restore_notice)
                thread_session.restore_notice = None
            if execution.timed_out and remaining < timeout:
                self._expire()  # the run's time ran out, not the cell's own limit
            hints: list[str] = []
            if not self.stop.is_set():
                if self.coach.wants_hints(execution):
                    hints = await error_hints(session, code)
                elif self.coach.suspicious(execution):
                    hints = await sanity_hints(session, code)
            return execution, hints

    async def _previews(self, staged: list[StagedFile]) -> dict[str, str]:
        """What each staged file holds, described in the sandbox (kept by the session until a
        cell rewrites the file)."""
        budget = self.coach.policy.file_preview_chars
        if not budget:
            return {}
        thread_session = await self._thread_session()
        missing = [f.path for f in staged if f.path not in thread_session.previews]
        if missing:
            async with thread_session.lock:
                thread_session.touch()
                found = await describe_files(thread_session.session, missing, budget_chars=budget)
            thread_session.previews.update(found)
        return {
            f.path: thread_session.previews[f.path]
            for f in staged
            if f.path in thread_session.previews
        }

    async def _interrupt_when_stopped(self, session: AsyncSession) -> None:
        await self.stop.wait()
        # The stop may come as the cell is being sent, before the session counts it as
        # running: ask again until it does (this task is cancelled when the cell ends).
        while not session.interrupt():  # noqa: ASYNC110 - polls the session, not an event
            await asyncio.sleep(0.05)

    async def _thread_session(self) -> ThreadSession:
        if self.session is None:
            key, config = self.deps.session_key(self.run.thread_id)
            self.session = await self.deps.sessions.acquire(key, config)
            await self._db(self.session.stage, self.store, self.file_ids)
        return self.session

    async def _stage_files(self) -> list[StagedFile]:
        session = await self._thread_session()
        return await self._db(session.stage, self.store, self.file_ids)

    # ------------------------------------------------------------ the answer

    async def _answer(self, result: ChatResult) -> None:
        """The final text: images shown, links annotated, the message and its step done."""
        if self.record.open_message is None:
            await self.record.ensure_message(result.text)  # a backend that streamed no delta
        step, message = await self.record.ensure_message()
        # A run without a cell of its own may still link files of the thread's kernel.
        session = self.session or self.deps.sessions.get(
            self.deps.session_key(self.run.thread_id)[0]
        )
        generated = await self._db(self.generated.store_all, session)
        text = await self._db(self._links_fixed, message.text, session)
        annotations = await self._db(self.generated.annotate, text, session)
        extra_images = (
            []
            if self.generated.images_shown
            else await self._db(self.generated.unlinked_saved_images, text)
        )
        content: list[Any] = list(message.content)
        text_index = len(content) - 1
        content[text_index] = TextContent(text=Text(value=text, annotations=list(annotations)))
        if annotations:
            self.handle.emit(
                message_delta(
                    message.id,
                    [
                        {
                            "index": text_index,
                            "type": "text",
                            "text": {
                                "annotations": [
                                    {"index": i, **a.model_dump(mode="json")}
                                    for i, a in enumerate(annotations)
                                ]
                            },
                        }
                    ],
                )
            )
        for file_id in extra_images:
            self.handle.emit(
                message_delta(
                    message.id,
                    [
                        {
                            "index": len(content),
                            "type": "image_file",
                            "image_file": {"file_id": file_id, "detail": "auto"},
                        }
                    ],
                )
            )
            content.append(ImageFileContent(image_file=ImageFile(file_id=file_id)))
        message = message.model_copy(update={"content": content})
        if result.finish_reason == "length":
            message = message.model_copy(
                update={
                    "status": "incomplete",
                    "incomplete_at": now(),
                    "incomplete_details": MessageIncompleteDetails(reason="max_tokens"),
                }
            )
        self.record.open_message = (step, message)
        await self.record.close_message(usage=self._last_usage)
        log.debug("run %s: %d generated file(s)", self.run.id, len(generated))

    def _links_fixed(self, text: str, session: ThreadSession | None) -> str:
        """The answer with links to files that do not exist corrected or dropped (small
        models link files they meant to write)."""
        known = (
            [*self.generated.changed, *(f.path for f in session.staged.values())]
            if session is not None
            else list(self.generated.changed)
        )
        return fix_links(
            text, lambda path: self.generated.file_id_for(session, path) is not None, known
        )

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

    def _expire(self) -> None:
        self.expired = True
        self.stop.set()

    def _emit_object(self, event: str, obj: Any) -> None:
        self.handle.emit(object_event(event, obj))

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)

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
