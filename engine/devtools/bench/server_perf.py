"""The REST server driven by the official `openai` SDK: request latency and throughput.

    python benchmarks/bench_server.py [--iterations 20] [--concurrency 1,4,16] [--runs 64]
        [--pool 0] [--poll-ms 20] [--capped 4] [--capped-clients 16] [--json]

The server is a real one on loopback, in its own process (this module started again with
``--serve-child``: uvicorn over an Engine with ``EngineSettings(kernel_pool_size=POOL)``, as
``airlock serve`` builds it), so the SDK's client threads do not share its interpreter. The
model is scripted (``scripted:PATH``): its first call submits a cell, its second answers in text.

Latency, N sequential iterations each: a plain GET (``assistants.retrieve``); then message +
run + poll to completion, on a fresh thread per iteration (its kernel starts cold, unless the
pool has one) and on one reused thread (kernel warm), polling every ``--poll-ms`` and at the
SDK's default pace (the server's ``openai-poll-after-ms`` header). ``runs.create`` then
``runs.poll`` is what ``runs.create_and_poll`` does; they are called apart to time each part.
The streaming path (``runs.create(stream=True)``): time from the request to the first event, to
the first code delta and to ``thread.run.completed``.

Throughput: RUNS runs, each on a fresh thread (``threads.create`` with the message,
``runs.create_and_poll``, then ``threads.delete``, which shuts its kernel down), by a pool of C
client threads, each with its own client, for each C of ``--concurrency``; the cell does a
little work (a pandas sum). Runs per second count the wall from the first request to the last
delete; per-run latency is from ``threads.create`` to the run completed. Every thread starts its
own kernel: on a small machine the kernels' cold starts are most of the cost.

With the cap on (``--capped CAP``: a server with ``max_sessions=CAP``): RUNS runs as above by
``--capped-clients`` client threads (16), whose SDK retries the 429s a full house gets (after
their Retry-After); runs per second, latency median / p95 (retries included), the 429s seen,
and the peak RSS of the server's process tree (server + sandboxes + kernels) and its peak
number of kernels, sampled every 0.2 s.

The host may be shared: figures are medians and p90s, and runs vary.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from openai import APIConnectionError, Omit, OpenAI, omit
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads.runs import CodeInterpreterToolCallDelta, ToolCallDeltaObject

from engine.schemas import TERMINAL_RUN_STATUSES

REPO_ROOT = Path(__file__).resolve().parents[3]

T = TypeVar("T")

#: The SDK marks every Assistants call with a DeprecationWarning.
BETA_WARNING_MESSAGE = "(deprecated|The Assistants API is deprecated)"

LATENCY_CELL = "print(2+2)"
LATENCY_SCRIPT = [{"code": LATENCY_CELL}, {"text": "4"}]
WORK_CELL = (
    "import pandas as pd\ndf = pd.DataFrame({'x': range(100_000)})\nprint(int(df['x'].sum()))"
)
WORK_OUTPUT = str(sum(range(100_000)))
WORK_SCRIPT = [{"code": WORK_CELL}, {"text": f"The sum is {WORK_OUTPUT}."}]
TERMINAL = TERMINAL_RUN_STATUSES | {"requires_action"}  # where a poller stops


def quiet_beta_warnings() -> None:
    warnings.filterwarnings("ignore", message=BETA_WARNING_MESSAGE, category=DeprecationWarning)


# -- the server, in its own process ------------------------------------------------------------


def serve_child(data_dir: str, model: str, pool_size: int, max_sessions: int = 0) -> None:
    """The child: a uvicorn server on a free loopback port; prints {"port", "isolation"}."""
    import uvicorn

    from engine.core import Engine, EngineSettings
    from engine.server import create_app
    from sandbox import choose_level

    settings = EngineSettings(
        kernel_pool_size=pool_size, max_sessions=max_sessions or None, checkpoint_max_mb=0
    )

    async def open_engine() -> Engine:
        return await Engine.open(model, Path(data_dir) / "store", settings=settings)

    isolation = str(choose_level(settings.sandbox))
    # proto IPPROTO_TCP, as create_server(host, port) makes it: asyncio sets TCP_NODELAY on
    # accepted connections only then (with proto 0 each response waits ~40 ms for an ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1], "isolation": isolation}), flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(open_engine),
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=15,
        )
    )
    server.run(sockets=[sock])


@dataclass
class Server:
    url: str
    isolation: str
    pool_size: int
    latency_model: str
    work_model: str
    pid: int = 0

    def client(self, **kwargs: Any) -> OpenAI:
        options: dict[str, Any] = {"max_retries": 0, "timeout": 300, **kwargs}
        return OpenAI(base_url=f"{self.url}/v1", api_key="x", **options)


@contextmanager
def running_server(pool_size: int, max_sessions: int = 0) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-server-") as tmp:
        folder = Path(tmp)
        latency_model = folder / "latency-script.json"
        latency_model.write_text(json.dumps(LATENCY_SCRIPT), encoding="utf-8")
        work_model = folder / "work-script.json"
        work_model.write_text(json.dumps(WORK_SCRIPT), encoding="utf-8")
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine.devtools.bench.server_perf",
                "--serve-child",
                str(folder / "data"),
                f"scripted:{latency_model}",
                str(pool_size),
                str(max_sessions),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("the server process did not start (see its log above)")
            info = json.loads(line)
            server = Server(
                f"http://127.0.0.1:{info['port']}",
                info["isolation"],
                pool_size,
                f"scripted:{latency_model}",
                f"scripted:{work_model}",
                child.pid,
            )
            _wait_ready(server, child)
            yield server
        finally:
            child.terminate()  # uvicorn shuts down gracefully on SIGTERM: the engine closes
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_ready(server: Server, child: subprocess.Popen[str]) -> None:
    client = server.client()
    deadline = time.monotonic() + 120
    while True:
        try:
            client.beta.assistants.list(limit=1)
            return
        except APIConnectionError:
            if child.poll() is not None:
                raise RuntimeError("the server process exited (see its log above)") from None
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not answer within 120 s") from None
            time.sleep(0.05)


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


def bench_throughput(
    server: Server, assistant_id: str, runs: int, concurrency: int, poll_ms: int
) -> dict[str, Any]:
    local = threading.local()

    def one_run(_index: int) -> tuple[float, str]:
        client: OpenAI | None = getattr(local, "client", None)
        if client is None:
            client = local.client = server.client()
        threads = client.beta.threads
        started = time.perf_counter()
        thread = threads.create(messages=[{"role": "user", "content": "Sum the column."}])
        run = threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=poll_ms
        )
        seconds = time.perf_counter() - started
        threads.delete(thread.id)
        return seconds, run.status

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-client") as pool:
        outcomes = list(pool.map(one_run, range(runs)))
    wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for _seconds, status in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "concurrency": concurrency,
        "runs": runs,
        "completed": statuses.get("completed", 0),
        "statuses": statuses,
        "wall_s": wall,
        "runs_per_s": runs / wall,
        "latency": stats([seconds for seconds, _ in outcomes]),
    }


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
        threads = client.beta.threads
        started = time.perf_counter()
        thread = threads.create(messages=[{"role": "user", "content": "Sum the column."}])
        run = threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant_id, poll_interval_ms=poll_ms
        )
        seconds = time.perf_counter() - started
        threads.delete(thread.id)
        return seconds, run.status

    with TreeSampler(server.pid) as sampler:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients, thread_name_prefix="bench-capped") as pool:
            outcomes = list(pool.map(one_run, range(runs)))
        wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for _seconds, status in outcomes:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "clients": clients,
        "runs": runs,
        "completed": statuses.get("completed", 0),
        "statuses": statuses,
        "wall_s": wall,
        "runs_per_s": runs / wall,
        "latency": stats([seconds for seconds, _ in outcomes]),
        "refused_429": len(refusals),
        "peak_rss_mb": sampler.peak_rss / 2**20,
        "peak_kernels": sampler.peak_kernels,
    }


# -- the whole benchmark -----------------------------------------------------------------------


def run_benchmark(
    *,
    iterations: int = 20,
    concurrency: Sequence[int] = (1, 4, 16),
    runs: int = 64,
    pools: Sequence[int] = (0,),
    poll_ms: int = 20,
    capped: Sequence[int] = (),
    capped_clients: int = 16,
) -> dict[str, Any]:
    quiet_beta_warnings()
    results: dict[str, Any] = {
        "iterations": iterations,
        "runs": runs,
        "poll_ms": poll_ms,
        "servers": [],
        "capped": [],
    }
    for pool_size in pools:
        with running_server(pool_size) as server:
            client = server.client()
            latency_assistant = client.beta.assistants.create(
                model=server.latency_model, tools=[{"type": "code_interpreter"}]
            )
            work_assistant = client.beta.assistants.create(
                model=server.work_model, tools=[{"type": "code_interpreter"}]
            )
            check_code_ran(client, latency_assistant.id, "4")
            check_code_ran(client, work_assistant.id, WORK_OUTPUT)
            entry: dict[str, Any] = {"pool_size": pool_size, "isolation": server.isolation}
            if iterations > 0:
                progress(f"pool {pool_size}: latency, {iterations} iterations per case")
                entry["latency"] = bench_latency(server, latency_assistant.id, iterations, poll_ms)
            entry["throughput"] = []
            for c in concurrency:
                progress(f"pool {pool_size}: throughput, {runs} runs by {c} client threads")
                entry["throughput"].append(
                    bench_throughput(server, work_assistant.id, runs, c, poll_ms)
                )
            results["servers"].append(entry)
    for cap in capped:
        with running_server(0, max_sessions=cap) as server:
            client = server.client()
            work_assistant = client.beta.assistants.create(
                model=server.work_model, tools=[{"type": "code_interpreter"}]
            )
            check_code_ran(client, work_assistant.id, WORK_OUTPUT)
            progress(f"cap {cap}: {runs} runs by {capped_clients} client threads")
            entry = {
                "max_sessions": cap,
                "isolation": server.isolation,
                **bench_capped(server, work_assistant.id, runs, capped_clients, poll_ms),
            }
            results["capped"].append(entry)
    results["all_completed"] = all(
        [t["completed"] == t["runs"] for s in results["servers"] for t in s["throughput"]]
        + [c["completed"] == c["runs"] for c in results["capped"]]
    )
    return results


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


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 0, not {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=20,
        help="sequential iterations of each latency case (0: skip latency)",
    )
    parser.add_argument(
        "--concurrency",
        type=_int_list,
        default=[1, 4, 16],
        help="client threads at once, comma-separated (default 1,4,16)",
    )
    parser.add_argument("--runs", type=int, default=64, help="runs per throughput case")
    parser.add_argument(
        "--pool",
        type=_int_list,
        default=[0],
        help="the engine's kernel_pool_size, comma-separated to compare (a server each; default 0)",
    )
    parser.add_argument("--poll-ms", type=int, default=20, help="the pollers' interval")
    parser.add_argument(
        "--capped",
        type=_int_list,
        default=[],
        help="also run the throughput case on a server with this session cap "
        "(max_sessions), comma-separated for several (default: none)",
    )
    parser.add_argument(
        "--capped-clients",
        type=int,
        default=16,
        help="client threads of the capped case (default 16)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args(argv)
    if any(c < 1 for c in args.concurrency) or args.runs < 1 or args.poll_ms < 1:
        parser.error("--concurrency, --runs and --poll-ms must be >= 1")
    if any(c < 1 for c in args.capped) or args.capped_clients < 1:
        parser.error("--capped and --capped-clients must be >= 1")
    results = run_benchmark(
        iterations=args.iterations,
        concurrency=args.concurrency,
        runs=args.runs,
        pools=args.pool,
        poll_ms=args.poll_ms,
        capped=args.capped,
        capped_clients=args.capped_clients,
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_tables(results)
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-child"]:
        serve_child(
            sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0
        )
    else:
        sys.exit(0 if main()["all_completed"] else 1)
