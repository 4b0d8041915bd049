"""HumanEvalFix through the whole engine: a scripted model fixes each task after one traceback.

    python benchmarks/bench_humanevalfix.py [--data ../shared/data/humanevalfix] [--limit N]
        [--tasks Python/0,Python/10] [--concurrency 1] [--timeout 3] [--pool 0] [--json]

For each of the 164 Python tasks of HumanEvalPack, one Airlock run (thread, run loop, store,
sandbox session) with a scripted model: its first call submits ``declaration + buggy_solution +
test`` (the test ends with ``check(entry_point)``; it fails: 155 by assertion, 3 loop forever
and are stopped by the per-cell timeout, 6 raise another error), its second call, made after it
was shown the traceback, submits ``declaration + canonical_solution + test`` (passes), its third
answers in text. One engine serves every task; the model backend picks each run's script by the
task marker in the user message and records every conversation it is sent.

A task is *correct after exactly one retry* when its run is ``completed`` with exactly two
``tool_calls`` steps (the cells as scripted), the first step's logs end in an error and the
second's hold none, and the model's second call received the first cell's traceback.

Timing: the wall time of a task is from creating its thread and run to the end of its session
(kernel shut down). The same two cells are then run on the raw sandbox
(``AsyncSession.start``, ``execute`` twice, ``close``, same limits); engine minus raw is the
engine's overhead per task (the run loop, the store, the model stream). Engine and raw runs of
a task go one after the other, in alternating order, so that load affects both alike. With
``--pool N`` both take their kernels from a pool of N (the engine's ``kernel_pool_size``).
The host may be shared: figures are medians and means, and runs vary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core import Engine, EngineSettings
from engine.devtools.bench.humanevalfix import (  # noqa: F401 - re-exported for the tests
    DATA_FILE,
    DEFAULT_DATA,
    FINAL_TEXT,
    MARKER,
    FixBackend,
    Task,
    TaskResult,
    data_file,
    error_name,
    load_tasks,
    step_logs,
    verify,
)
from engine.schemas import (
    AssistantCreate,
    CodeInterpreterTool,
    MessageCreate,
    ThreadAndRunCreate,
    ThreadCreate,
)
from sandbox import AsyncSession, KernelPool, Limits, SandboxConfig, choose_level

REPO_ROOT = Path(__file__).resolve().parents[1]


async def run_engine(
    engine: Engine, backend: FixBackend, assistant_id: str, task: Task
) -> TaskResult:
    result = TaskResult(task.task_id)
    started = time.perf_counter()
    thread, handle = await engine.create_thread_and_run(
        ThreadAndRunCreate(
            assistant_id=assistant_id,
            thread=ThreadCreate(messages=[MessageCreate(role="user", content=task.prompt)]),
        )
    )
    try:
        run = await handle.wait()
    finally:
        await engine.sessions.end(thread.id)
    result.engine_s = time.perf_counter() - started
    result.status = run.status
    page = await asyncio.to_thread(
        engine.store.list_run_steps, thread.id, run.id, order="asc", limit=100
    )
    verify(
        result,
        task,
        run.status,
        run.last_error.message if run.last_error else None,
        page.data,
        backend.calls[task.task_id],
    )
    return result


async def run_raw(
    task: Task, config: SandboxConfig, pool: KernelPool | None, result: TaskResult
) -> None:
    """The same two cells on the bare sandbox: start (or acquire), execute, execute, close."""
    started = time.perf_counter()
    session = await pool.acquire() if pool is not None else await AsyncSession.start(config)
    try:
        first = await session.execute(task.buggy_cell)
        second = await session.execute(task.fixed_cell)
    finally:
        await session.close()
    result.raw_s = time.perf_counter() - started
    result.raw_first_error = first.error.name if first.error else None
    if second.error is not None:  # the baseline itself must behave as the engine's run
        result.reasons.append(f"raw: the fixed cell failed: {second.error.name}")
        result.correct = False


async def run_benchmark(
    tasks: Sequence[Task],
    *,
    concurrency: int = 1,
    timeout: float = 3.0,
    interrupt_grace: float = 2.0,
    pool_size: int = 0,
    raw: bool = True,
) -> dict[str, Any]:
    config = SandboxConfig(limits=Limits(timeout=timeout, interrupt_grace=interrupt_grace))
    settings = EngineSettings(sandbox=config, kernel_pool_size=pool_size, checkpoint_max_mb=0)
    backend = FixBackend(tasks)
    results: list[TaskResult] = []
    queue: asyncio.Queue[tuple[int, Task]] = asyncio.Queue()
    for item in enumerate(tasks):
        queue.put_nowait(item)
    # Warm-up, untimed: the isolation probe (once per process) and the kernel's files.
    async with await AsyncSession.start(config) as session:
        await session.execute("1 + 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="airlock-humanevalfix-") as data_dir:
        engine = await Engine.open(backend, data_dir, settings=settings)
        raw_pool = KernelPool(config, size=pool_size) if raw and pool_size > 0 else None
        try:
            if raw_pool is not None:
                await raw_pool.start(wait=False)  # as the engine's: filling starts now
            assistant = await asyncio.to_thread(
                engine.store.create_assistant,
                AssistantCreate(
                    model=backend.name, name="HumanEvalFix", tools=[CodeInterpreterTool()]
                ),
            )

            async def worker() -> None:
                while not queue.empty():
                    index, task = queue.get_nowait()
                    if raw and index % 2:  # alternate the order: load affects both alike
                        placeholder = TaskResult(task.task_id)
                        await run_raw(task, config, raw_pool, placeholder)
                        result = await run_engine(engine, backend, assistant.id, task)
                        result.raw_s, result.raw_first_error = (
                            placeholder.raw_s,
                            placeholder.raw_first_error,
                        )
                        result.reasons += placeholder.reasons
                        result.correct = not result.reasons
                    else:
                        result = await run_engine(engine, backend, assistant.id, task)
                        if raw:
                            await run_raw(task, config, raw_pool, result)
                    results.append(result)

            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
            isolation = await _isolation(config)
        finally:
            if raw_pool is not None:
                await raw_pool.close()
            await engine.aclose()
    total = time.perf_counter() - started
    order = {task.task_id: i for i, task in enumerate(tasks)}
    results.sort(key=lambda r: order[r.task_id])
    return summarize(
        results,
        total_s=total,
        concurrency=concurrency,
        timeout=timeout,
        pool_size=pool_size,
        raw=raw,
        isolation=isolation,
    )


async def _isolation(config: SandboxConfig) -> str:
    return str(await asyncio.to_thread(choose_level, config))


def stats(samples: Sequence[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_s": statistics.median(ordered),
        "mean_s": statistics.fmean(ordered),
        "p90_s": p90,
    }


def summarize(results: list[TaskResult], **info: Any) -> dict[str, Any]:
    errors: dict[str, int] = {}
    for r in results:
        errors[r.first_error or "none"] = errors.get(r.first_error or "none", 0) + 1
    loops = [r for r in results if r.timed_out]
    others = [r for r in results if not r.timed_out]
    summary: dict[str, Any] = {
        **info,
        "tasks": len(results),
        "correct_after_one_retry": sum(r.correct for r in results),
        "first_errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])),
        "traceback_sent_whole": sum(r.traceback_whole for r in results),
        "timeout_tasks": [r.task_id for r in loops],
        "engine_wall": stats([r.engine_s for r in results]),
        "failures": [
            {"task_id": r.task_id, "reasons": r.reasons} for r in results if not r.correct
        ],
    }
    if info.get("raw"):
        summary["raw_wall"] = stats([r.raw_s for r in results])
        summary["overhead"] = {
            "without_timeouts": stats([r.overhead_s for r in others]),
            "timeout_tasks": stats([r.overhead_s for r in loops]),
            "all": stats([r.overhead_s for r in results]),
        }
    summary["results"] = [{**asdict(r), "overhead_s": r.overhead_s} for r in results]
    return summary


def print_table(summary: dict[str, Any]) -> None:
    def ms(stat: dict[str, Any], *keys: str) -> str:
        if not stat.get("n"):
            return "-"
        return " / ".join(f"{stat[k] * 1000:.0f}" for k in keys) + " ms"

    rows = [
        (
            "tasks correct after exactly one retry",
            f"{summary['correct_after_one_retry']} / {summary['tasks']}",
            "",
        ),
        (
            "first cell's error",
            ", ".join(f"{k} {v}" for k, v in summary["first_errors"].items()),
            "",
        ),
        (
            "traceback sent to the model whole",
            f"{summary['traceback_sent_whole']}",
            "others cut in the middle, end kept",
        ),
        (
            "timeout tasks",
            ", ".join(summary["timeout_tasks"]) or "-",
            f"cell timeout {summary['timeout']:g} s",
        ),
        (
            "engine wall per task (median / p90)",
            ms(summary["engine_wall"], "median_s", "p90_s"),
            "",
        ),
    ]
    if summary["raw"]:
        over = summary["overhead"]
        rows += [
            (
                "raw sandbox per task (median / p90)",
                ms(summary["raw_wall"], "median_s", "p90_s"),
                "start, 2 cells, close" if not summary["pool_size"] else "pooled, 2 cells, close",
            ),
            (
                "engine - raw, no timeout (median / mean)",
                ms(over["without_timeouts"], "median_s", "mean_s"),
                f"n={over['without_timeouts']['n']}",
            ),
            (
                "engine - raw, timeout tasks (median / mean)",
                ms(over["timeout_tasks"], "median_s", "mean_s"),
                f"n={over['timeout_tasks']['n']}",
            ),
            ("engine - raw, all (median / mean)", ms(over["all"], "median_s", "mean_s"), ""),
        ]
    rows += [
        (
            "total wall",
            f"{summary['total_s']:.1f} s",
            f"concurrency {summary['concurrency']}, isolation {summary['isolation']}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<24} {note}")
    for failure in summary["failures"]:
        print(f"FAILED {failure['task_id']}: {'; '.join(failure['reasons'])}")


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder with {DATA_FILE} (or the file); default: {DEFAULT_DATA}",
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N tasks")
    parser.add_argument("--tasks", default="", help="comma-separated task ids (Python/0,...)")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks in flight at once")
    parser.add_argument("--timeout", type=float, default=3.0, help="per-cell timeout, seconds")
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="kernel pool size (engine and raw); 0: a fresh kernel per task",
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-sandbox baseline")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args(argv)
    if not data_file(args.data).is_file():
        raise SystemExit(f"no HumanEvalFix data at {data_file(args.data)} (pass --data)")
    task_ids = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tasks = load_tasks(args.data, limit=args.limit, task_ids=task_ids)
    summary = await run_benchmark(
        tasks,
        concurrency=args.concurrency,
        timeout=args.timeout,
        pool_size=args.pool,
        raw=not args.no_raw,
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    return summary


if __name__ == "__main__":
    outcome = asyncio.run(main())
    sys.exit(0 if outcome["correct_after_one_retry"] == outcome["tasks"] else 1)
