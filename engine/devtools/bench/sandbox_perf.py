"""Sandbox micro-benchmarks, side by side in one run.

    python benchmarks/bench_sandbox.py [--rounds 200] [--sessions 20] [--json]

Measures: cold start of a session; warm-pool acquire; a new session's first analysis cell
(`import pandas, matplotlib` and one plot), pooled and cold; the round trip of a trivial cell
through Airlock against raw jupyter_client on a plain ipykernel (the floor); idle kernel memory,
bare and with the analysis stack imported; and 20 sessions alive at once.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil
from jupyter_client.manager import AsyncKernelManager

from sandbox import AsyncSession, KernelPool, SandboxConfig

ANALYSIS_CELL = (
    "import pandas as pd, matplotlib.pyplot as plt\n"
    "df = pd.DataFrame({'x': range(10), 'y': [v * v for v in range(10)]})\n"
    "df.plot(x='x', y='y')"
)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p90_ms": p90 * 1000, "n": len(ordered)}


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = await action()
    return time.perf_counter() - started, value


def kernel_rss_mb(session: AsyncSession) -> float:
    pid = session.kernel.kernel_pid()
    assert pid is not None
    return float(psutil.Process(pid).memory_info().rss) / 2**20


async def bench_cold_start(rounds: int) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        seconds, session = await timed(lambda: AsyncSession.start())
        samples.append(seconds)
        await session.close()
    return summary(samples)


async def bench_pool(rounds: int) -> dict[str, Any]:
    acquire, first_cell = [], []
    async with KernelPool(SandboxConfig(), size=1) as pool:
        for _ in range(rounds):
            await pool.start(wait=True)  # let the refill finish: measure a warm hand-over
            seconds, session = await timed(pool.acquire)
            acquire.append(seconds)
            cell_seconds, result = await timed(functools.partial(session.execute, ANALYSIS_CELL))
            assert result.ok and result.images, result.error
            first_cell.append(cell_seconds)
            await session.close()
    return {"acquire": summary(acquire), "first_analysis_cell_pooled": summary(first_cell)}


async def bench_cold_first_cell(rounds: int) -> dict[str, Any]:
    samples = []
    for _ in range(rounds):
        session = await AsyncSession.start()
        seconds, result = await timed(functools.partial(session.execute, ANALYSIS_CELL))
        assert result.ok, result.error
        samples.append(seconds)
        await session.close()
    return summary(samples)


async def airlock_round_trips(rounds: int) -> list[float]:
    async with await AsyncSession.start() as session:
        for _ in range(20):
            await session.execute("1 + 1")
        samples = []
        for _ in range(rounds):
            seconds, result = await timed(lambda: session.execute("1 + 1"))
            assert result.ok
            samples.append(seconds)
    return samples


async def raw_round_trips(rounds: int) -> list[float]:
    """The floor: jupyter_client's own manager and client on a plain ipykernel."""
    manager = AsyncKernelManager(kernel_name="python3")
    await manager.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
    client = manager.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)

    async def round_trip() -> None:
        msg_id = client.execute("1 + 1")
        while True:
            message = await client.get_iopub_msg(timeout=30)
            if (
                message["parent_header"].get("msg_id") == msg_id
                and message["header"]["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
            ):
                break
        while (await client.get_shell_msg(timeout=30))["parent_header"].get("msg_id") != msg_id:
            pass

    try:
        for _ in range(20):
            await round_trip()
        samples = []
        for _ in range(rounds):
            seconds, _ = await timed(round_trip)
            samples.append(seconds)
    finally:
        client.stop_channels()
        await manager.shutdown_kernel(now=True)
    return samples


async def bench_round_trip(rounds: int) -> dict[str, Any]:
    # Interleave blocks of both so that machine load affects them alike.
    airlock: list[float] = []
    raw: list[float] = []
    block = max(1, rounds // 4)
    for _ in range(4):
        raw += await raw_round_trips(block)
        airlock += await airlock_round_trips(block)
    result: dict[str, Any] = {"airlock": summary(airlock), "raw_jupyter_client": summary(raw)}
    result["ratio_median"] = (
        result["airlock"]["median_ms"] / result["raw_jupyter_client"]["median_ms"]
    )
    return result


async def bench_memory() -> dict[str, Any]:
    async with await AsyncSession.start() as session:
        await session.execute("1")
        bare = kernel_rss_mb(session)
        await session.execute(ANALYSIS_CELL)
        stack = kernel_rss_mb(session)
    return {"idle_bare_rss_mb": bare, "idle_with_stack_rss_mb": stack}


async def bench_many(count: int) -> dict[str, Any]:
    started = time.perf_counter()
    sessions: list[AsyncSession] = []
    try:
        for _ in range(count):
            sessions.append(await AsyncSession.start())
        start_seconds = time.perf_counter() - started
        cells = await asyncio.gather(*(s.execute("sum(range(1000))") for s in sessions))
        assert all(c.ok for c in cells)
        rss = sum(kernel_rss_mb(s) for s in sessions)
        round_started = time.perf_counter()
        await asyncio.gather(*(s.execute("1 + 1") for s in sessions))
        round_seconds = time.perf_counter() - round_started
        alive = sum(s.kernel.is_alive() for s in sessions)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return {
        "sessions": count,
        "alive": alive,
        "start_all_s": start_seconds,
        "total_kernel_rss_mb": rss,
        "one_cell_on_each_concurrently_ms": round_seconds * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="trivial-cell round trips")
    parser.add_argument("--starts", type=int, default=5, help="cold starts and pool acquires")
    parser.add_argument("--sessions", type=int, default=20, help="sessions alive at once")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()

    async with await AsyncSession.start() as first:  # also warms the probe cache
        results: dict[str, Any] = {"isolation": str(first.isolation)}
    results["cold_start"] = await bench_cold_start(args.starts)
    results.update(await bench_pool(args.starts))
    results["first_analysis_cell_cold"] = await bench_cold_first_cell(min(args.starts, 3))
    results["round_trip"] = await bench_round_trip(args.rounds)
    results["memory"] = await bench_memory()
    results["many"] = await bench_many(args.sessions)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    rt = results["round_trip"]
    many = results["many"]
    rows = [
        ("isolation level", results["isolation"], ""),
        ("cold start (median / p90)", _ms(results["cold_start"]), ""),
        ("warm-pool acquire (median / p90)", _ms(results["acquire"]), "target < 50 ms"),
        (
            "first analysis cell, pooled",
            _ms(results["first_analysis_cell_pooled"]),
            "target < 100 ms",
        ),
        ("first analysis cell, cold session", _ms(results["first_analysis_cell_cold"]), ""),
        ("trivial cell, Airlock", _ms(rt["airlock"]), f"{rt['ratio_median']:.2f}x raw"),
        ("trivial cell, raw jupyter_client", _ms(rt["raw_jupyter_client"]), "target ≤ 1.2x"),
        (
            "idle kernel RSS, bare",
            f"{results['memory']['idle_bare_rss_mb']:.0f} MB",
            "target < 80 MB",
        ),
        (
            "idle kernel RSS, stack imported",
            f"{results['memory']['idle_with_stack_rss_mb']:.0f} MB",
            "target < 150 MB",
        ),
        (
            f"{many['sessions']} sessions: start all",
            f"{many['start_all_s']:.1f} s",
            f"{many['alive']} alive",
        ),
        (
            f"{many['sessions']} sessions: kernel RSS total",
            f"{many['total_kernel_rss_mb']:.0f} MB",
            "",
        ),
        (
            f"{many['sessions']} sessions: a cell on each at once",
            f"{many['one_cell_on_each_concurrently_ms']:.0f} ms",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:<22} {note}")


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['median_ms']:.1f} / {stats['p90_ms']:.1f} ms"


if __name__ == "__main__":
    asyncio.run(main())
