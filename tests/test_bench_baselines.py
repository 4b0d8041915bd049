"""The DABench baselines' pieces that need no real model: the question subset (Airlock's), the
results and scoring, the single-shot flow with a stand-in model and a real kernel, the
smolagents record from a peer result, and the side-by-side comparison."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.devtools.bench.harness import BenchError
from engine.devtools.bench.records import ResultsWriter, TaskRecord, read_records
from models import (
    ChatMessage,
    CodeTool,
    ModelBackend,
    SamplingParams,
    StreamItem,
    Usage,
)
from models.base import make_result

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "dabench"
needs_data = pytest.mark.skipif(
    not (DATA / "da-dev-questions.jsonl").is_file(), reason=f"DABench data not found at {DATA}"
)


def load(name: str) -> ModuleType:
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


common = load("baseline_common")
single = load("baseline_single_shot")
peer = load("baseline_smolagents")
compare = load("compare_dabench")
replay = load("replay_final_answer")


def question_ids() -> list[str]:
    lines = (DATA / "da-dev-questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [str(json.loads(line)["id"]) for line in lines if line.strip()]


def args_for(out: Path, **options: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    common.add_common_args(parser)
    argv = ["--out", str(out), "--data", str(DATA), "--model", "/nonexistent.gguf"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return parser.parse_args(argv)


@needs_data
def test_every_n_keeps_positions_0_n_2n_of_the_questions_file() -> None:
    ids = question_ids()
    every = common.load_selection(DATA, every=10, ids=None, limit=None)
    assert [t.task_id for t in every] == ids[::10]
    first = common.load_selection(DATA, every=10, ids=None, limit=5)
    assert [t.task_id for t in first] == [ids[0], ids[10], ids[20], ids[30], ids[40]]
    named = common.load_selection(DATA, every=10, ids=[ids[20], ids[0]], limit=None)
    assert [t.task_id for t in named] == [ids[0], ids[20]]  # the file's order, not the list's
    with pytest.raises(BenchError, match="no such task"):
        common.load_selection(DATA, every=10, ids=[ids[1]], limit=None)
    assert first[0].data["labels"] and Path(first[0].data["path"]).is_file()


@needs_data
def test_a_run_refuses_old_results_unless_resumed_and_then_skips_them(tmp_path: Path) -> None:
    plan = common.plan_run("dabench-test", args_for(tmp_path, every=50), {"x": 1})
    assert [t.task_id for t in plan.todo] == question_ids()[::50]
    done = plan.todo[0]
    record = common.new_record("dabench-test", done)
    common.score_into(record, done, "\n".join(f"@{n}[{v}]" for n, v in done.data["labels"]))
    common.write_record(plan, record)
    with pytest.raises(BenchError, match="--resume"):
        common.plan_run("dabench-test", args_for(tmp_path, every=50), {})
    again = common.plan_run("dabench-test", args_for(tmp_path, every=50, resume=True), {})
    assert done.task_id not in {t.task_id for t in again.todo}
    assert len(again.todo) == len(plan.todo) - 1
    with pytest.raises(BenchError, match="holds results of dabench-test"):
        common.plan_run("other-suite", args_for(tmp_path, every=50, resume=True), {})
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["selection"]["every"] == 50 and config["resume"] is True
    summary = common.finish(again, "test", "none", 0.0)
    assert summary["metrics"]["ABQ"] == 1.0 and summary["metrics"]["questions"] == 1
    assert "| 100.00% |" in (tmp_path / "summary.md").read_text()


@needs_data
def test_scoring_is_airlocks_and_the_record_round_trips() -> None:
    task = common.load_selection(DATA, every=None, ids=["0"], limit=None)[0]
    record = common.new_record("s", task)
    common.score_into(record, task, "The mean is 34.65.\n@mean_fare[34.65]")
    assert record.outcome == "pass" and record.detail["right"] == 1
    wrong = common.new_record("s", task)
    wrong.retries_to_success = 0
    common.score_into(wrong, task, "mean_fare = 34.65", note="no answer line")
    assert wrong.outcome == "fail" and wrong.retries_to_success is None
    assert wrong.error == "0/1 sub-answers right (no answer line)"
    assert wrong.detail["sub_answers"][0] == {
        "name": "mean_fare",
        "label": "34.65",
        "answer": None,
        "correct": False,
    }
    assert TaskRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


class TwoReplies(ModelBackend):
    """Replies in order (code, then text), whatever the conversation; keeps what it was sent."""

    name = "two-replies"

    def __init__(self, code: str, text: str) -> None:
        self.replies: list[tuple[str, str | None]] = [("", code), (text, None)]
        self.seen: list[tuple[list[ChatMessage], CodeTool]] = []

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: Any = None,
    ) -> AsyncIterator[StreamItem]:
        self.seen.append((list(messages), code_tool))
        text, code = self.replies[len(self.seen) - 1]
        yield make_result(text, code, Usage(10, 5), "stop", model=self.name)


@needs_data
@pytest.mark.parametrize(
    ("code", "passes", "error"),
    [
        (
            "import pandas as pd\ndf = pd.read_csv('/mnt/data/test_ave.csv')\n"
            "print(round(df['Fare'].mean(), 2))",
            True,
            None,
        ),
        (
            "import pandas as pd\ndf = pd.read_csv('/mnt/data/test_ave.csv')\n"
            "print(df['fare'].mean())",
            False,
            "KeyError: 'fare'",
        ),
    ],
)
async def test_single_shot_runs_the_code_once_then_asks_for_the_answer(
    tmp_path: Path, code: str, passes: bool, error: str | None
) -> None:
    task = common.load_selection(DATA, every=None, ids=["0"], limit=None)[0]
    model = TwoReplies(code, "@mean_fare[34.65]" if passes else "@mean_fare[nan]")
    record = common.new_record(single.SUITE, task)
    args = argparse.Namespace(cell_timeout=30.0, temperature=0.0)
    await single.run_question(model, task, args, record)
    assert [tool for _, tool in model.seen] == ["required", False]
    answer_turns = model.seen[1][0]
    tool_turn = next(m for m in answer_turns if m.role == "tool")
    assert ("34.65" in tool_turn.content) if passes else ("KeyError" in tool_turn.content)
    assert answer_turns[-1].content == single.ANSWER_REQUEST
    assert record.outcome == ("pass" if passes else "fail")
    assert record.attempts == 1 and record.detail["code_calls"] == 1
    assert record.detail["cells"][0]["code"] == code
    assert record.detail["cells"][0]["error"] == error
    assert record.tokens_in == 20 and record.retries_to_success == (0 if passes else None)


def test_the_model_sees_the_head_and_the_longer_tail_of_a_long_output() -> None:
    from sandbox import Execution
    from sandbox.results import StreamChunk

    long = Execution(code="", streams=[StreamChunk("stdout", "a" * 5000 + "END")])
    shown = single.output_for_model(long, limit=300)
    assert shown.startswith("a" * 100) and shown.endswith("END") and "cut" in shown
    assert single.output_for_model(Execution(code="pass")) == "[the code ran without output]"


@needs_data
def test_a_smolagents_result_becomes_a_record_like_airlocks() -> None:
    task = common.load_selection(DATA, every=None, ids=["0"], limit=None)[0]
    step = {
        "step": 1,
        "model_output": "Thought: ...",
        "observations": None,
        "seconds": 3.0,
        "code": "print(df['fare'])",
        "error": "InterpreterError: KeyError: 'fare'",
    }
    fixed = {
        **step,
        "step": 2,
        "code": "final_answer('@mean_fare[34.65]')",
        "error": None,
        "observations": "Last output: @mean_fare[34.65]",
    }
    result = {
        "output": "@mean_fare[34.65]",
        "state": "success",
        "max_steps": 20,
        "steps": [step, fixed],
        "tokens_in": 900,
        "tokens_out": 80,
        "agent_s": 9.0,
        "model_s": 7.5,
        "smolagents": "1.26.0",
    }
    record = common.new_record(peer.SUITE, task)
    peer.fill_from_agent(record, task, result)
    assert record.outcome == "pass" and record.attempts == 2
    assert record.retries_to_success == 1 and record.execution_s == pytest.approx(1.5)
    assert record.detail["cells"][0]["error"].endswith("KeyError: 'fare'")
    late = common.new_record(peer.SUITE, task)
    peer.fill_from_agent(
        late, task, {**result, "state": "max_steps_error", "output": "The mean fare is 34.65"}
    )
    assert late.outcome == "fail" and "max_steps_error" in (late.error or "")
    stopped = common.new_record(peer.SUITE, task)
    peer.fill_partial(stopped, [step])  # a run stopped for its time keeps its cells
    assert stopped.attempts == 1 and stopped.detail["state"] == "stopped"
    assert stopped.outcome == "error" and stopped.detail["right"] == 0


def write_run(path: Path, suite: str, outcomes: dict[str, tuple[int, int, float]]) -> Path:
    """Records with one cell each, clean unless the wall time is 50 s (a pass by a guess)."""
    writer = ResultsWriter(path / "results.jsonl")
    for task_id, (right, total, wall) in outcomes.items():
        passed = right == total
        writer.append(
            TaskRecord(
                task_id=task_id,
                suite=suite,
                attempts=1,
                wall_s=wall,
                outcome="pass" if passed else "fail",
                retries_to_success=0 if passed and wall != 50.0 else None,
                detail={"right": right, "total": total},
            )
        )
    return path


def test_the_comparison_counts_only_common_questions(tmp_path: Path) -> None:
    airlock = write_run(
        tmp_path / "a",
        "dabench",
        {"0": (1, 1, 10.0), "10": (2, 2, 20.0), "20": (0, 1, 30.0), "30": (1, 1, 5.0)},
    )
    single_run = write_run(
        tmp_path / "s",
        "dabench-single-shot",
        {"0": (1, 1, 4.0), "10": (1, 2, 6.0), "20": (0, 1, 8.0)},
    )
    peer_run = write_run(
        tmp_path / "p",
        "dabench-smolagents",
        {"0": (0, 1, 40.0), "10": (2, 2, 50.0), "20": (1, 1, 60.0)},
    )
    out = tmp_path / "cmp.md"
    assert (
        compare.main(
            [str(airlock), str(single_run / "results.jsonl"), str(peer_run), "--markdown", str(out)]
        )
        == 0
    )
    text = out.read_text()
    assert "| question | dabench | dabench-single-shot | dabench-smolagents |" in text
    assert "| 30 (not in totals) | pass 1/1 1c 5s | - | - |" in text
    assert "| 10 | pass 2/2 1c 20s | fail 1/2 1c 6s | pass* 2/2 1c 50s |" in text
    # ABQ on the 3 common questions: 2/3, 1/3, 2/3; UASQ 3/4, 2/4, 3/4.
    assert "| dabench | 66.67% (2/3) | 66.67% | 75.00% | 3/4 | 20.0 | 1 | 0 |" in text
    assert "| dabench-smolagents | 66.67% (2/3) | 66.67% | 75.00% | 3/4 | 50.0 | 1 | 1 |" in text
    assert "| dabench-single-shot | 33.33% (1/3) |" in text
    assert "| dabench-single-shot | -33.3 | -16.7 | -25.0 | - | 10 |" in text
    assert "| dabench-smolagents | +0.0 | +0.0 | +0.0 | 20 | 0 |" in text
    assert read_records(airlock / "results.jsonl")[0].task_id == "0"


def test_a_committed_table_column_joins_new_results_into_one_run(tmp_path: Path) -> None:
    first = write_run(tmp_path / "first", "dabench", {"0": (1, 1, 10.0), "10": (1, 2, 20.0)})
    peer_run = write_run(tmp_path / "p", "dabench-smolagents", {"0": (1, 1, 50.0)})
    table = tmp_path / "old.md"
    assert compare.main([str(first), str(peer_run), "--markdown", str(table)]) == 0
    later = write_run(tmp_path / "later", "dabench", {"10": (2, 2, 7.0), "20": (0, 3, 9.0)})
    run = compare.load_run(f"{table}#dabench+{later}")
    assert run.name == "dabench"
    assert sorted(run.records) == ["0", "10", "20"]
    assert run.records["10"].outcome == "pass" and run.records["10"].wall_s == 7.0
    assert run.records["0"].detail == {"right": 1, "total": 1}
    peer_back = compare.load_run(f"{table}#dabench-smolagents").records
    assert list(peer_back) == ["0"]  # the peer's "-" for question 10 is no record
    assert compare.guessed(peer_back["0"])  # `pass*` read back: a pass without a clean cell
    out = tmp_path / "joined.md"
    assert compare.main([f"{table}#dabench+{later}", "--markdown", str(out)]) == 0
    assert "| dabench | 66.67% (2/3) | 66.67% | 50.00% | 3/6 |" in out.read_text()
    with pytest.raises(FileNotFoundError, match="no column 'nope'"):
        compare.load_run(f"{table}#nope")


def test_the_comparison_needs_one_to_four_existing_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path)] * 5)
    assert compare.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert compare.main([f"{tmp_path / 'a.md'}#x"]) == 2


def test_the_final_answer_cleanup_replays_on_recorded_runs(tmp_path: Path) -> None:
    data = tmp_path / "dabench"
    data.mkdir()
    question = {"id": 7, "question": "Mean fare?", "constraints": "", "file_name": "t.csv"}
    question["format"] = "@mean_fare[mean_fare]"
    (data / "da-dev-questions.jsonl").write_text(json.dumps(question) + "\n")
    (data / "da-dev-labels.jsonl").write_text(
        json.dumps({"id": 7, "common_answers": [["mean_fare", "34.65"]]}) + "\n"
    )
    cells = [
        {"code": "df['fare']", "error": "KeyError", "logs": "KeyError: 'fare'"},
        {"code": "print(...)", "error": None, "logs": "@mean_fare[34.65]\n"},
    ]
    recorded = ResultsWriter(tmp_path / "run" / "results.jsonl")
    recorded.append(
        TaskRecord(
            task_id="7",
            suite="dabench",
            outcome="fail",
            attempts=2,
            detail={"right": 0, "total": 1, "cells": cells, "answer": "The mean is 34.65."},
        )
    )
    out, table = tmp_path / "rescored", tmp_path / "replay.md"
    argv = [str(tmp_path / "run"), "--data", str(data), "--out", str(out)]
    assert replay.main([*argv, "--markdown", str(table)]) == 0
    assert "ABQ as recorded 0/1, with the cleanup 1/1" in table.read_text()
    assert replay.main(argv) == 0  # run again: the file is written anew, not appended to
    [record] = read_records(out / "results.jsonl")
    assert len((out / "results.jsonl").read_text().splitlines()) == 1
    assert record.outcome == "pass" and record.retries_to_success == 1
    assert record.detail["answer"] == "The mean is 34.65.\n\n@mean_fare[34.65]"
