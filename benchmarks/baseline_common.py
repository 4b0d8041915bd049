"""What the DABench baselines share with each other and with `airlock bench dabench`.

The questions, their subset, the prompt and the scoring are Airlock's own (imported from
`engine.devtools.bench`, never copied), so a baseline's figures compare with Airlock's on
exactly the same questions: `--every N` keeps positions 0, N, 2N... of
da-dev-questions.jsonl, `--ids` then keeps the named ones, `--limit` the first K of what is
left (`select_tasks`). Results are
Airlock's `TaskRecord`s, one JSON line per question in `OUT/results.jsonl`, written as each
question ends (`--resume` runs only the missing ones); `summary.md`, `summary.json` and
`config.json` land beside them. `benchmarks/compare_dabench.py` reads any of these files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.devtools.bench.dabench import DEFAULT_DATA, DABench, score
from engine.devtools.bench.harness import BenchError, select_tasks
from engine.devtools.bench.records import RESULTS_FILE, ResultsWriter, TaskRecord, read_records
from engine.devtools.bench.report import summarize
from engine.devtools.bench.run_config import git_commit, model_info, package_versions
from engine.devtools.bench.suite import BenchTask, SuiteOptions

DEFAULT_MODEL = "/tmp/models/qwen2.5-coder-1.5b.gguf"
#: Characters of a cell's code or output kept in a record (head and tail beyond that).
KEEP_CHARS = 20_000


def default_threads() -> int:
    """Every CPU this process may run on (llama.cpp's own default is half of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def add_common_args(
    parser: argparse.ArgumentParser,
    *,
    temperature: float = 0.0,
    temperature_help: str = "default 0: greedy",
) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the GGUF file")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the DABench folder (da-dev-questions.jsonl, labels, tables)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for results.jsonl, summary.md, summary.json, config.json",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=None,
        help="only questions at positions 0, N, 2N... (Airlock's --every)",
    )
    parser.add_argument("--ids", default=None, help="only these question ids (comma-separated)")
    parser.add_argument("--limit", type=int, default=None, help="only the first K selected")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the results already in OUT and run only the missing ones",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="llama.cpp threads (default: every CPU)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=temperature,
        help=f"sampling temperature ({temperature_help})",
    )
    parser.add_argument("--n-ctx", type=int, default=8192, help="the model's context, tokens")


def parse_ids(text: str | None) -> list[str] | None:
    ids = [part.strip() for part in (text or "").split(",") if part.strip()]
    return ids or None


def load_selection(
    data: Path, *, every: int | None, ids: list[str] | None, limit: int | None
) -> list[BenchTask]:
    """The questions Airlock's `airlock bench dabench` selects with the same options."""
    if limit is not None and limit < 1:
        raise BenchError("--limit must be at least 1")
    try:
        tasks = DABench(SuiteOptions(data=data)).load()
    except FileNotFoundError as error:
        raise BenchError(str(error)) from None
    return select_tasks(tasks, every=every, ids=ids, limit=limit)


@dataclass
class Plan:
    suite: str
    out: Path
    tasks: list[BenchTask]
    todo: list[BenchTask]

    @property
    def results(self) -> Path:
        return self.out / RESULTS_FILE


def plan_run(suite: str, args: argparse.Namespace, settings: dict[str, Any]) -> Plan:
    """The selection, what is left of it to run, and config.json; refuses to mix runs."""
    tasks = load_selection(args.data, every=args.every, ids=parse_ids(args.ids), limit=args.limit)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    existing = read_records(out / RESULTS_FILE)
    if existing and not args.resume:
        raise BenchError(
            f"{out / RESULTS_FILE} already holds {len(existing)} result(s): pass "
            "--resume to run only the missing questions, or choose another --out"
        )
    other = sorted({r.suite for r in existing} - {suite})
    if other:
        raise BenchError(f"{out / RESULTS_FILE} holds results of {', '.join(other)}")
    recorded = {r.task_id for r in existing}
    todo = [t for t in tasks if t.task_id not in recorded]
    config = {
        "suite": suite,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model_info(args.model),
        "data": str(args.data),
        "selection": {
            "every": args.every,
            "ids": parse_ids(args.ids),
            "limit": args.limit,
            "questions": [t.task_id for t in tasks],
        },
        "settings": settings,
        "resume": args.resume,
        "to_run": len(todo),
        "versions": package_versions(),
        "git": git_commit(),
        "argv": sys.argv,
    }
    (out / "config.json").write_text(
        json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return Plan(suite, out, tasks, todo)


def new_record(suite: str, task: BenchTask) -> TaskRecord:
    """An errored question still counts its sub-answers (as wrong), as in Airlock's suite."""
    return TaskRecord(
        task_id=task.task_id,
        suite=suite,
        detail={"right": 0, "total": len(task.data["labels"]), "level": task.data.get("level")},
    )


def score_into(record: TaskRecord, task: BenchTask, answer: str, *, note: str = "") -> None:
    """Airlock's scoring of `answer` into the record: outcome, sub-answers, right/total
    (`retries_to_success`, set by the caller, is kept only for a pass, as Airlock does)."""
    scored = score(answer, task.data["labels"])
    right = sum(bool(s["correct"]) for s in scored)
    record.detail.update(answer=answer, sub_answers=scored, right=right, total=len(scored))
    if scored and right == len(scored):
        record.outcome, record.error = "pass", None
    else:
        record.outcome, record.retries_to_success = "fail", None
        record.error = f"{right}/{len(scored)} sub-answers right" + (f" ({note})" if note else "")


def keep(text: str, limit: int = KEEP_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def write_record(plan: Plan, record: TaskRecord) -> None:
    ResultsWriter(plan.results).append(record)
    print(
        f"{record.task_id:>5} {record.outcome:5} {record.detail.get('right', 0)}/"
        f"{record.detail.get('total', 0)} {record.wall_s:7.1f} s  "
        f"cells {record.attempts}  {record.error or ''}",
        flush=True,
    )


def metrics(records: list[TaskRecord]) -> dict[str, Any]:
    """ABQ, PSAQ, UASQ (Airlock's definitions) and the median wall time."""
    figures = DABench(SuiteOptions()).metrics(records)
    if records:
        figures["median_wall_s"] = statistics.median(r.wall_s for r in records)
    return figures


def finish(plan: Plan, title: str, model: str, wall_s: float) -> dict[str, Any]:
    """summary.json and summary.md over the selection's recorded questions; prints the table."""
    order = {t.task_id: i for i, t in enumerate(plan.tasks)}
    records = sorted(
        (r for r in read_records(plan.results) if r.task_id in order),
        key=lambda r: order[r.task_id],
    )
    figures = metrics(records)
    summary = summarize(
        plan.suite,
        records,
        figures,
        model=model,
        ran=len(plan.todo),
        skipped=len(plan.tasks) - len(plan.todo),
        invocation_wall_s=wall_s,
    )
    (plan.out / "summary.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )
    text = summary_markdown(title, model, records, figures, len(plan.tasks))
    (plan.out / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    return summary


def summary_markdown(
    title: str, model: str, records: list[TaskRecord], figures: dict[str, Any], selected: int
) -> str:
    lines = [
        f"# {title}",
        "",
        f"model: `{model}`",
        "",
        f"questions recorded: {len(records)} of {selected} selected",
        "",
    ]
    if figures:
        lines += [
            "| ABQ | PSAQ | UASQ | sub-answers | median wall s |",
            "|---|---|---|---|---|",
            f"| {figures['ABQ']:.2%} | {figures['PSAQ']:.2%} | {figures['UASQ']:.2%} | "
            f"{figures['sub_answers_right']} | {figures['median_wall_s']:.1f} |",
            "",
        ]
    lines += [
        "| question | outcome | right/total | code cells | wall s | why not |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        why = (r.error or "").replace("|", "\\|").replace("\n", " ")[:120]
        lines.append(
            f"| {r.task_id} | {r.outcome} | {r.detail.get('right', 0)}/"
            f"{r.detail.get('total', 0)} | {r.attempts} | {r.wall_s:.1f} | {why} |"
        )
    return "\n".join(lines) + "\n"
