"""`--executor ray` on a local Ray instance: the same tasks give the same outcomes as the local
executor, each task run in a Ray actor's own sandbox session; a task that kills its kernel stays
that task's failure there too. Skipped when the optional package `ray` is not installed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.devtools.bench import SuiteOptions, TaskRecord, run_suite

pytest.importorskip(
    "ray", reason="the optional package 'ray' is not installed (pip install 'airlock[ray]')"
)


def write_tasks(path: Path) -> Path:
    """HumanEval-format tasks: two pass, one fails its assertion, one kills its kernel."""

    def row(task_id: str, body: str, test: str) -> dict[str, str]:
        return {
            "task_id": task_id,
            "prompt": "def f(x):\n",
            "canonical_solution": body,
            "test": test,
            "entry_point": "f",
        }

    rows = [
        row("R/0", "    return x + 1\n", "def check(c):\n    assert c(1) == 2\n"),
        row("R/wrong", "    return x\n", "def check(c):\n    assert c(1) == 2\n"),
        row("R/crash", "    return x\n", "import os\ndef check(c):\n    os.kill(os.getpid(), 9)\n"),
        row("R/3", "    return 2 * x\n", "def check(c):\n    assert c(2) == 4\n"),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_fix_tasks(path: Path) -> Path:
    test = "def check(c):\n    assert c(2) == 3\n\ncheck(f)"
    rows = [
        {
            "task_id": f"P/{n}",
            "entry_point": "f",
            "declaration": "def f(x):\n",
            "buggy_solution": buggy,
            "canonical_solution": "    return x + 1\n",
            "test": test,
        }
        for n, buggy in enumerate(["    return x\n", "    return x // 0\n", "    return x - 1\n"])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def outcomes(records: list[TaskRecord]) -> dict[str, tuple[str, int, int]]:
    return {r.task_id: (r.outcome, r.attempts, r.kernel_restarts) for r in records}


@pytest.mark.slow
async def test_oracle_on_ray_matches_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local instance, started and stopped
    data = write_tasks(tmp_path / "tasks.jsonl")
    local = await run_suite(
        "humaneval-oracle",
        SuiteOptions(data=data),
        out=tmp_path / "local",
        workers=2,
        progress=False,
    )
    ray = await run_suite(
        "humaneval-oracle",
        SuiteOptions(data=data),
        out=tmp_path / "ray",
        workers=2,
        executor="ray",
        progress=False,
    )
    assert (
        outcomes(ray.records)
        == outcomes(local.records)
        == {
            "R/0": ("pass", 1, 0),
            "R/wrong": ("fail", 1, 0),
            "R/crash": ("fail", 1, 1),
            "R/3": ("pass", 1, 0),
        }
    )
    pids = {r.detail["worker_pid"] for r in ray.records}
    # Run in the actors' processes (at most one per worker), not in this one.
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert (
        json.loads((tmp_path / "ray" / "config.json").read_text())["settings"]["executor"] == "ray"
    )


@pytest.mark.slow
async def test_humanevalfix_on_ray_matches_local_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    data = write_fix_tasks(tmp_path / "pack.jsonl")
    local = await run_suite(
        "humanevalfix", SuiteOptions(data=data), out=tmp_path / "local", workers=2, progress=False
    )
    first = await run_suite(
        "humanevalfix",
        SuiteOptions(data=data),
        out=tmp_path / "ray",
        limit=1,
        workers=2,
        executor="ray",
        progress=False,
    )
    assert first.ran == ["P/0"]
    resumed = await run_suite(
        "humanevalfix",
        SuiteOptions(data=data),
        out=tmp_path / "ray",
        workers=2,
        executor="ray",
        resume=True,
        progress=False,
    )
    assert resumed.ran == ["P/1", "P/2"]
    assert outcomes(resumed.records) == outcomes(local.records)
    assert all(r.outcome == "pass" and r.model_s > 0 for r in resumed.records)
    lines = (tmp_path / "ray" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["task_id"] for line in lines) == ["P/0", "P/1", "P/2"]
