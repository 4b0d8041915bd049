"""The run loop's code calls: the model's code run as a cell in the thread's kernel, its
outputs streamed and recorded as a `tool_calls` step, what the model is told of it added to the
run's turns; and the thread's session, acquired on first use (a part of `RunLoop`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from models import ChatMessage, ChatResult
from sandbox import AsyncSession, Execution

from ..schemas import ToolCallsStepDetails
from .assist import describe_files, error_hints, sanity_hints
from .cell_outputs import CellOutputs
from .run_state import RunState
from .sessions import StagedFile, ThreadSession


class CodeCalls(RunState):
    """The code-call part of `RunLoop`: cells, their outputs, the thread's session."""

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
