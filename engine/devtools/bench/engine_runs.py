"""One benchmark task through the whole engine: a thread, a run, its steps, and its times.

Times (perf_counter, on the worker):

- model time: the `MeteredBackend`'s sum over the run's model calls (see `metering`);
- execution time: per code cell, from the end of the model call that wrote the cell to the
  terminal event of its `tool_calls` step, as this task's reader of the run's event stream
  receives it. It counts the cell in the kernel, the store writes of the step (milliseconds)
  and, for a thread without files, the start of the thread's kernel before its first cell (a
  thread with files starts its kernel to stage them before the first model call: that start
  is in neither time, only in the wall time). It is read live, so it is late by at most one
  turn of the event loop;
- wall time is the harness's, around the whole task.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.core import Engine, RunHandle
from engine.schemas import (
    MessageCreate,
    Run,
    RunStep,
    ThreadAndRunCreate,
    ThreadCreate,
)

from .metering import CURRENT_METER, TaskMeter
from .records import TaskRecord

# The line that names a Python exception, as IPython's traceback ends ("AssertionError: ...").
_ERROR_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Restarted|Full))"
    r"\b(?::.*)?$"
)
#: What the sandbox writes in a cell's logs when the kernel died or was killed and restarted.
_RESTART_MARKS = ("the kernel was restarted", "the kernel had died")
_TERMINAL_STEP_EVENTS = {
    f"thread.run.step.{s}" for s in ("completed", "failed", "cancelled", "expired")
}


def error_name(logs: str) -> str | None:
    """The last exception named in a cell's logs (the traceback ends them), if any."""
    names = [m.group(1) for line in logs.splitlines() if (m := _ERROR_LINE.match(line.strip()))]
    if names:
        return names[-1]
    return "Traceback" if "Traceback (most recent call last)" in logs else None


def step_logs(step: RunStep) -> tuple[str, str]:
    """(code, logs) of a tool_calls step with one code_interpreter call."""
    details = step.step_details
    assert details.type == "tool_calls"
    code, logs = "", ""
    for call in details.tool_calls:
        if call.type == "code_interpreter":
            code = call.code_interpreter.input
            logs = "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")
    return code, logs


@dataclass(frozen=True)
class Cell:
    code: str
    logs: str
    status: str
    error: str | None

    @property
    def timed_out(self) -> bool:
        return self.error == "TimeoutError"

    @property
    def restarted(self) -> bool:
        return any(mark in self.logs for mark in _RESTART_MARKS)

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status != "completed"


@dataclass
class EngineRun:
    thread_id: str
    run: Run
    steps: list[RunStep]
    cells: list[Cell]
    answer: str
    meter: TaskMeter
    execution_s: float = 0.0
    events: list[str] = field(default_factory=list)

    @property
    def retries_to_success(self) -> int | None:
        """Failing cells before the first that ran clean (None: none did)."""
        for index, cell in enumerate(self.cells):
            if not cell.failed:
                return index
        return None


async def run_prompt(
    engine: Engine, assistant_id: str, prompt: str, *, file_ids: Sequence[str] = ()
) -> EngineRun:
    """Start a thread with `prompt` (and files for the code interpreter), run it to its end.
    The thread's kernel is left running: the caller checks what it needs in it, then ends it
    (`engine.sessions.end(thread_id)`)."""
    meter = TaskMeter()
    token = CURRENT_METER.set(meter)  # copied into the run loop's task at its creation
    try:
        message = MessageCreate.model_validate(
            {
                "role": "user",
                "content": prompt,
                "attachments": [
                    {"file_id": f, "tools": [{"type": "code_interpreter"}]} for f in file_ids
                ],
            }
        )
        thread, handle = await engine.create_thread_and_run(
            ThreadAndRunCreate(assistant_id=assistant_id, thread=ThreadCreate(messages=[message]))
        )
    finally:
        CURRENT_METER.reset(token)
    try:
        return await _follow(engine, thread.id, handle, meter)
    except BaseException:
        await engine.sessions.end(thread.id)
        raise


async def _follow(engine: Engine, thread_id: str, handle: RunHandle, meter: TaskMeter) -> EngineRun:
    execution_s = 0.0
    seen: list[str] = []
    step_started: dict[str, float] = {}
    async for event in handle.events():
        now = time.perf_counter()
        seen.append(event.event)
        if event.data.get("type") != "tool_calls":
            continue
        if event.event == "thread.run.step.created":
            step_started[event.data["id"]] = now
        elif event.event in _TERMINAL_STEP_EVENTS:
            began = meter.last_model_end or step_started.get(event.data["id"], now)
            execution_s += max(0.0, now - began)
    run = await handle.wait()
    steps, answer = await asyncio.to_thread(_steps_and_answer, engine, run)
    cells = []
    for step in steps:
        if step.type == "tool_calls":
            code, logs = step_logs(step)
            cells.append(Cell(code, logs, step.status, error_name(logs)))
    return EngineRun(thread_id, run, steps, cells, answer, meter, execution_s, seen)


def _steps_and_answer(engine: Engine, run: Run) -> tuple[list[RunStep], str]:
    store = engine.store
    steps = store.all_run_steps(run.thread_id, run.id)
    messages = store.all_messages(run.thread_id, run_id=run.id)
    answer = ""
    for message in messages:
        if message.role == "assistant":
            text = message.text
            if text:
                answer = text
    return steps, answer


def fill_record(record: TaskRecord, done: EngineRun) -> None:
    """The fields every engine-run suite fills the same way."""
    record.attempts = len(done.cells)
    record.retries_to_success = done.retries_to_success
    record.timeouts = sum(cell.timed_out for cell in done.cells)
    record.kernel_restarts = sum(cell.restarted for cell in done.cells)
    usage = done.run.usage
    record.tokens_in = usage.prompt_tokens if usage else done.meter.tokens_in
    record.tokens_out = usage.completion_tokens if usage else done.meter.tokens_out
    record.model_s = done.meter.model_s
    record.execution_s = done.execution_s
    record.detail["model_calls"] = done.meter.model_calls
