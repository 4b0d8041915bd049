"""The HumanEvalFix benchmark on three tasks: an assertion, an infinite loop, another error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from models import ChatMessage

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "humanevalfix"
# Python/0 fails by assertion, Python/10 loops forever (the cell timeout stops it), Python/25
# raises ZeroDivisionError.
TASKS = ["Python/0", "Python/10", "Python/25"]


def load_bench() -> ModuleType:
    path = REPO_ROOT / "benchmarks" / "bench_humanevalfix.py"
    spec = importlib.util.spec_from_file_location("bench_humanevalfix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
async def test_three_tasks_correct_after_exactly_one_retry() -> None:
    bench = load_bench()
    if not bench.data_file(DATA).is_file():
        pytest.skip(f"HumanEvalFix data not found: {bench.data_file(DATA)}")
    tasks = bench.load_tasks(DATA, task_ids=TASKS)
    summary = await bench.run_benchmark(tasks, concurrency=1, timeout=3.0)
    assert summary["failures"] == []
    assert summary["correct_after_one_retry"] == 3
    assert summary["timeout_tasks"] == ["Python/10"]
    assert summary["first_errors"] == {
        "AssertionError": 1,
        "TimeoutError": 1,
        "ZeroDivisionError": 1,
    }
    for result in summary["results"]:
        assert result["correct"] and result["status"] == "completed"
        assert result["engine_s"] > 0 and result["raw_s"] > 0
    # The loop's time is dominated by the cell timeout, in both the engine and the raw run.
    loop = next(r for r in summary["results"] if r["task_id"] == "Python/10")
    assert loop["engine_s"] >= 3.0 and loop["raw_s"] >= 3.0


def test_marker_picks_the_script() -> None:
    bench = load_bench()
    task = bench.Task("Python/7", "f", "buggy", "fixed")
    assert (
        bench.FixBackend.task_of([ChatMessage.system("s"), ChatMessage.user(task.prompt)])
        == "Python/7"
    )
    assert bench.FixBackend.task_of([ChatMessage.user("no marker")]) is None
    assert bench.error_name("x\nKeyboardInterrupt: \nTimeoutError: too long") == "TimeoutError"
    assert (
        bench.error_name(
            "AssertionError            Traceback (most recent call last)\nAssertionError: "
        )
        == "AssertionError"
    )
    assert bench.error_name("all good\n") is None
