"""The bench harness: results.jsonl (one line per task, resume), a task that kills its kernel or
raises recorded as that task's outcome while the suite goes on, the report files, the CLI.

Real kernels; the HumanEval-format task file is built in tmp_path, so nothing here needs
../shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.devtools.bench import BenchError, SuiteOptions, TaskRecord, read_records, run_suite
from engine.devtools.bench.records import ResultsWriter

REPO = Path(__file__).resolve().parents[1]
CLI = (
    "import typer; from engine.devtools.cli import bench; app = typer.Typer(); "
    "app.command('bench')(bench); app()"
)


def oracle_row(task_id: str, body: str, test: str, entry: str = "f") -> dict[str, str]:
    return {
        "task_id": task_id,
        "prompt": f"def {entry}(x):\n",
        "canonical_solution": body,
        "test": test,
        "entry_point": entry,
    }


def write_oracle_tasks(path: Path, *, crash: bool = True) -> Path:
    """Four HumanEval-format tasks: three pass, T/crash kills its own kernel (if asked)."""
    rows = [
        oracle_row("T/0", "    return x + 1\n", "def check(c):\n    assert c(1) == 2\n"),
        oracle_row("T/1", "    return x * 2\n", "def check(c):\n    assert c(3) == 6\n"),
        oracle_row("T/2", "    return -x\n", "def check(c):\n    assert c(5) == -5\n"),
    ]
    if crash:
        rows.insert(
            1,
            oracle_row(
                "T/crash",
                "    return x\n",
                "import os\ndef check(c):\n    os.kill(os.getpid(), 9)\n",
            ),
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def bench_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "XDG_CONFIG_HOME": str(cwd / "xdg-config"),
            "XDG_DATA_HOME": str(cwd / "xdg-data"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=240,
    )


def test_results_file_skips_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path)
    writer.append(TaskRecord("a", "s", "pass"))
    with path.open("a", encoding="utf-8") as out:
        out.write('{"task_id": "b", "suite": "s", "outc')  # a crash in the middle of a write
    writer = ResultsWriter(path)  # a resumed run: the broken line is closed off
    writer.append(TaskRecord("c", "s", "fail", error="wrong"))
    records = read_records(path)
    assert [(r.task_id, r.outcome) for r in records] == [("a", "pass"), ("c", "fail")]
    assert records[1].error == "wrong"


@pytest.mark.slow
async def test_a_task_that_kills_its_kernel_is_its_own_failure(tmp_path: Path) -> None:
    data = write_oracle_tasks(tmp_path / "tasks.jsonl")
    result = await run_suite(
        "humaneval-oracle", SuiteOptions(data=data), out=tmp_path / "out", workers=2, progress=False
    )
    by_id = {r.task_id: r for r in result.records}
    assert [r.task_id for r in result.records] == ["T/0", "T/crash", "T/1", "T/2"]
    crash = by_id["T/crash"]
    assert crash.outcome == "fail" and crash.kernel_restarts == 1
    assert crash.error is not None and "KernelRestarted" in crash.error
    assert crash.retries_to_success is None
    for task_id in ("T/0", "T/1", "T/2"):
        record = by_id[task_id]
        assert record.outcome == "pass" and record.error is None
        assert record.attempts == 1 and record.retries_to_success == 0
        assert record.wall_s >= record.execution_s > 0
    summary = result.summary
    assert (summary["pass"], summary["fail"], summary["error"]) == (3, 1, 0)
    assert summary["kernel_restarts"] == 1
    out = tmp_path / "out"
    for name in (
        "results.jsonl",
        "summary.md",
        "summary.json",
        "config.json",
        "wall_time.png",
        "attempts.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "wall_time.png").read_bytes().startswith(b"\x89PNG")
    assert "| pass / fail / error | 3 / 1 / 0 |" in (out / "summary.md").read_text()
    config = json.loads((out / "config.json").read_text())
    assert config["suite"] == "humaneval-oracle"
    assert config["settings"]["workers"] == 2 and config["settings"]["executor"] == "local"
    assert config["suite_config"]["data"] == str(data)
    assert len(config["suite_config"]["data_sha256"]) == 64
    assert config["versions"]["python"] and config["versions"]["jupyter_client"]
    assert config["git"] is None or len(config["git"]["commit"]) == 40
    assert len(config["invocations"]) == 1 and config["invocations"][0]["wall_s"] > 0


@pytest.mark.slow
def test_resume_through_the_cli_runs_only_the_missing_tasks(tmp_path: Path) -> None:
    data = write_oracle_tasks(tmp_path / "tasks.jsonl", crash=False)
    out = tmp_path / "out"
    first = bench_cli(
        "humaneval-oracle",
        "--data",
        str(data),
        "--limit",
        "2",
        "--out",
        str(out),
        "--no-progress",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert [r["task_id"] for r in lines_of(out / "results.jsonl")] == ["T/0", "T/1"]
    assert "| pass / fail / error | 2 / 0 / 0 |" in first.stdout

    again = bench_cli(
        "humaneval-oracle", "--data", str(data), "--out", str(out), "--no-progress", cwd=tmp_path
    )
    assert again.returncode == 2 and "--resume" in again.stderr  # never overwrites results

    resumed = bench_cli(
        "humaneval-oracle",
        "--data",
        str(data),
        "--out",
        str(out),
        "--resume",
        "--workers",
        "2",
        "--no-progress",
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = lines_of(out / "results.jsonl")
    assert sorted(str(r["task_id"]) for r in lines) == ["T/0", "T/1", "T/2"]  # each once
    assert lines[2]["task_id"] == "T/2"  # only the missing task ran the second time
    assert "3 / 0 / 0" in resumed.stdout and "1 task(s) run, 2 resumed" in resumed.stdout
    config = json.loads((out / "config.json").read_text())
    assert [i["tasks_to_run"] for i in config["invocations"]] == [2, 1]


async def test_missing_data_and_unknown_suite_are_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no HumanEval data at"):
        await run_suite(
            "humaneval-oracle",
            SuiteOptions(data=tmp_path / "none.jsonl"),
            out=tmp_path / "out",
            progress=False,
        )
    with pytest.raises(BenchError, match="unknown suite"):
        await run_suite("nope", SuiteOptions(), out=tmp_path / "out", progress=False)


async def test_results_of_another_suite_are_not_mixed_in(tmp_path: Path) -> None:
    data = write_oracle_tasks(tmp_path / "tasks.jsonl")
    ResultsWriter(tmp_path / "out" / "results.jsonl").append(TaskRecord("T/0", "perf", "pass"))
    with pytest.raises(BenchError, match="another suite"):
        await run_suite(
            "humaneval-oracle",
            SuiteOptions(data=data),
            out=tmp_path / "out",
            resume=True,
            progress=False,
        )


def test_cli_refuses_a_bad_executor_and_suite(tmp_path: Path) -> None:
    bad = bench_cli("humaneval-oracle", "--executor", "spark", cwd=tmp_path)
    assert bad.returncode == 2 and "local or ray" in bad.stderr
    unknown = bench_cli("mmlu", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown suite" in unknown.stderr
    no_model = bench_cli("dabench", "--data", str(tmp_path), cwd=tmp_path)
    assert no_model.returncode == 2 and "no DABench questions" in no_model.stderr
