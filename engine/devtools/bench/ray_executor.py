"""`--executor ray`: the same tasks on Ray. Each worker is an actor that opens the suite's
environment (engine, model, kernels) in its own process on first use and runs one task at a
time in a sandbox session there, returning the task's JSON line; the driver gathers the lines
as they come. An actor that dies (its process crashed) makes its task an error record and is
replaced; the suite goes on.

Ray is an optional dependency (`pip install 'airlock[ray]'`). The cluster is the one named by
$RAY_ADDRESS; without it a local one is started with `num_cpus=workers` (and shut down after).
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Sequence
from typing import Any

from .executors import OnRecord, effective_workers, run_guarded
from .records import TaskRecord
from .suite import BenchTask, Environment, Suite


def import_ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as error:
        raise RuntimeError(
            "--executor ray needs the 'ray' package: pip install 'airlock[ray]' (or 'ray>=2.9')"
        ) from error


def ray_version() -> str | None:
    try:
        return str(import_ray().__version__)
    except RuntimeError:
        return None


class BenchActor:
    """One Ray worker, an async actor: Ray runs its methods on the actor's event loop, one
    at a time (max_concurrency=1); the suite's environment is made there on first use."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.env: Environment | None = None

    async def run(self, task: BenchTask) -> dict[str, Any]:
        if self.env is None:
            self.env = await self.suite.open()
        record = await run_guarded(self.suite, self.env, task)
        record.detail["worker_pid"] = os.getpid()
        return record.to_json()

    async def close(self) -> bool:
        if self.env is not None:
            await self.env.aclose()
            self.env = None
        return True


def run_ray(suite: Suite, tasks: Sequence[BenchTask], workers: int, on_record: OnRecord) -> None:
    """Blocking: call it off the event loop."""
    ray = import_ray()
    started_here = False
    workers = effective_workers(suite, workers)
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started_here = True
    actor_class = ray.remote(num_cpus=1, max_restarts=0, max_concurrency=1)(BenchActor)
    actors = [actor_class.remote(suite) for _ in range(min(workers, max(1, len(tasks))))]
    try:
        _gather(ray, actor_class, suite, actors, list(tasks), on_record)
    finally:
        for actor in actors:
            with contextlib.suppress(Exception):  # a dead actor has nothing left to close
                ray.get(actor.close.remote(), timeout=120)
            ray.kill(actor)
        if started_here:
            ray.shutdown()


def _gather(
    ray: Any,
    actor_class: Any,
    suite: Suite,
    actors: list[Any],
    queue: list[BenchTask],
    on_record: OnRecord,
) -> None:
    idle = list(actors)
    pending: dict[Any, tuple[Any, BenchTask]] = {}
    queue.reverse()  # pop() from the end takes them in order
    while queue or pending:
        while idle and queue:
            actor, task = idle.pop(), queue.pop()
            pending[actor.run.remote(task)] = (actor, task)
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            actor, task = pending.pop(ref)
            try:
                record = TaskRecord.from_json(ray.get(ref))
            except Exception as error:  # the actor's process died, or Ray failed the call
                record = suite.new_record(task)
                record.outcome = "error"
                record.error = _ray_error(error)
                ray.kill(actor)
                actors.remove(actor)
                actor = actor_class.remote(suite)
                actors.append(actor)
            on_record(record)
            idle.append(actor)


def _ray_error(error: Exception) -> str:
    """The cause's own line (a RayTaskError's text starts with Ray's banner)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"
