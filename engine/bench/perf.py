"""`perf`: the sandbox and server micro-benchmarks in one report.

When the repository's `benchmarks/bench_sandbox.py` is there, its functions are imported and
called (cold start, pool acquire and first analysis cell, first cell of a cold session, round
trip against raw jupyter_client, idle memory, many sessions at once); without it, a small set
of its own: cold start, warm acquire, round trip. Each micro-benchmark is one task; they run
one at a time whatever --workers says (concurrent runs would measure each other). The last
task, `server`, is `benchmarks/bench_server.py` in a short form: REST latency (message, run,
poll; the stream) and throughput with 1 and 4 client threads.
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from sandbox import AsyncSession, KernelPool, SandboxConfig

from .records import TaskRecord
from .suite import REPO_ROOT, BenchTask, Environment, Suite

SCRIPT = REPO_ROOT / "benchmarks" / "bench_sandbox.py"
#: (task id, function in bench_sandbox.py, its arguments)
SCRIPT_TASKS: list[tuple[str, str, list[int]]] = [
    ("cold_start", "bench_cold_start", [5]),
    ("pool", "bench_pool", [5]),
    ("first_analysis_cell_cold", "bench_cold_first_cell", [3]),
    ("round_trip", "bench_round_trip", [100]),
    ("memory", "bench_memory", []),
    ("many", "bench_many", [10]),
]
#: The REST server's latency and throughput (benchmarks/bench_server.py), in a short form.
SERVER_SCRIPT = REPO_ROOT / "benchmarks" / "bench_server.py"
SERVER_ARGS: dict[str, Any] = {"iterations": 5, "concurrency": [1, 4], "runs": 8, "pools": [0]}
OWN_TASKS: list[tuple[str, str, list[int]]] = [
    ("cold_start", "cold_start", [5]),
    ("warm_acquire", "warm_acquire", [5]),
    ("round_trip", "round_trip", [100]),
]


def load_script(path: Path) -> ModuleType | None:
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"airlock_{path.stem}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p90_ms": p90 * 1000, "n": len(ordered)}


async def cold_start(rounds: int) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        session = await AsyncSession.start()
        samples.append(time.perf_counter() - started)
        await session.close()
    return summary(samples)


async def warm_acquire(rounds: int) -> dict[str, Any]:
    samples = []
    async with KernelPool(SandboxConfig(), size=1) as pool:
        for _ in range(rounds):
            await pool.start(wait=True)
            started = time.perf_counter()
            session = await pool.acquire()
            samples.append(time.perf_counter() - started)
            await session.close()
    return summary(samples)


async def round_trip(rounds: int) -> dict[str, Any]:
    async with await AsyncSession.start() as session:
        for _ in range(10):
            await session.execute("1 + 1")
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            await session.execute("1 + 1")
            samples.append(time.perf_counter() - started)
    return summary(samples)


OWN: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "cold_start": cold_start,
    "warm_acquire": warm_acquire,
    "round_trip": round_trip,
}


class PerfEnvironment(Environment):
    def __init__(self, suite: Perf) -> None:
        self.suite = suite
        self.script = load_script(SCRIPT) if suite.use_script else None

    async def run(self, task: BenchTask) -> TaskRecord:
        record = self.suite.new_record(task)
        if task.task_id == "server":
            return await self._server(record)
        name, args = task.data["function"], task.data["args"]
        function = getattr(self.script, name) if self.script is not None else OWN[name]
        started = time.perf_counter()
        figures = await function(*args)
        record.execution_s = time.perf_counter() - started
        record.outcome = "pass"
        record.detail["metrics"] = figures
        record.detail["source"] = str(SCRIPT) if self.script is not None else "engine.bench.perf"
        return record

    async def _server(self, record: TaskRecord) -> TaskRecord:
        module = load_script(SERVER_SCRIPT)
        assert module is not None
        started = time.perf_counter()
        figures = await asyncio.to_thread(module.run_benchmark, **SERVER_ARGS)
        record.execution_s = time.perf_counter() - started
        record.outcome = "pass" if figures.get("all_completed") else "fail"
        record.detail["metrics"] = figures
        record.detail["source"] = str(SERVER_SCRIPT)
        return record


class Perf(Suite):
    name = "perf"
    max_workers: ClassVar[int | None] = 1

    @property
    def use_script(self) -> bool:
        return SCRIPT.is_file()

    @property
    def data_path(self) -> Path:
        return SCRIPT

    def load(self) -> list[BenchTask]:
        table = SCRIPT_TASKS if self.use_script else OWN_TASKS
        tasks = [
            BenchTask(task_id, {"function": function, "args": args})
            for task_id, function, args in table
        ]
        if SERVER_SCRIPT.is_file():
            tasks.append(BenchTask("server", {"function": "run_benchmark", "args": SERVER_ARGS}))
        return tasks

    async def open(self) -> Environment:
        return PerfEnvironment(self)

    @property
    def model_label(self) -> str:
        return "none: sandbox and server micro-benchmarks"

    def describe(self) -> dict[str, object]:
        return {
            "source": str(SCRIPT) if self.use_script else "engine.bench.perf",
            "tasks": [list(t) for t in (SCRIPT_TASKS if self.use_script else OWN_TASKS)],
        }

    def metrics(self, records: list[TaskRecord]) -> dict[str, Any]:
        return {r.task_id: r.detail.get("metrics") for r in records if r.outcome == "pass"}
