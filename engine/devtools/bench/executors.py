"""Running a suite's tasks in this process: `--workers` at a time on one event loop, each task
in its own thread and kernel. A task that raises, dies with its kernel or outlives its time
limit becomes that task's error record; the suite goes on."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Sequence

from .records import TaskRecord
from .suite import BenchTask, Environment, Suite

OnRecord = Callable[[TaskRecord], None]


def effective_workers(suite: Suite, workers: int) -> int:
    workers = max(1, workers)
    return min(workers, suite.max_workers) if suite.max_workers else workers


async def run_guarded(suite: Suite, env: Environment, task: BenchTask) -> TaskRecord:
    """`env.run(task)`, timed; never raises for what the task does (only when cancelled)."""
    started = time.perf_counter()
    try:
        record = await asyncio.wait_for(env.run(task), suite.options.task_timeout)
    except TimeoutError:
        record = suite.new_record(task)
        record.outcome = "error"
        record.error = f"the task did not finish within {suite.options.task_timeout:g} s"
    except Exception as error:
        record = suite.new_record(task)
        record.outcome = "error"
        record.error = f"{type(error).__name__}: {error}"
        record.detail["traceback"] = traceback.format_exc(limit=8)
    record.wall_s = time.perf_counter() - started
    return record


async def run_local(
    suite: Suite, tasks: Sequence[BenchTask], workers: int, on_record: OnRecord
) -> None:
    queue: asyncio.Queue[BenchTask] = asyncio.Queue()
    for task in tasks:
        queue.put_nowait(task)
    env = await suite.open()
    try:

        async def worker() -> None:
            while not queue.empty():
                task = queue.get_nowait()
                on_record(await run_guarded(suite, env, task))

        await asyncio.gather(*(worker() for _ in range(effective_workers(suite, workers))))
    finally:
        await env.aclose()
