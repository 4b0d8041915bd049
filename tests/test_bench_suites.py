"""Each suite on a handful of tasks, with real kernels and scripted models: humanevalfix (the
built-in script, and a model spec given the buggy code), dabench (the labelled-answers oracle
and a scripted model scored per sub-answer, a question whose CSV is missing), humaneval-oracle
and perf. Task files are built in tmp_path; the runs on ../shared data skip when it is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.devtools.bench import SuiteOptions, run_suite
from engine.devtools.bench.dabench import extract_answers, score, sub_answer_correct
from engine.devtools.bench.humanevalfix import FixBackend, Task, error_name
from models import ChatMessage

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HUMANEVAL = SHARED / "humaneval" / "HumanEval.jsonl.gz"
HUMANEVALFIX = SHARED / "humanevalfix" / "humanevalpack.jsonl"
DABENCH = SHARED / "dabench"


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"benchmark data not found: {path}")


def fix_row(task_id: str, buggy: str, fixed: str, test: str) -> dict[str, str]:
    return {
        "task_id": task_id,
        "entry_point": "f",
        "declaration": "def f(x):\n",
        "buggy_solution": buggy,
        "canonical_solution": fixed,
        "test": f"{test}\ncheck(f)",
    }


def write_fix_tasks(path: Path) -> Path:
    """HumanEvalPack-format tasks: an assertion, an endless loop (the cell timeout stops it),
    another error."""
    test = "def check(c):\n    assert c(2) == 3\n"
    rows = [
        fix_row("P/0", "    return x\n", "    return x + 1\n", test),
        fix_row("P/loop", "    while True:\n        pass\n", "    return x + 1\n", test),
        fix_row("P/zero", "    return x // 0\n", "    return x + 1\n", test),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_dabench(folder: Path) -> Path:
    """Three questions on two CSVs; question 3's CSV is missing."""
    tables = folder / "da-dev-tables"
    tables.mkdir(parents=True)
    (tables / "a.csv").write_text("x,y\n1,2\n3,4\n", encoding="utf-8")
    (tables / "b=+1.csv").write_text("v\n2.5\n", encoding="utf-8")
    questions = [
        {
            "id": 1,
            "question": "Mean of x, and the name of column 2?",
            "constraints": "none",
            "format": "@a[mean] @b[name]",
            "file_name": "a.csv",
            "level": "easy",
        },
        {
            "id": 2,
            "question": "The value of v?",
            "constraints": "none",
            "format": "@c[value]",
            "file_name": "b=+1.csv",
            "level": "easy",
        },
        {
            "id": 3,
            "question": "Rows of the missing table?",
            "constraints": "none",
            "format": "@d[rows]",
            "file_name": "missing.csv",
            "level": "hard",
        },
    ]
    labels = [
        {"id": 1, "common_answers": [["a", "2"], ["b", "y"]]},
        {"id": 2, "common_answers": [["c", "2.50"]]},
        {"id": 3, "common_answers": [["d", "9"]]},
    ]
    (folder / "da-dev-questions.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8"
    )
    (folder / "da-dev-labels.jsonl").write_text(
        "".join(json.dumps(label) + "\n" for label in labels), encoding="utf-8"
    )
    return folder


def write_script(path: Path, items: list[dict[str, str]]) -> str:
    path.write_text(json.dumps(items), encoding="utf-8")
    return f"scripted:{path}"


def test_scoring_rules() -> None:
    assert extract_answers("text @a[1] more\n@b[x y]\n@a[2]") == {"a": "2", "b": "x y"}
    assert sub_answer_correct("2.0000000001", "2")
    assert not sub_answer_correct("2.001", "2")
    assert sub_answer_correct(" yes ", "yes") and not sub_answer_correct(None, "1")
    scored = score("@a[1]", [["a", "1.0"], ["b", "2"]])
    assert [s["correct"] for s in scored] == [True, False]
    # A name labelled twice (as question 734 is) is matched value by value, in order.
    twice = score("@r[0.1]\n@r[0.2]", [["r", "0.1"], ["r", "0.2"]])
    assert [s["correct"] for s in twice] == [True, True]
    assert [s["correct"] for s in score("@r[0.2]", [["r", "0.1"], ["r", "0.2"]])] == [False, True]


def test_fix_backend_and_error_names() -> None:
    task = Task("Python/7", "f", "buggy", "fixed")
    assert (
        FixBackend.task_of([ChatMessage.system("s"), ChatMessage.user(task.prompt)]) == "Python/7"
    )
    assert error_name("x\nKeyboardInterrupt: \nTimeoutError: too long") == "TimeoutError"
    assert error_name("KernelRestarted: the kernel died") == "KernelRestarted"
    assert error_name("all good\n") is None


@pytest.mark.slow
async def test_humanevalfix_scripted_retries_once(tmp_path: Path) -> None:
    data = write_fix_tasks(tmp_path / "pack.jsonl")
    result = await run_suite(
        "humanevalfix",
        SuiteOptions(data=data, cell_timeout=2.0),
        out=tmp_path / "out",
        workers=2,
        progress=False,
    )
    by_id = {r.task_id: r for r in result.records}
    assert set(by_id) == {"P/0", "P/loop", "P/zero"}
    for record in result.records:
        assert record.outcome == "pass", record.error
        assert record.attempts == 2 and record.retries_to_success == 1
        assert record.detail["model_calls"] == 3 and record.tokens_in > 0
        assert record.model_s > 0 and record.wall_s > record.execution_s > 0
    assert by_id["P/0"].detail["first_error"] == "AssertionError"
    assert by_id["P/zero"].detail["first_error"] == "ZeroDivisionError"
    loop = by_id["P/loop"]
    assert loop.timeouts == 1 and loop.detail["first_error"] == "TimeoutError"
    assert loop.execution_s >= 2.0  # the loop ran to its cell timeout
    assert result.summary["metrics"]["first_errors"] == {
        "AssertionError": 1,
        "TimeoutError": 1,
        "ZeroDivisionError": 1,
    }


@pytest.mark.slow
async def test_humanevalfix_with_a_model_is_graded_in_the_kernel(tmp_path: Path) -> None:
    """A model spec (here a script: the same answer to every task) is given the buggy code;
    the test run in the thread's kernel after the run decides."""
    data = write_fix_tasks(tmp_path / "pack.jsonl")
    spec = write_script(
        tmp_path / "fix.json",
        [{"code": "def f(x):\n    return x + 1\nprint(f(2))"}, {"text": "Fixed."}],
    )
    result = await run_suite(
        "humanevalfix",
        SuiteOptions(data=data, model=spec),
        out=tmp_path / "good",
        limit=2,
        progress=False,
    )
    assert [(r.task_id, r.outcome, r.attempts) for r in result.records] == [
        ("P/0", "pass", 1),
        ("P/loop", "pass", 1),
    ]
    wrong = write_script(
        tmp_path / "wrong.json", [{"code": "def f(x):\n    return x"}, {"text": "Done."}]
    )
    result = await run_suite(
        "humanevalfix",
        SuiteOptions(data=data, model=wrong),
        out=tmp_path / "bad",
        limit=1,
        progress=False,
    )
    record = result.records[0]
    assert record.outcome == "fail" and record.retries_to_success is None
    assert record.error is not None and "the test fails after the run" in record.error
    config = json.loads((tmp_path / "bad" / "config.json").read_text())
    assert config["model"]["spec"] == wrong
    assert len(config["model"]["sha256"]) == 64


@pytest.mark.slow
async def test_dabench_oracle_and_a_scored_model(tmp_path: Path) -> None:
    folder = write_dabench(tmp_path / "dabench")
    oracle = await run_suite(
        "dabench",
        SuiteOptions(data=folder, model="oracle"),
        out=tmp_path / "oracle",
        workers=2,
        progress=False,
    )
    by_id = {r.task_id: r for r in oracle.records}
    assert by_id["1"].outcome == "pass" and by_id["2"].outcome == "pass"
    assert by_id["1"].attempts == 1  # the oracle's cell read the CSV in /mnt/data
    missing = by_id["3"]  # its CSV is not there: the task's own error, the suite goes on
    assert missing.outcome == "error" and "FileNotFoundError" in str(missing.error)
    metrics = oracle.summary["metrics"]
    assert metrics["ABQ"] == pytest.approx(2 / 3)
    assert metrics["UASQ"] == pytest.approx(3 / 4)
    assert "oracle" in metrics and "ORACLE" in (tmp_path / "oracle" / "summary.md").read_text()

    spec = write_script(
        tmp_path / "answers.json",
        [
            {"code": "import os\nprint(sorted(os.listdir('/mnt/data')))"},
            {"text": "Answers:\n@a[2.0000000001]\n@b[x]\n@c[2.5]"},
        ],
    )
    model = await run_suite(
        "dabench",
        SuiteOptions(data=folder, model=spec),
        out=tmp_path / "model",
        limit=2,
        progress=False,
    )
    first, second = model.records
    assert first.outcome == "fail" and first.detail["right"] == 1  # a right, b wrong
    assert [s["correct"] for s in first.detail["sub_answers"]] == [True, False]
    assert second.outcome == "pass"
    metrics = model.summary["metrics"]
    assert metrics["ABQ"] == pytest.approx(0.5)
    assert metrics["PSAQ"] == pytest.approx(0.75)
    assert metrics["UASQ"] == pytest.approx(2 / 3)


async def test_dabench_needs_a_model(tmp_path: Path) -> None:
    folder = write_dabench(tmp_path / "dabench")
    with pytest.raises(ValueError, match="dabench needs a model"):
        await run_suite("dabench", SuiteOptions(data=folder), out=tmp_path / "out", progress=False)


@pytest.mark.slow
async def test_perf_runs_the_sandbox_micro_benchmarks(tmp_path: Path) -> None:
    result = await run_suite(
        "perf", SuiteOptions(), out=tmp_path / "out", limit=2, workers=4, progress=False
    )
    assert result.summary["workers"] == 1  # micro-benchmarks run alone
    assert [r.outcome for r in result.records] == ["pass", "pass"]
    metrics = result.summary["metrics"]
    assert metrics["cold_start"]["median_ms"] > 0
    assert "cold_start" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.slow
async def test_shared_humaneval_oracle_three_tasks(tmp_path: Path) -> None:
    need(HUMANEVAL)
    result = await run_suite(
        "humaneval-oracle",
        SuiteOptions(data=HUMANEVAL),
        limit=3,
        out=tmp_path / "out",
        progress=False,
    )
    assert [r.outcome for r in result.records] == ["pass"] * 3


@pytest.mark.slow
async def test_shared_humanevalfix_three_tasks(tmp_path: Path) -> None:
    need(HUMANEVALFIX)
    result = await run_suite(
        "humanevalfix",
        SuiteOptions(data=HUMANEVALFIX),
        limit=3,
        out=tmp_path / "out",
        progress=False,
    )
    assert [(r.outcome, r.attempts) for r in result.records] == [("pass", 2)] * 3


@pytest.mark.slow
async def test_shared_dabench_oracle_three_questions(tmp_path: Path) -> None:
    need(DABENCH / "da-dev-questions.jsonl")
    result = await run_suite(
        "dabench",
        SuiteOptions(data=DABENCH, model="oracle"),
        limit=3,
        out=tmp_path / "out",
        progress=False,
    )
    assert [r.outcome for r in result.records] == ["pass"] * 3
    assert result.summary["metrics"]["ABQ"] == 1.0
