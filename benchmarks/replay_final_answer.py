"""What the run loop's final-answer cleanup would have changed on recorded DABench runs.

    .venv/bin/python benchmarks/replay_final_answer.py benchmarks/results/airlock-dev \\
        --data ../shared/data/dabench [--markdown replay.md] [--out RESCORED_DIR]

`Coach.final_text` acts after the model's last word: it leaves out what the answer copied of
Airlock's own notices and reminders (`without_echoes`) and appends the result lines that clean
cells printed in the asked format and the answer left out (`keep_result_lines`). So replaying
it on a recorded run gives what the run would have scored with it: the same cells, the same
answer, the engine's own code applied, scored by the suite's own scorer. Runs recorded with
the cleanup on replay unchanged. Cell logs are kept cut to their head and tail in a results
file, so a result line printed in the middle of a long output is missed (the replay
undercounts). `--out` writes the rescored records as a results file, for
`compare_dabench.py`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.assist import Coach
from engine.core.assist.policy import AssistPolicy
from engine.devtools.bench.dabench import DABench, prompt_for, score
from engine.devtools.bench.records import RESULTS_FILE, ResultsWriter, TaskRecord, read_records
from engine.devtools.bench.suite import SuiteOptions


def replayed_answer(record: TaskRecord, question: str) -> str:
    coach = Coach(AssistPolicy(), max_output_chars=0, question=question)
    for cell in record.detail.get("cells", []):
        if cell.get("error") is None:
            coach.result_lines.collect(cell.get("logs", ""), question)
    return coach.final_text(record.detail.get("answer", ""))[0]


def first_clean(record: TaskRecord) -> int | None:
    """Failed cells before the first clean one (a run's retries_to_success)."""
    cells = record.detail.get("cells", [])
    return next((i for i, cell in enumerate(cells) if cell.get("error") is None), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="a results.jsonl or the folder holding one")
    parser.add_argument("--data", type=Path, required=True, help="the DABench folder")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    parser.add_argument(
        "--out", type=Path, default=None, help="write the rescored records to OUT/results.jsonl"
    )
    args = parser.parse_args(argv)
    file = args.results / RESULTS_FILE if args.results.is_dir() else args.results
    questions = {task.task_id: task.data for task in DABench(SuiteOptions(data=args.data)).load()}
    records = [r for r in read_records(file) if r.task_id in questions and "cells" in r.detail]
    rows = ["| id | before | after |", "|---|---|---|"]
    before = after = 0
    writer = None
    if args.out is not None:
        (args.out / RESULTS_FILE).unlink(missing_ok=True)  # a new file, not appended to
        writer = ResultsWriter(args.out / RESULTS_FILE)
    for record in records:
        question = questions[record.task_id]
        answer = replayed_answer(record, prompt_for(question))
        scored = score(answer, question["labels"])
        right = sum(s["correct"] for s in scored)
        passed = bool(scored) and right == len(scored)
        before += record.outcome == "pass"
        after += passed
        was = f"{record.detail.get('right', 0)}/{record.detail.get('total', 0)}"
        if writer is not None:
            writer.append(
                replace(
                    record,
                    outcome="pass" if passed else "fail",
                    error=None if passed else f"{right}/{len(scored)} sub-answers right",
                    retries_to_success=first_clean(record) if passed else None,
                    detail={
                        **record.detail,
                        "answer": answer,
                        "sub_answers": scored,
                        "right": right,
                        "total": len(scored),
                    },
                )
            )
        if was != f"{right}/{len(scored)}":
            rows.append(
                f"| {record.task_id} | {record.outcome} {was} | "
                f"{'pass' if passed else 'fail'} {right}/{len(scored)} |"
            )
    total = len(records)
    text = "\n".join(
        [
            f"# The final-answer cleanup replayed on {file}",
            "",
            f"questions: {total}; ABQ as recorded {before}/{total}, "
            f"with the cleanup {after}/{total}",
            "",
            "Questions whose score changes:",
            "",
            *rows,
        ]
    )
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
