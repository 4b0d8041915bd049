"""The REST benchmark's results as plain-text tables (what `bench_server.py` prints without
``--json``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _ms(stat: dict[str, Any] | None) -> str:
    if not stat or not stat.get("n"):
        return "-"
    return f"{stat['median_ms']:.1f} / {stat['p90_ms']:.1f}"


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(title)
    for row in [header, *rows]:
        print(
            "  "
            + "  ".join(
                f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()


def print_tables(results: dict[str, Any]) -> None:
    poll_ms = results["poll_ms"]
    for server in results["servers"]:
        print(f"== kernel_pool_size={server['pool_size']}, isolation {server['isolation']} ==\n")
        latency = server.get("latency")
        if latency:
            n = results["iterations"]
            print(
                f"GET /v1/assistants/{{id}} round trip (median / p90): "
                f"{_ms(latency['get_round_trip'])} ms, n={latency['get_round_trip']['n']}\n"
            )
            columns = [
                f"fresh_{poll_ms}ms",
                f"reused_{poll_ms}ms",
                "fresh_sdk_default",
                "reused_sdk_default",
            ]
            labels = [
                f"fresh, {poll_ms} ms",
                f"reused, {poll_ms} ms",
                "fresh, SDK pace",
                "reused, SDK pace",
            ]
            parts = [
                ("thread create", "thread_create"),
                ("message create", "message_create"),
                ("run create", "run_create"),
                ("run create -> completed", "run_to_completed"),
                ("total", "total"),
            ]
            _table(
                f"message + run + poll, ms (median / p90), n={n} each; SDK pace: the "
                "server's openai-poll-after-ms",
                ["", *labels],
                [
                    [name, *(_ms(latency["poll"][c].get(key)) for c in columns)]
                    for name, key in parts
                ],
            )
            stream_parts = [
                ("first event", "first_event"),
                ("first code delta", "first_code_delta"),
                ("thread.run.completed", "run_completed_event"),
                ("end of stream", "stream_end"),
            ]
            _table(
                f"streamed run, ms from the request (median / p90), n={n} each",
                ["", "fresh thread", "reused thread"],
                [
                    [name, *(_ms(latency["stream"][k].get(key)) for k in ("fresh", "reused"))]
                    for name, key in stream_parts
                ],
            )
            print(
                f"fresh minus reused thread, run -> completed (median): "
                f"{latency['fresh_minus_reused_median_ms']:.0f} ms (mostly the kernel's "
                "start)\n"
            )
        _table(
            "throughput: each run on a fresh thread (own kernel), latency from "
            "threads.create to completed",
            [
                "concurrency",
                "runs",
                "completed",
                "wall s",
                "runs/s",
                "latency median / p90 ms",
                "max ms",
            ],
            [
                [
                    str(t["concurrency"]),
                    str(t["runs"]),
                    str(t["completed"]),
                    f"{t['wall_s']:.1f}",
                    f"{t['runs_per_s']:.2f}",
                    f"{t['latency']['median_ms']:.0f} / {t['latency']['p90_ms']:.0f}",
                    f"{t['latency']['max_ms']:.0f}",
                ]
                for t in server["throughput"]
            ],
        )
    if results.get("capped"):
        _table(
            "with the session cap on: each run on a fresh thread, 429s retried by the SDK "
            "after Retry-After; RSS of the server's whole process tree",
            [
                "max_sessions",
                "clients",
                "runs",
                "completed",
                "runs/s",
                "latency median / p95 ms",
                "429s",
                "peak RSS MB",
                "peak kernels",
            ],
            [
                [
                    str(c["max_sessions"]),
                    str(c["clients"]),
                    str(c["runs"]),
                    str(c["completed"]),
                    f"{c['runs_per_s']:.2f}",
                    f"{c['latency']['median_ms']:.0f} / {c['latency']['p95_ms']:.0f}",
                    str(c["refused_429"]),
                    f"{c['peak_rss_mb']:.0f}",
                    str(c["peak_kernels"]),
                ]
                for c in results["capped"]
            ],
        )
    if not results["all_completed"]:
        print("NOT ALL RUNS COMPLETED: see the statuses with --json")
