"""The REST server driven by the official `openai` SDK: request latency and throughput.

    python benchmarks/bench_server.py [--iterations 20] [--concurrency 1,4,16] [--runs 64]
        [--pool 0] [--poll-ms 20] [--capped 4] [--capped-clients 16] [--json]

The server is a real one on loopback, in its own process (``server_process`` started with
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

The parts: the server process (``server_process``), the measured cases (``server_cases``) and
the tables (``server_tables``); this module runs them all and is the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from .server_cases import bench_capped, bench_latency, bench_throughput, check_code_ran, progress
from .server_process import WORK_OUTPUT, running_server
from .server_tables import print_tables

__all__ = ["main", "print_tables", "quiet_beta_warnings", "run_benchmark"]

#: The SDK marks every Assistants call with a DeprecationWarning.
BETA_WARNING_MESSAGE = "(deprecated|The Assistants API is deprecated)"


def quiet_beta_warnings() -> None:
    warnings.filterwarnings("ignore", message=BETA_WARNING_MESSAGE, category=DeprecationWarning)


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
    sys.exit(0 if main()["all_completed"] else 1)
