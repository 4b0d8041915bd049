"""The REST benchmark's cases, each against a running `Server` through the `openai` SDK:
latency (a GET; message + run + poll; a streamed run), throughput (runs on fresh threads by a
pool of client threads) and the same with the server's session cap on (429s retried, peak RSS
and kernels of the server's process tree sampled). Figures are medians and p90s/p95s."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from openai import Omit, OpenAI, omit
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads.runs import CodeInterpreterToolCallDelta, ToolCallDeltaObject

from engine.schemas import TERMINAL_RUN_STATUSES

from .server_process import Server

T = TypeVar("T")

TERMINAL = TERMINAL_RUN_STATUSES | {"requires_action"}  # where a poller stops


# -- statistics --------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[bench_server] {message}", file=sys.stderr, flush=True)


def stats(samples: Sequence[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def quantile(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": quantile(0.9) * 1000,
        "p95_ms": quantile(0.95) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def summarize(samples: list[dict[str, float]]) -> dict[str, dict[str, float | int]]:
    keys = list(dict.fromkeys(k for sample in samples for k in sample))
    return {key: stats([s[key] for s in samples if key in s]) for key in keys}


# -- latency -----------------------------------------------------------------------------------


def poll_iteration(
    client: OpenAI, assistant_id: str, thread_id: str | None, poll_ms: int | Omit
) -> dict[str, float]:
    """Message + run + poll to completion; on a fresh thread when `thread_id` is None."""
    threads = client.beta.threads
    times: dict[str, float] = {}
    fresh = thread_id is None
    if thread_id is None:
        times["thread_create"], thread = timed(lambda: threads.create())
        thread_id = thread.id
    tid = thread_id
    times["message_create"], _ = timed(
        lambda: threads.messages.create(tid, role="user", content="What is 2+2?")
    )
    times["run_create"], run = timed(lambda: threads.runs.create(tid, assistant_id=assistant_id))
    times["run_to_completed"], run = timed(
        lambda: threads.runs.poll(run.id, thread_id=tid, poll_interval_ms=poll_ms)
    )
    if run.status != "completed":
        raise RuntimeError(f"run {run.id} ended {run.status}: {run.last_error}")
    times["total"] = sum(times.values())
    if fresh:
        threads.delete(tid)
    return times


def _code_delta(event: AssistantStreamEvent) -> bool:
    if event.event != "thread.run.step.delta":
        return False
    details = event.data.delta.step_details
    return isinstance(details, ToolCallDeltaObject) and any(
        isinstance(call, CodeInterpreterToolCallDelta)
        and call.code_interpreter is not None
        and call.code_interpreter.input
        for call in details.tool_calls or []
    )


def stream_iteration(client: OpenAI, assistant_id: str, thread_id: str | None) -> dict[str, float]:
    """Message, then a streamed run; times from sending the run's request."""
    threads = client.beta.threads
    tid = thread_id or threads.create().id
    threads.messages.create(tid, role="user", content="What is 2+2?")
    times: dict[str, float] = {}
    started = time.perf_counter()
    status = ""
    with threads.runs.create(tid, assistant_id=assistant_id, stream=True) as stream:
        for event in stream:
            now = time.perf_counter() - started
            times.setdefault("first_event", now)
            if _code_delta(event):
                times.setdefault("first_code_delta", now)
            if event.event in {f"thread.run.{s}" for s in TERMINAL}:
                times["run_completed_event"] = now
                status = event.event.rsplit(".", 1)[1]
    times["stream_end"] = time.perf_counter() - started
    if status != "completed" or "first_code_delta" not in times:
        raise RuntimeError(f"streamed run on {tid} ended {status or 'without a run event'}")
    if thread_id is None:
        threads.delete(tid)
    return times


def check_code_ran(client: OpenAI, assistant_id: str, expected: str) -> None:
    """One run whose cell's output is checked: the script's code really executes."""
    threads = client.beta.threads
    thread = threads.create(messages=[{"role": "user", "content": "Check."}])
    run = threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=20
    )
    logs = ""
    for step in threads.runs.steps.list(run.id, thread_id=thread.id):
        if step.step_details.type == "tool_calls":
            for call in step.step_details.tool_calls:
                if call.type == "code_interpreter":
                    logs += "".join(
                        o.logs for o in call.code_interpreter.outputs if o.type == "logs"
                    )
    threads.delete(thread.id)
    if run.status != "completed" or logs.strip() != expected:
        raise RuntimeError(f"check run ended {run.status} with logs {logs!r}, not {expected!r}")


def bench_latency(
    server: Server, assistant_id: str, iterations: int, poll_ms: int
) -> dict[str, Any]:
    client = server.client()
    gets = [
        timed(lambda: client.beta.assistants.retrieve(assistant_id))[0]
        for _ in range(max(50, 5 * iterations))
    ]
    reused = client.beta.threads.create().id
    poll_iteration(client, assistant_id, reused, poll_ms)  # start the reused thread's kernel
    results: dict[str, Any] = {"get_round_trip": stats(gets), "poll": {}, "stream": {}}
    paces: list[tuple[str, int | Omit]] = [(f"{poll_ms}ms", poll_ms), ("sdk_default", omit)]
    for pace, interval in paces:
        for kind, thread_id in (("fresh", None), ("reused", reused)):
            samples = [
                poll_iteration(client, assistant_id, thread_id, interval) for _ in range(iterations)
            ]
            results["poll"][f"{kind}_{pace}"] = summarize(samples)
    for kind, thread_id in (("fresh", None), ("reused", reused)):
        samples = [stream_iteration(client, assistant_id, thread_id) for _ in range(iterations)]
        results["stream"][kind] = summarize(samples)
    client.beta.threads.delete(reused)
    fresh = results["poll"][f"fresh_{poll_ms}ms"]["run_to_completed"]["median_ms"]
    warm = results["poll"][f"reused_{poll_ms}ms"]["run_to_completed"]["median_ms"]
    results["fresh_minus_reused_median_ms"] = fresh - warm
    return results


# -- throughput --------------------------------------------------------------------------------


def _timed_run(client: OpenAI, assistant_id: str, poll_ms: int) -> tuple[float, str]:
    """One client's run on a new thread, polled to its end: (seconds, final status)."""
    threads = client.beta.threads
    started = time.perf_counter()
    thread = threads.create(messages=[{"role": "user", "content": "Sum the column."}])
    run = threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=poll_ms
    )
    seconds = time.perf_counter() - started
    threads.delete(thread.id)
    return seconds, run.status


def bench_throughput(
    server: Server, assistant_id: str, runs: int, concurrency: int, poll_ms: int
) -> dict[str, Any]:
    local = threading.local()

    def one_run(_index: int) -> tuple[float, str]:
        client: OpenAI | None = getattr(local, "client", None)
        if client is None:
            client = local.client = server.client()
        return _timed_run(client, assistant_id, poll_ms)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-client") as pool:
        outcomes = list(pool.map(one_run, range(runs)))
    wall = time.perf_counter() - started
    return {"concurrency": concurrency, **_outcomes(outcomes, wall)}


class TreeSampler:
    """Peak RSS and peak kernel count of a process tree, sampled from a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_kernels = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        rss = kernels = 0
        for process in tree:
            try:
                rss += process.memory_info().rss
                kernels += "ipykernel_launcher" in process.cmdline()
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_kernels = max(self.peak_kernels, kernels)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_capped(
    server: Server, assistant_id: str, runs: int, clients: int, poll_ms: int
) -> dict[str, Any]:
    """Throughput with the server's session cap on: the SDK retries each 429 after its
    Retry-After, as an application would."""
    import httpx

    local = threading.local()
    refusals: list[int] = []

    def count_refusals(response: httpx.Response) -> None:
        if response.status_code == 429:
            refusals.append(1)

    def one_run(_index: int) -> tuple[float, str]:
        client: OpenAI | None = getattr(local, "client", None)
        if client is None:
            http = httpx.Client(event_hooks={"response": [count_refusals]}, timeout=300)
            client = local.client = server.client(max_retries=50, http_client=http)
        return _timed_run(client, assistant_id, poll_ms)

    with TreeSampler(server.pid) as sampler:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients, thread_name_prefix="bench-capped") as pool:
            outcomes = list(pool.map(one_run, range(runs)))
        wall = time.perf_counter() - started
    return {
        "clients": clients,
        **_outcomes(outcomes, wall),
        "refused_429": len(refusals),
        "peak_rss_mb": sampler.peak_rss / 2**20,
        "peak_kernels": sampler.peak_kernels,
    }


def _outcomes(outcomes: list[tuple[float, str]], wall: float) -> dict[str, Any]:
    """Runs by final status, throughput and latency of one driver's runs."""
    statuses: dict[str, int] = {}
    for _seconds, status in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "runs": len(outcomes),
        "completed": statuses.get("completed", 0),
        "statuses": statuses,
        "wall_s": wall,
        "runs_per_s": len(outcomes) / wall,
        "latency": stats([seconds for seconds, _ in outcomes]),
    }
