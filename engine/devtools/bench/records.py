"""One line of `results.jsonl` per task, and reading the file back (for `--resume` and reports).

A record is written as soon as its task ends (one `write` of one line, flushed), so a suite
stopped half-way leaves every finished task on disk; a last line cut short by a crash is
ignored when the file is read back, and its task runs again on resume.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

RESULTS_FILE = "results.jsonl"
#: pass: the task's check succeeded; fail: it ran and its check failed; error: the harness
#: could not finish the task (an exception, a dead worker, the task's own time limit).
Outcome = Literal["pass", "fail", "error"]


@dataclass
class TaskRecord:
    task_id: str
    suite: str
    outcome: Outcome = "error"
    #: Code cells run (tool_calls steps for an engine run; 1 for an oracle cell).
    attempts: int = 0
    #: Failing cells before the first cell without an error, for a task that passed;
    #: None for one that did not.
    retries_to_success: int | None = None
    #: Cells stopped by their time limit.
    timeouts: int = 0
    #: Cells during (or before) which the kernel died or was killed and restarted.
    kernel_restarts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    #: Seconds inside the model backend's stream calls (see engine.devtools.bench.metering).
    model_s: float = 0.0
    #: Seconds of the task's cells (see engine.devtools.bench.engine_runs for what is counted).
    execution_s: float = 0.0
    #: Seconds from the task's start to its end (kernel shut down), on the worker.
    wall_s: float = 0.0
    #: Why the task did not pass, or the exception that stopped it; None when it passed.
    error: str | None = None
    #: Suite-specific facts (sub-answer scores, micro-benchmark figures, reasons...).
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_records(path: Path) -> list[TaskRecord]:
    """The records in a results file, in file order; malformed lines (a write cut short) are
    skipped. A task recorded twice keeps its last record."""
    if not path.is_file():
        return []
    by_id: dict[str, TaskRecord] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                data = json.loads(line)
                record = TaskRecord.from_json(data)
            except (ValueError, TypeError):
                continue
            by_id.pop(record.task_id, None)
            by_id[record.task_id] = record
    return list(by_id.values())


class ResultsWriter:
    """Appends records to results.jsonl, one flushed line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()

    def _repair_tail(self) -> None:
        """A file whose last line was cut short gets its newline, so the next record starts
        on a line of its own (the broken line is then skipped on reading)."""
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self.path.open("rb") as existing:
                existing.seek(-1, 2)
                last = existing.read(1)
            if last != b"\n":
                with self.path.open("ab") as out:
                    out.write(b"\n")

    def append(self, record: TaskRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False, default=str) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
