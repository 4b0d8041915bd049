"""What a run leaves beside results.jsonl: `summary.md` (a table) and the plots (PNG, Agg):
the distribution of wall time per task and of attempts (code cells) per task."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from .records import TaskRecord


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {
        "median": statistics.median(ordered),
        "mean": statistics.fmean(ordered),
        "p90": p90,
        "max": ordered[-1],
        "total": sum(ordered),
    }


def summarize(
    suite: str, records: list[TaskRecord], metrics: dict[str, Any], **info: Any
) -> dict[str, Any]:
    outcomes = Counter(r.outcome for r in records)
    passed = [r for r in records if r.outcome == "pass"]
    return {
        "suite": suite,
        **info,
        "tasks": len(records),
        "pass": outcomes["pass"],
        "fail": outcomes["fail"],
        "error": outcomes["error"],
        "pass_rate": len(passed) / len(records) if records else 0.0,
        "attempts": dict(sorted(Counter(r.attempts for r in records).items())),
        "retries_to_success": stats(
            [float(r.retries_to_success) for r in passed if r.retries_to_success is not None]
        ),
        "timeouts": sum(r.timeouts for r in records),
        "kernel_restarts": sum(r.kernel_restarts for r in records),
        "tokens_in": sum(r.tokens_in for r in records),
        "tokens_out": sum(r.tokens_out for r in records),
        "model_s": stats([r.model_s for r in records]),
        "execution_s": stats([r.execution_s for r in records]),
        "wall_s": stats([r.wall_s for r in records]),
        "metrics": metrics,
        "not_passed": [
            {"task_id": r.task_id, "outcome": r.outcome, "error": r.error}
            for r in records
            if r.outcome != "pass"
        ],
    }


def _seconds(stat: dict[str, float], *keys: str) -> str:
    if not stat:
        return "-"
    return " / ".join(f"{stat[k]:.3f}" for k in keys)


def flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as dotted names: {"pool": {"acquire": {"n": 5}}} -> pool.acquire.n."""
    rows: list[tuple[str, Any]] = []
    for name, value in metrics.items():
        if isinstance(value, dict) and value:
            rows += flatten(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", value))
    return rows


def markdown(summary: dict[str, Any]) -> str:
    rows = [
        ("suite", summary["suite"]),
        ("model", str(summary.get("model") or "built-in script")),
        ("tasks", str(summary["tasks"])),
        ("pass / fail / error", f"{summary['pass']} / {summary['fail']} / {summary['error']}"),
        ("pass rate", f"{summary['pass_rate']:.2%}"),
        (
            "attempts (cells): tasks",
            ", ".join(f"{k}: {v}" for k, v in summary["attempts"].items()) or "-",
        ),
        (
            "retries to success (median / mean)",
            _seconds(summary["retries_to_success"], "median", "mean"),
        ),
        ("cells timed out", str(summary["timeouts"])),
        ("kernel restarts", str(summary["kernel_restarts"])),
        ("tokens in / out", f"{summary['tokens_in']} / {summary['tokens_out']}"),
        (
            "model s per task (median / p90 / total)",
            _seconds(summary["model_s"], "median", "p90", "total"),
        ),
        (
            "execution s per task (median / p90 / total)",
            _seconds(summary["execution_s"], "median", "p90", "total"),
        ),
        (
            "wall s per task (median / p90 / max)",
            _seconds(summary["wall_s"], "median", "p90", "max"),
        ),
        (
            "this invocation",
            f"{summary.get('ran', 0)} task(s) run, "
            f"{summary.get('skipped', 0)} resumed, "
            f"{summary.get('invocation_wall_s', 0.0):.1f} s wall, "
            f"{summary.get('executor')} executor, {summary.get('workers')} "
            "worker(s)",
        ),
    ]
    lines = [f"# airlock bench {summary['suite']}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    metrics = summary.get("metrics") or {}
    if metrics:
        lines += ["", "## Suite metrics", "", "| metric | value |", "|---|---|"]
        for name, value in flatten(metrics):
            shown = (
                f"{value:.4f}"
                if isinstance(value, float)
                else json.dumps(value, default=str)
                if isinstance(value, list)
                else str(value)
            )
            lines.append(f"| {name} | {shown} |")
    if summary["not_passed"]:
        lines += ["", "## Not passed", "", "| task | outcome | error |", "|---|---|---|"]
        for item in summary["not_passed"]:
            error = str(item["error"] or "").replace("|", "\\|").replace("\n", " ")[:300]
            lines.append(f"| {item['task_id']} | {item['outcome']} | {error} |")
    lines += [
        "",
        "Times: model = inside the model backend's calls; execution = the cells, each "
        "from the end of the model call that wrote it to the end of its step (for an "
        "oracle cell: the cell itself); wall = the whole task, kernel start and shutdown "
        "included. See engine/bench/engine_runs.py for the details and config.json for "
        "the exact configuration.",
        "",
    ]
    return "\n".join(lines)


def plot(records: list[TaskRecord], out: Path, suite: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.hist([r.wall_s for r in records] or [0.0], bins=min(40, max(5, len(records) // 3)))
    axes.set_xlabel("wall time per task (s)")
    axes.set_ylabel("tasks")
    axes.set_title(f"{suite}: wall time per task (n={len(records)})")
    figure.tight_layout()
    figure.savefig(out / "wall_time.png", dpi=100)
    plt.close(figure)
    written.append(out / "wall_time.png")

    counts = Counter(r.attempts for r in records)
    figure, axes = plt.subplots(figsize=(7, 4))
    keys = sorted(counts) or [0]
    axes.bar([str(k) for k in keys], [counts.get(k, 0) for k in keys])
    axes.set_xlabel("attempts (code cells) per task")
    axes.set_ylabel("tasks")
    axes.set_title(f"{suite}: attempts per task (n={len(records)})")
    figure.tight_layout()
    figure.savefig(out / "attempts.png", dpi=100)
    plt.close(figure)
    written.append(out / "attempts.png")
    return written


def write_report(out: Path, summary: dict[str, Any], records: list[TaskRecord]) -> None:
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8"
    )
    plot(records, out, summary["suite"])
