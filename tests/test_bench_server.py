"""The server benchmark, as a smoke run: a real server process, the SDK, every run completed."""

from __future__ import annotations

import argparse
from types import ModuleType

import pytest


def load_bench() -> ModuleType:
    from engine.devtools.bench import server_perf

    return server_perf


@pytest.mark.slow
def test_smoke_run_completes_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    results = bench.run_benchmark(iterations=2, concurrency=[2], runs=4, pools=[0])
    assert results["all_completed"]
    [server] = results["servers"]
    [throughput] = server["throughput"]
    assert throughput["completed"] == throughput["runs"] == 4
    assert throughput["statuses"] == {"completed": 4}
    assert throughput["concurrency"] == 2 and throughput["runs_per_s"] > 0
    assert throughput["latency"]["n"] == 4
    latency = server["latency"]
    assert latency["get_round_trip"]["n"] >= 50
    # A kept-alive connection must not wait for delayed ACKs (~40 ms each without NODELAY).
    assert latency["get_round_trip"]["median_ms"] < 30
    assert set(latency["poll"]) == {
        "fresh_20ms",
        "reused_20ms",
        "fresh_sdk_default",
        "reused_sdk_default",
    }
    for case, parts in latency["poll"].items():
        assert parts["total"]["n"] == 2, case
        assert ("thread_create" in parts) == case.startswith("fresh"), case
    for parts in latency["stream"].values():
        assert parts["first_code_delta"]["n"] == 2
        assert (
            parts["first_event"]["median_ms"]
            <= parts["first_code_delta"]["median_ms"]
            <= parts["run_completed_event"]["median_ms"]
        )
    bench.print_tables(results)
    out = capsys.readouterr().out
    assert "throughput" in out and "NOT ALL RUNS COMPLETED" not in out


def test_int_lists() -> None:
    bench = load_bench()
    assert bench._int_list("1, 4,16") == [1, 4, 16]
    with pytest.raises(argparse.ArgumentTypeError):
        bench._int_list("")
    with pytest.raises(argparse.ArgumentTypeError):
        bench._int_list("-1")


@pytest.mark.slow
def test_capped_smoke_run_stays_under_the_cap(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench()
    results = bench.run_benchmark(
        iterations=0, concurrency=[], runs=4, pools=[], capped=[2], capped_clients=4
    )
    assert results["all_completed"]
    [capped] = results["capped"]
    assert capped["completed"] == capped["runs"] == 4 and capped["clients"] == 4
    assert 1 <= capped["peak_kernels"] <= 2
    assert capped["peak_rss_mb"] > 0 and capped["latency"]["p95_ms"] > 0
    # How many 429s there are depends on timing (an idle session may make room), so the count
    # is only reported; test_server_capacity checks the full house itself.
    bench.print_tables(results)
    assert "with the session cap on" in capsys.readouterr().out
