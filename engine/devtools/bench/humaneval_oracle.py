"""`humaneval-oracle`: each HumanEval task's prompt + canonical solution + test +
`check(entry_point)`, run as one cell in a fresh sandbox session. It measures the executor,
not a model: every task should pass (164/164 on HumanEval.jsonl.gz)."""

from __future__ import annotations

import time
from pathlib import Path

from sandbox import AsyncSession, Limits, SandboxConfig

from .jsonl import read_jsonl, require_file
from .records import TaskRecord
from .suite import SHARED_DATA, BenchTask, Environment, Suite

DEFAULT_DATA = SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz"
DEFAULT_CELL_TIMEOUT = 30.0


def oracle_cell(row: dict[str, str]) -> str:
    return (
        f"{row['prompt']}{row['canonical_solution']}\n\n{row['test']}\n\n"
        f"check({row['entry_point']})\n"
    )


class OracleEnvironment(Environment):
    def __init__(self, suite: HumanEvalOracle) -> None:
        self.suite = suite
        timeout = suite.options.cell_timeout or DEFAULT_CELL_TIMEOUT
        self.config = SandboxConfig(limits=Limits(timeout=timeout))

    async def run(self, task: BenchTask) -> TaskRecord:
        record = self.suite.new_record(task)
        started = time.perf_counter()
        session = await AsyncSession.start(self.config)
        try:
            record.detail["kernel_start_s"] = time.perf_counter() - started
            execution = await session.execute(task.data["code"])
        finally:
            await session.close()
        record.attempts = 1
        record.execution_s = execution.duration
        record.timeouts = int(execution.timed_out)
        record.kernel_restarts = int(execution.restart is not None)
        record.detail["isolation"] = str(session.isolation)
        if execution.ok:
            record.outcome, record.retries_to_success = "pass", 0
        else:
            record.outcome = "fail"
            record.error = str(execution.error)
        return record


class HumanEvalOracle(Suite):
    name = "humaneval-oracle"

    @property
    def data_path(self) -> Path:
        return self.options.data or DEFAULT_DATA

    def load(self) -> list[BenchTask]:
        rows = read_jsonl(require_file(self.data_path, "HumanEval data"))
        return [BenchTask(str(row["task_id"]), {"code": oracle_cell(row)}) for row in rows]

    async def open(self) -> Environment:
        return OracleEnvironment(self)

    @property
    def model_label(self) -> str:
        return "none: canonical solutions (measures the executor)"

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "cell_timeout": self.options.cell_timeout or DEFAULT_CELL_TIMEOUT,
        }
