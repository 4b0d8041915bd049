"""`run_suite`: a suite's tasks, `workers` at a time, locally or on Ray, into
`OUT/results.jsonl` (one line per task, written as it ends), then `summary.md`,
`summary.json`, the plots and `config.json`. `resume` skips the tasks already recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .dabench import DABench
from .executors import effective_workers, run_local
from .humaneval_oracle import HumanEvalOracle
from .humanevalfix import HumanEvalFix
from .perf import Perf
from .records import RESULTS_FILE, ResultsWriter, TaskRecord, read_records
from .report import summarize, write_report
from .run_config import build_config, write_config
from .suite import BenchTask, Suite, SuiteOptions

SUITES: dict[str, type[Suite]] = {
    suite.name: suite for suite in (HumanEvalOracle, HumanEvalFix, DABench, Perf)
}
Executor = Literal["local", "ray"]


class BenchError(Exception):
    """A run that cannot start (unknown suite, missing data, results already there)."""


@dataclass
class BenchRun:
    out: Path
    summary: dict[str, Any]
    records: list[TaskRecord]
    #: The tasks this invocation ran (the others were resumed from the results file).
    ran: list[str]


def make_suite(name: str, options: SuiteOptions) -> Suite:
    if name not in SUITES:
        raise BenchError(f"unknown suite {name!r} (known: {', '.join(SUITES)})")
    return SUITES[name](options)


@contextmanager
def progress_bar(enabled: bool, total: int, done: int, label: str) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with progress:
        progress.add_task(label, total=total, completed=done)
        yield progress


@dataclass
class _Plan:
    suite: Suite
    tasks: list[BenchTask]
    todo: list[BenchTask]
    config: dict[str, Any]
    invocation: dict[str, Any]


def select_tasks(
    tasks: list[BenchTask],
    *,
    every: int | None = None,
    ids: list[str] | None = None,
    limit: int | None = None,
) -> list[BenchTask]:
    """A documented subset: every `every`-th task (positions 0, N, 2N... in the data's order),
    then only the named `ids`, then the first `limit` of what is left."""
    if every is not None:
        if every < 1:
            raise BenchError("--every must be at least 1")
        tasks = tasks[::every]
    if ids:
        unknown = sorted(set(ids) - {t.task_id for t in tasks})
        if unknown:
            raise BenchError(f"no such task(s) in the selection: {', '.join(unknown)}")
        wanted = set(ids)
        tasks = [t for t in tasks if t.task_id in wanted]
    return tasks[:limit] if limit is not None else tasks


def _plan(
    suite: Suite,
    out: Path,
    limit: int | None,
    workers: int,
    executor: Executor,
    resume: bool,
    every: int | None = None,
    ids: list[str] | None = None,
) -> _Plan:
    try:
        tasks = suite.load()
    except FileNotFoundError as error:
        raise BenchError(str(error)) from None
    tasks = select_tasks(tasks, every=every, ids=ids, limit=limit)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_FILE
    existing = read_records(results)
    if existing and not resume:
        raise BenchError(
            f"{results} already holds {len(existing)} result(s): pass --resume "
            "to run only the missing tasks, or choose another --out"
        )
    other = sorted({r.suite for r in existing} - {suite.name})
    if other:
        raise BenchError(
            f"{results} holds results of another suite ({', '.join(other)}): choose another --out"
        )
    recorded = {r.task_id for r in existing}
    todo = [t for t in tasks if t.task_id not in recorded]
    config = build_config(
        suite,
        limit=limit,
        workers=workers,
        executor=executor,
        out=out,
        tasks=len(tasks),
        every=every,
        ids=ids,
    )
    invocation: dict[str, Any] = {
        "started_at": config["started_at"],
        "executor": executor,
        "workers": effective_workers(suite, workers),
        "resume": resume,
        "tasks_to_run": len(todo),
    }
    write_config(out / "config.json", config, invocation)
    return _Plan(suite, tasks, todo, config, invocation)


def _finish(
    plan: _Plan, out: Path, wall: float, workers: int, executor: Executor
) -> tuple[dict[str, Any], list[TaskRecord]]:
    suite, tasks, todo = plan.suite, plan.tasks, plan.todo
    wanted = {t.task_id: i for i, t in enumerate(tasks)}
    records = sorted(
        (r for r in read_records(out / RESULTS_FILE) if r.task_id in wanted),
        key=lambda r: wanted[r.task_id],
    )
    plan.invocation["wall_s"] = wall
    write_config(out / "config.json", plan.config, plan.invocation)
    summary = summarize(
        suite.name,
        records,
        suite.metrics(records),
        model=suite.model_label,
        executor=executor,
        workers=effective_workers(suite, workers),
        ran=len(todo),
        skipped=len(tasks) - len(todo),
        invocation_wall_s=wall,
    )
    write_report(out, summary, records)
    return summary, records


async def run_suite(
    suite_name: str,
    options: SuiteOptions,
    *,
    out: Path,
    limit: int | None = None,
    workers: int = 1,
    executor: Executor = "local",
    resume: bool = False,
    progress: bool = True,
    every: int | None = None,
    ids: list[str] | None = None,
) -> BenchRun:
    suite = make_suite(suite_name, options)
    plan = await asyncio.to_thread(_plan, suite, out, limit, workers, executor, resume, every, ids)
    writer = ResultsWriter(out / RESULTS_FILE)
    todo = plan.todo
    started = time.perf_counter()
    with progress_bar(progress, len(plan.tasks), len(plan.tasks) - len(todo), suite.name) as bar:

        def on_record(record: TaskRecord) -> None:
            writer.append(record)
            bar.advance(bar.task_ids[0])

        if todo and executor == "ray":
            from .ray_executor import run_ray

            await asyncio.to_thread(run_ray, suite, todo, workers, on_record)
        elif todo:
            await run_local(suite, todo, workers, on_record)
    wall = time.perf_counter() - started
    summary, records = await asyncio.to_thread(_finish, plan, out, wall, workers, executor)
    return BenchRun(out, summary, records, [t.task_id for t in todo])
