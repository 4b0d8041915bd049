"""What every suite is: a picklable description (data path, model spec, limits) that loads its
tasks, and opens, in whichever process runs them, the live objects its tasks need (an engine,
a model) as an `Environment`.

The description travels to Ray workers; the environment is made on the worker, never pickled.
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import engine

from .records import TaskRecord

REPO_ROOT = Path(engine.__file__).resolve().parents[1]
#: The shared benchmark data, beside the repository (never copied into it).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class BenchTask:
    """One task: its id and whatever the suite needs to run it (plain, picklable data)."""

    task_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteOptions:
    #: The model spec for suites that use one (None: the suite's built-in scripted model).
    model: str | None = None
    #: A models config file naming models (for a spec that is such a name).
    models_config: Path | None = None
    #: The data file or folder (None: the suite's default under ../shared/data).
    data: Path | None = None
    #: Per-cell time limit, seconds (None: the suite's default).
    cell_timeout: float | None = None
    #: A task not finished after this many seconds is recorded as an error.
    task_timeout: float = 900.0


class Environment(ABC):
    """The live side of a suite in one process: opened once, runs many tasks, one at a time
    or concurrently (each task in its own thread and kernel)."""

    @abstractmethod
    async def run(self, task: BenchTask) -> TaskRecord:
        """Run one task. May raise: the harness records the exception as the task's error."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the environment holds."""


class Suite(ABC):
    name: ClassVar[str]
    #: Most tasks at once, whatever --workers says (micro-benchmarks run alone).
    max_workers: ClassVar[int | None] = None

    def __init__(self, options: SuiteOptions) -> None:
        self.options = options

    @property
    @abstractmethod
    def data_path(self) -> Path:
        """The data file the tasks come from."""

    @abstractmethod
    def load(self) -> list[BenchTask]:
        """The tasks, in order. FileNotFoundError when the data is missing."""

    @abstractmethod
    async def open(self) -> Environment:
        """The environment for this process."""

    def describe(self) -> dict[str, Any]:
        """The suite's own settings, for config.json."""
        return {"data": str(self.data_path), "data_sha256": file_sha256(self.data_path)}

    @property
    def model_label(self) -> str:
        """The model, as the summary names it."""
        return self.options.model or "built-in script"

    def metrics(self, records: list[TaskRecord]) -> dict[str, Any]:
        """Suite-level figures for the summary (pass rate is the harness's)."""
        return {}

    def new_record(self, task: BenchTask) -> TaskRecord:
        return TaskRecord(task_id=task.task_id, suite=self.name)


def file_sha256(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def sha256_async(path: Path | None) -> str | None:
    return await asyncio.to_thread(file_sha256, path)
