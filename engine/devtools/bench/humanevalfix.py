"""`humanevalfix`: HumanEvalPack (Python), the retry loop through the whole engine.

With the built-in scripted model (no --model): its first call submits ``declaration +
buggy_solution + test`` (the test ends with ``check(entry_point)``; it fails: 155 by
assertion, 3 loop forever and are stopped by the per-cell timeout, 6 raise another error),
its second call, made after it was shown the traceback, submits ``declaration +
canonical_solution + test``, its third answers in text. The model picks each run's script by
the task marker in the user message. Such a task is *correct after exactly one retry* (and
passes) when its run is ``completed`` with exactly two ``tool_calls`` steps (the cells as
scripted), the first step's logs end in an error and the second's hold none, and the model's
second call received the first cell's traceback (`verify`).

With a real model (--model SPEC), the model is given the buggy function and the tests and is
asked to fix it; the task passes when, after the run, the test (``check(entry_point)``) passes
in the thread's kernel, i.e. on the function as the model last defined it.

In both cases, the test is also run in the thread's kernel after the run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core import EngineSettings
from engine.schemas import RunStep
from models import ChatMessage, ModelBackend
from sandbox import Limits, SandboxConfig

from .engine_env import EngineHost, load_backend
from .engine_runs import error_name, fill_record, run_prompt, step_logs
from .jsonl import read_jsonl
from .metering import KeyedScriptBackend, marker_key
from .records import TaskRecord
from .suite import SHARED_DATA, BenchTask, Environment, Suite

__all__ = [
    "FixBackend",
    "HumanEvalFix",
    "Task",
    "TaskResult",
    "data_file",
    "error_name",
    "load_tasks",
    "step_logs",
    "verify",
]

DEFAULT_DATA = SHARED_DATA / "humanevalfix"
DATA_FILE = "humanevalpack.jsonl"
FINAL_TEXT = "Fixed: the corrected function passes its tests."
MARKER = re.compile(r"\[humanevalfix task ([^\]\s]+)\]")
#: The per-cell limit: the three buggy solutions that loop forever are stopped by it.
DEFAULT_CELL_TIMEOUT = 3.0


@dataclass(frozen=True)
class Task:
    task_id: str
    entry_point: str
    buggy_cell: str
    fixed_cell: str
    #: declaration + buggy_solution, as a model is shown it.
    buggy_code: str = ""
    #: The tests, ending with check(entry_point).
    test: str = ""

    @property
    def prompt(self) -> str:
        return (
            f"The function `{self.entry_point}` fails its tests; run them, fix the bug and "
            f"run them again. [humanevalfix task {self.task_id}]"
        )

    @property
    def model_prompt(self) -> str:
        return (
            f"The Python function `{self.entry_point}` below has a bug. Fix it: define "
            f"the corrected `{self.entry_point}` with the Python tool and run the tests "
            f"to check it; the function you define last is the one graded.\n\n"
            f"```python\n{self.buggy_code}```\n\nThe tests:\n\n"
            f"```python\n{self.test}\n```"
        )

    def script(self) -> list[dict[str, str]]:
        return [{"code": self.buggy_cell}, {"code": self.fixed_cell}, {"text": FINAL_TEXT}]


def data_file(path: Path) -> Path:
    """The jsonl itself, or `humanevalpack.jsonl` in the folder given."""
    return path / DATA_FILE if path.is_dir() else path


def task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        row["task_id"],
        row["entry_point"],
        row["declaration"] + row["buggy_solution"] + row["test"],
        row["declaration"] + row["canonical_solution"] + row["test"],
        row["declaration"] + row["buggy_solution"],
        row["test"],
    )


def load_tasks(
    path: Path, *, limit: int | None = None, task_ids: Sequence[str] | None = None
) -> list[Task]:
    tasks = [task_from_row(row) for row in read_jsonl(data_file(path))]
    if task_ids:
        by_id = {task.task_id: task for task in tasks}
        missing = [t for t in task_ids if t not in by_id]
        if missing:
            raise SystemExit(f"unknown task id(s): {', '.join(missing)}")
        tasks = [by_id[t] for t in task_ids]
    return tasks[:limit] if limit is not None else tasks


class FixBackend(KeyedScriptBackend):
    """The scripted model of every task: the marker in the user message picks the script.
    Every conversation it is sent is kept, per task, in the order of the calls."""

    def __init__(self, tasks: Sequence[Task] = ()) -> None:
        super().__init__("humanevalfix-scripted", marker_key(MARKER))
        for task in tasks:
            self.add_task(task)

    def add_task(self, task: Task) -> None:
        self.add(task.task_id, task.script())

    @staticmethod
    def task_of(messages: Sequence[ChatMessage]) -> str | None:
        for message in reversed(messages):
            if message.role == "user":
                found = MARKER.search(message.content)
                return found.group(1) if found else None
        return None


@dataclass
class TaskResult:
    task_id: str
    correct: bool = False
    #: Why the task is not correct after exactly one retry ("" when it is).
    reasons: list[str] = field(default_factory=list)
    status: str = ""
    #: The exception the buggy cell ended with (TimeoutError for the loops), from its logs.
    first_error: str | None = None
    #: The model was sent the first cell's logs whole (else cut in the middle, end kept).
    traceback_whole: bool = False
    engine_s: float = 0.0
    raw_s: float = 0.0
    raw_first_error: str | None = None

    @property
    def timed_out(self) -> bool:
        return self.first_error == "TimeoutError"

    @property
    def overhead_s(self) -> float:
        return self.engine_s - self.raw_s


def verify(
    result: TaskResult,
    task: Task,
    status: str,
    last_error: str | None,
    steps: list[RunStep],
    calls: list[list[ChatMessage]],
) -> None:
    """Whether a scripted run went exactly as scripted: one failure, one fix, one answer."""
    reasons = result.reasons
    if status != "completed":
        reasons.append(f"run {status}" + (f": {last_error}" if last_error else ""))
    tool_steps = [s for s in steps if s.type == "tool_calls"]
    if len(tool_steps) != 2:
        reasons.append(f"{len(tool_steps)} tool_calls steps, not 2")
    first_logs = ""
    if tool_steps:
        code, first_logs = step_logs(tool_steps[0])
        result.first_error = error_name(first_logs)
        if code != task.buggy_cell:
            reasons.append("the first cell is not the buggy solution")
        if result.first_error is None:
            reasons.append("the buggy cell raised no error")
    if len(tool_steps) >= 2:
        code, logs = step_logs(tool_steps[1])
        if code != task.fixed_cell:
            reasons.append("the second cell is not the canonical solution")
        if (second := error_name(logs)) is not None:
            reasons.append(f"the fixed cell failed: {second}")
    if len(calls) != 3:
        reasons.append(f"{len(calls)} model calls, not 3")
    if calls and any(m.role == "tool" for m in calls[0]):
        reasons.append("the first model call already had a tool output")
    if len(calls) >= 2 and first_logs:
        outputs = [m.content for m in calls[1] if m.role == "tool"]
        # The model is told the error (a digest of the traceback: engine.core.assist), by name.
        first_error = error_name(first_logs)
        if len(outputs) != 1 or first_error is None or first_error not in outputs[0]:
            reasons.append("the second model call was not told the first cell's error")
        else:
            result.traceback_whole = first_logs.rstrip() in outputs[0]
    result.correct = not reasons


class FixEnvironment(Environment):
    def __init__(self, suite: HumanEvalFix, host: EngineHost, scripted: FixBackend | None) -> None:
        self.suite = suite
        self.host = host
        self.scripted = scripted

    async def run(self, bench_task: BenchTask) -> TaskRecord:
        task = Task(bench_task.task_id, **bench_task.data)
        record = self.suite.new_record(bench_task)
        engine = self.host.engine
        if self.scripted is not None:
            self.scripted.add_task(task)
        prompt = task.prompt if self.scripted is not None else task.model_prompt
        done = await run_prompt(engine, self.host.assistant_id, prompt)
        try:
            session = engine.sessions.get(done.thread_id)
            check = None if session is None else await session.session.execute(task.test)
        finally:
            await engine.sessions.end(done.thread_id)
        fill_record(record, done)
        record.detail["run_status"] = done.run.status
        reasons: list[str] = []
        if self.scripted is not None:
            result = TaskResult(task.task_id)
            verify(
                result,
                task,
                done.run.status,
                done.run.last_error.message if done.run.last_error else None,
                done.steps,
                self.scripted.calls[task.task_id],
            )
            reasons += result.reasons
            record.detail.update(
                first_error=result.first_error, traceback_whole=result.traceback_whole
            )
        if check is None:
            reasons.append("no kernel after the run: the model ran no code")
        else:
            record.detail["check_s"] = check.duration
            if not check.ok:
                reasons.append(f"the test fails after the run: {check.error}")
        record.detail["reasons"] = reasons
        record.outcome = "fail" if reasons else "pass"
        record.error = "; ".join(reasons) or None
        if record.outcome != "pass":
            record.retries_to_success = None
        return record

    async def aclose(self) -> None:
        await self.host.aclose()


class HumanEvalFix(Suite):
    name = "humanevalfix"

    @property
    def data_path(self) -> Path:
        return data_file(self.options.data or DEFAULT_DATA)

    def load(self) -> list[BenchTask]:
        if not self.data_path.is_file():
            raise FileNotFoundError(f"no HumanEvalFix data at {self.data_path} (pass --data)")
        return [
            BenchTask(
                t.task_id,
                {
                    "entry_point": t.entry_point,
                    "buggy_cell": t.buggy_cell,
                    "fixed_cell": t.fixed_cell,
                    "buggy_code": t.buggy_code,
                    "test": t.test,
                },
            )
            for t in load_tasks(self.data_path)
        ]

    @property
    def cell_timeout(self) -> float:
        return self.options.cell_timeout or DEFAULT_CELL_TIMEOUT

    async def open(self) -> Environment:
        settings = EngineSettings(
            sandbox=SandboxConfig(limits=Limits(timeout=self.cell_timeout, interrupt_grace=2.0)),
            checkpoint_max_mb=0,  # a task's thread is never resumed
        )
        scripted = FixBackend() if self.options.model is None else None
        backend: ModelBackend = scripted if scripted is not None else load_backend(self.options)
        host = await EngineHost.open(backend, settings, name="HumanEvalFix")
        return FixEnvironment(self, host, scripted)

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "cell_timeout": self.cell_timeout,
            "model_mode": "built-in script (buggy, then canonical after the traceback)"
            if self.options.model is None
            else "model fixes the buggy code",
        }

    def metrics(self, records: list[TaskRecord]) -> dict[str, Any]:
        first: dict[str, int] = {}
        for r in records:
            name = str(r.detail.get("first_error") or "none")
            first[name] = first.get(name, 0) + 1
        return {"first_errors": first} if self.options.model is None else {}
