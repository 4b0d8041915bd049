"""`perf`: the sandbox and server micro-benchmarks in one report.

The sandbox's are `sandbox_perf`'s (cold start, pool acquire and first analysis cell, first cell
of a cold session, round trip against raw jupyter_client, idle memory, many sessions at once);
each is one task, and they run one at a time whatever --workers says (concurrent runs would
measure each other). The last task, `server`, is `server_perf` in a short form: REST latency
(message, run, poll; the stream) and throughput with 1 and 4 client threads.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

from . import sandbox_perf
from .records import TaskRecord
from .suite import BenchTask, Environment, Suite

#: (task id, function in sandbox_perf, its arguments)
SANDBOX_TASKS: list[tuple[str, str, list[int]]] = [
    ("cold_start", "bench_cold_start", [5]),
    ("pool", "bench_pool", [5]),
    ("first_analysis_cell_cold", "bench_cold_first_cell", [3]),
    ("round_trip", "bench_round_trip", [100]),
    ("memory", "bench_memory", []),
    ("many", "bench_many", [10]),
]
#: The REST server's latency and throughput, in a short form.
SERVER_ARGS: dict[str, Any] = {"iterations": 5, "concurrency": [1, 4], "runs": 8, "pools": [0]}


class PerfEnvironment(Environment):
    def __init__(self, suite: Perf) -> None:
        self.suite = suite

    async def run(self, task: BenchTask) -> TaskRecord:
        record = self.suite.new_record(task)
        if task.task_id == "server":
            return await self._server(record)
        name, args = task.data["function"], task.data["args"]
        function = getattr(sandbox_perf, name)
        started = time.perf_counter()
        figures = await function(*args)
        record.execution_s = time.perf_counter() - started
        record.outcome = "pass"
        record.detail["metrics"] = figures
        record.detail["source"] = sandbox_perf.__name__
        return record

    async def _server(self, record: TaskRecord) -> TaskRecord:
        from . import server_perf  # needs the `openai` SDK (the test extra)

        started = time.perf_counter()
        figures = await asyncio.to_thread(server_perf.run_benchmark, **SERVER_ARGS)
        record.execution_s = time.perf_counter() - started
        record.outcome = "pass" if figures.get("all_completed") else "fail"
        record.detail["metrics"] = figures
        record.detail["source"] = server_perf.__name__
        return record


class Perf(Suite):
    name = "perf"
    max_workers: ClassVar[int | None] = 1

    @property
    def data_path(self) -> Path:
        return Path(sandbox_perf.__file__)

    def load(self) -> list[BenchTask]:
        tasks = [
            BenchTask(task_id, {"function": function, "args": args})
            for task_id, function, args in SANDBOX_TASKS
        ]
        tasks.append(BenchTask("server", {"function": "run_benchmark", "args": SERVER_ARGS}))
        return tasks

    async def open(self) -> Environment:
        return PerfEnvironment(self)

    @property
    def model_label(self) -> str:
        return "none: sandbox and server micro-benchmarks"

    def describe(self) -> dict[str, object]:
        return {"source": sandbox_perf.__name__, "tasks": [list(t) for t in SANDBOX_TASKS]}

    def metrics(self, records: list[TaskRecord]) -> dict[str, Any]:
        return {r.task_id: r.detail.get("metrics") for r in records if r.outcome == "pass"}
