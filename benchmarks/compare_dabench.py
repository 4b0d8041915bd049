"""DABench runs side by side: Airlock (`airlock bench dabench`) and the baselines
(`baseline_single_shot.py`, `baseline_smolagents.py`), question by question, then the totals.

    .venv/bin/python benchmarks/compare_dabench.py RUN_A [RUN_B ...] [--names a,b,c] \\
        [--markdown comparison.md]

Each run is a results.jsonl, the folder holding one, or a column of a side-by-side table this
script wrote (`report.md#column`: committed reports keep no labels, and results files are not
committed); `A+B` joins sources into one run, a question in both taking B's record. A record
read from a table knows only what its cell shows (outcome, sub-answers, cells, whole seconds).
The totals (ABQ, PSAQ, UASQ with
Airlock's definitions, median wall seconds) are computed over the questions every run recorded,
so they compare the same questions; questions only some runs recorded are listed, not counted.
Differences are in percentage points against the first run. A cell of the table reads
`pass 2/2 3c 41s`: outcome, right/total sub-answers, code cells, wall seconds; `pass*` is a
pass without any cell that ran clean (a guess, or values read from a failure).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_common import metrics

from engine.devtools.bench.records import RESULTS_FILE, TaskRecord, read_records


@dataclass
class Run:
    name: str
    records: dict[str, TaskRecord]


#: A cell of the side-by-side table, as `cell` writes it: `pass* 2/3 4c 41s`.
CELL = re.compile(r"^(pass|fail|error)(\*?) (\d+)/(\d+) (\d+)c (\d+)s$")


def table_records(report: Path, column: str) -> list[TaskRecord]:
    """The questions of one column of a side-by-side table (see `compare`)."""
    header: list[str] | None = None
    records = []
    for line in report.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if line.startswith("| question |"):
                header = cells
                if column not in header:
                    raise FileNotFoundError(f"no column {column!r} in {report}: {header[1:]}")
            continue
        if not line.startswith("|"):
            break  # the table ends at its first other line
        match = CELL.match(cells[header.index(column)])
        if match is None:
            continue  # the separator row, or a question this run did not record
        outcome, star, right, total, attempts, wall = match.groups()
        records.append(
            TaskRecord(
                task_id=cells[0].split()[0],
                suite="dabench",
                outcome=outcome,  # type: ignore[arg-type]  # one of the three, by CELL
                attempts=int(attempts),
                retries_to_success=None if star or outcome != "pass" else 0,
                wall_s=float(wall),
                detail={"right": int(right), "total": int(total)},
            )
        )
    if header is None:
        raise FileNotFoundError(f"no side-by-side table in {report}")
    return records


def source_records(source: str) -> tuple[list[TaskRecord], str]:
    """One source's records and a default name for its run."""
    report, _, column = source.partition("#")
    if column:
        return table_records(Path(report), column), column
    path = Path(source)
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no results file at {file}")
    records = read_records(file)
    suites = sorted({r.suite for r in records})
    return records, suites[0] if len(suites) == 1 else file.parent.name


def load_run(spec: str, name: str | None = None) -> Run:
    """A run from one source or several joined with `+` (a later one wins per question)."""
    records: dict[str, TaskRecord] = {}
    names = []
    for source in spec.split("+"):
        found, default_name = source_records(source)
        records.update((r.task_id, r) for r in found)
        names.append(default_name)
    return Run(name or "+".join(dict.fromkeys(names)), records)


def question_order(ids: set[str]) -> list[str]:
    return sorted(ids, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


def guessed(record: TaskRecord) -> bool:
    """Passed, but no cell ran clean (Airlock's retries_to_success is None then)."""
    return record.outcome == "pass" and record.retries_to_success is None


def cell(record: TaskRecord | None) -> str:
    if record is None:
        return "-"
    outcome = record.outcome + ("*" if guessed(record) else "")
    return (
        f"{outcome} {record.detail.get('right', 0)}/{record.detail.get('total', 0)} "
        f"{record.attempts}c {record.wall_s:.0f}s"
    )


def points(value: float) -> str:
    return f"{value * 100:+.1f}"


def compare(runs: list[Run]) -> str:
    """The whole comparison as markdown."""
    everywhere = set.intersection(*(set(r.records) for r in runs))
    anywhere = set.union(*(set(r.records) for r in runs))
    names = [r.name for r in runs]
    lines = [
        "# DABench side by side",
        "",
        f"questions: {len(everywhere)} recorded by every run"
        + (
            f", {len(anywhere) - len(everywhere)} by only some (not in the totals)"
            if anywhere != everywhere
            else ""
        ),
        "",
        "| question | " + " | ".join(names) + " |",
        "|---" * (len(runs) + 1) + "|",
    ]
    for task_id in question_order(anywhere):
        mark = "" if task_id in everywhere else " (not in totals)"
        lines.append(
            f"| {task_id}{mark} | " + " | ".join(cell(r.records.get(task_id)) for r in runs) + " |"
        )
    figures = [metrics([r.records[i] for i in question_order(everywhere)]) for r in runs]
    lines += [
        "",
        "## Totals on the common questions",
        "",
        "| run | ABQ | PSAQ | UASQ | sub-answers | median wall s | median code cells | "
        "passes without a clean cell |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run, fig in zip(runs, figures, strict=True):
        if not fig:
            continue
        cells = statistics.median(run.records[i].attempts for i in everywhere)
        guesses = sum(guessed(run.records[i]) for i in everywhere)
        lines.append(
            f"| {run.name} | {fig['ABQ']:.2%} ({round(fig['ABQ'] * fig['questions'])}"
            f"/{fig['questions']}) | {fig['PSAQ']:.2%} | {fig['UASQ']:.2%} | "
            f"{fig['sub_answers_right']} | {fig['median_wall_s']:.1f} | {cells:g} | "
            f"{guesses} |"
        )
    if len(runs) > 1 and figures[0]:
        base = runs[0]
        lines += [
            "",
            f"## Against {base.name}",
            "",
            f"| run | ABQ | PSAQ | UASQ | questions only it passed | only {base.name} passed |",
            "|---|---|---|---|---|---|",
        ]
        for run, fig in zip(runs[1:], figures[1:], strict=True):
            only_it = [
                i
                for i in question_order(everywhere)
                if run.records[i].outcome == "pass" and base.records[i].outcome != "pass"
            ]
            only_base = [
                i
                for i in question_order(everywhere)
                if base.records[i].outcome == "pass" and run.records[i].outcome != "pass"
            ]
            lines.append(
                f"| {run.name} | {points(fig['ABQ'] - figures[0]['ABQ'])} | "
                f"{points(fig['PSAQ'] - figures[0]['PSAQ'])} | "
                f"{points(fig['UASQ'] - figures[0]['UASQ'])} | "
                f"{', '.join(only_it) or '-'} | {', '.join(only_base) or '-'} |"
            )
        lines += [
            "",
            "Differences in percentage points (the run minus "
            f"{base.name}), on the {len(everywhere)} common questions.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "runs",
        nargs="+",
        help="results.jsonl files, their folders, or REPORT.md#COLUMN; A+B joins (1 to 4 runs)",
    )
    parser.add_argument("--names", default=None, help="column names, comma-separated")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    if not 1 <= len(args.runs) <= 4:
        parser.error("give 1 to 4 runs")
    names = [n.strip() for n in args.names.split(",")] if args.names else []
    if names and len(names) != len(args.runs):
        parser.error("--names needs one name per run")
    try:
        runs = [load_run(spec, names[i] if names else None) for i, spec in enumerate(args.runs)]
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = compare(runs)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
