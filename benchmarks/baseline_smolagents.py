"""DABench baseline (b): a real peer harness. huggingface smolagents' `CodeAgent` with
`OpenAIServerModel` on `python -m llama_cpp.server` (loopback), the same GGUF as Airlock.

    benchmarks/peer/setup        # once: smolagents in benchmarks/peer/.venv, not in Airlock's
    .venv/bin/python benchmarks/baseline_smolagents.py --out benchmarks/results/smolagents \\
        [--model /tmp/models/qwen2.5-coder-1.5b.gguf] [--data ../shared/data/dabench] \\
        [--every 3] [--limit 5] [--ids 0,19] [--resume] [--max-steps N] [--temperature T]

This script (Airlock's venv) selects the questions, starts llama.cpp's OpenAI-compatible server
from Airlock's venv (llama-cpp-python[server]; the GGUF's own chat template, n_ctx 8192, every
CPU), waits for /v1/models, then runs each question in a fresh process of the peer venv
(benchmarks/peer/run_agent.py) in a temporary folder holding a copy of the question's CSV, and
scores the agent's final answer with Airlock's scorer. The prompt is Airlock's `prompt_for`
with only the file's path changed (/mnt/data/NAME -> the copy's absolute path). The agent keeps
its defaults (max_steps 20, its prompts, its local executor and its 30 s per-cell limit) except
the authorized imports (the analysis libraries Airlock's kernel has) and plain-text messages
(llama.cpp's server needs them). Sampling is the stack's default: smolagents sets none, so
llama.cpp's server samples at temperature 0.8, top_p 0.95, min_p 0.05, repeat penalty 1.1
(`--temperature T` sets one; greedy decoding makes the agent repeat a failed step verbatim
until its step limit).

Per question: the agent's log in OUT/logs/ID.log; its steps (model output, code,
observations, error) in the record's detail. wall_s is the peer process's whole life (Python
start and imports included, as Airlock's includes its kernel's start), agent_s the run itself.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_common import (
    Plan,
    add_common_args,
    finish,
    keep,
    new_record,
    plan_run,
    score_into,
    write_record,
)

from engine.devtools.bench.dabench import prompt_for
from engine.devtools.bench.harness import BenchError
from engine.devtools.bench.records import TaskRecord
from engine.devtools.bench.suite import BenchTask

SUITE = "dabench-smolagents"
PEER = Path(__file__).resolve().parent / "peer"
PEER_PYTHON = PEER / ".venv" / "bin" / "python"
RUNNER = PEER / "run_agent.py"
MODEL_ALIAS = "airlock-baseline"
#: What Airlock's kernel offers that the questions' code uses. `os.path` is the module
#: `posixpath` to smolagents' executor: without it `os.path.exists` is "Forbidden access".
AUTHORIZED_IMPORTS = [
    "pandas",
    "pandas.*",
    "numpy",
    "numpy.*",
    "scipy",
    "scipy.*",
    "sklearn",
    "sklearn.*",
    "matplotlib",
    "matplotlib.*",
    "statistics",
    "math",
    "csv",
    "json",
    "os",
    "posixpath",
    "datetime",
    "collections",
]
TIMEOUT_MARK = "exceeded the maximum execution time"


def die_with_us() -> None:
    """In the child: SIGTERM when this script dies, however it dies (Linux's prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LlamaServer:
    """llama.cpp's OpenAI-compatible server on loopback, from Airlock's venv."""

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        self.args, self.log = args, log
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def start(self) -> str:
        """Starts it and waits until /v1/models answers; returns the /v1 base URL."""
        args, port = self.args, free_port()
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            args.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model_alias",
            MODEL_ALIAS,
            "--n_ctx",
            str(args.n_ctx),
            "--n_threads",
            str(args.threads),
            "--n_threads_batch",
            str(args.threads),
            "--seed",
            "0",
        ]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=die_with_us
            )
        self.base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + args.server_wait
        while True:
            if self.process.poll() is not None:
                raise BenchError(
                    f"llama_cpp.server exited ({self.process.returncode}): see {self.log}"
                )
            try:
                if httpx.get(f"{self.base}/models", timeout=5).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"llama_cpp.server not answering after {args.server_wait} s")
            time.sleep(1)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # uvicorn waits for a request in flight: not for long
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def llama_server(args: argparse.Namespace, log: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(args, log)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def cells_of(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps that ran code, as the record keeps them."""
    return [
        {
            "code": keep(s["code"]),
            "output": keep(s["observations"] or ""),
            "error": keep(s["error"]) if s["error"] else None,
            "step": s["step"],
            "seconds": s["seconds"],
        }
        for s in steps
        if s.get("code")
    ]


def fill_partial(record: TaskRecord, steps: list[dict[str, Any]]) -> None:
    """What a run stopped for its time had done: its cells, for diagnosis (no score)."""
    cells = cells_of(steps)
    record.attempts = len(cells)
    record.timeouts = sum(TIMEOUT_MARK in (c["error"] or "") for c in cells)
    record.detail.update(
        code_calls=len(cells),
        steps=len(steps),
        state="stopped",
        cells=cells,
        model_outputs=[keep(s["model_output"] or "", 4000) for s in steps],
    )


def fill_from_agent(record: TaskRecord, task: BenchTask, result: dict[str, Any]) -> None:
    """The record of one agent run: its cells (steps that ran code), tokens, times, score."""
    steps: list[dict[str, Any]] = result["steps"]
    cells = cells_of(steps)
    record.attempts = len(cells)
    record.timeouts = sum(TIMEOUT_MARK in (c["error"] or "") for c in cells)
    record.tokens_in, record.tokens_out = result["tokens_in"], result["tokens_out"]
    record.model_s = result["model_s"]
    record.execution_s = max(0.0, result["agent_s"] - result["model_s"])
    clean = next((i for i, c in enumerate(cells) if c["error"] is None), None)
    record.retries_to_success = clean
    record.detail.update(
        code_calls=len(cells),
        steps=len(steps),
        state=result["state"],
        max_steps=result["max_steps"],
        agent_s=result["agent_s"],
        cells=cells,
        model_outputs=[keep(s["model_output"] or "", 4000) for s in steps],
        smolagents=result["smolagents"],
    )
    note = (
        ""
        if result["state"] == "success"
        else f"{result['state']}: the answer is the agent's fallback after {len(steps)} steps"
    )
    score_into(record, task, result["output"] or "", note=note)


def run_question(
    task: BenchTask, args: argparse.Namespace, base: str, logs: Path, record: TaskRecord
) -> None:
    with tempfile.TemporaryDirectory(prefix="airlock-peer-") as folder:
        work = Path(folder)
        csv = work / task.data["file_name"]
        shutil.copyfile(task.data["path"], csv)
        prompt = prompt_for(task.data).replace(f"/mnt/data/{task.data['file_name']}", str(csv))
        request = {
            "prompt": prompt,
            "api_base": base,
            "model_id": MODEL_ALIAS,
            "max_steps": args.max_steps,
            "temperature": None if args.temperature < 0 else args.temperature,
            "authorized_imports": AUTHORIZED_IMPORTS,
        }
        (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
        log = logs / f"{task.task_id}.log"
        try:
            with log.open("wb") as sink:
                done = subprocess.run(
                    [str(PEER_PYTHON), str(RUNNER), "request.json", "result.json"],
                    cwd=work,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=args.task_timeout,
                    check=False,
                    preexec_fn=die_with_us,
                    env={
                        "PATH": "/usr/bin:/bin",
                        "HOME": str(work),
                        "NO_COLOR": "1",
                        "COLUMNS": "120",
                    },
                )
        except subprocess.TimeoutExpired:
            partial = work / "result.json.partial"
            if partial.is_file():
                fill_partial(record, json.loads(partial.read_text(encoding="utf-8"))["steps"])
            raise
        result_file = work / "result.json"
        if done.returncode != 0 or not result_file.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace")[-600:]
            raise RuntimeError(f"the peer process failed ({done.returncode}): {tail}")
        result = json.loads(result_file.read_text(encoding="utf-8"))
    fill_from_agent(record, task, result)


def run_all(plan: Plan, args: argparse.Namespace) -> None:
    if not plan.todo:
        return
    logs = plan.out / "logs"
    logs.mkdir(exist_ok=True)
    with llama_server(args, plan.out / "server.log") as server:
        for task in plan.todo:
            record = new_record(SUITE, task)
            started = time.perf_counter()
            stopped = False
            try:
                run_question(task, args, server.base, logs, record)
            except subprocess.TimeoutExpired:
                record.outcome, record.error = "error", f"over --task-timeout {args.task_timeout}s"
                stopped = True
            except Exception as error:  # recorded; the run goes on
                record.outcome, record.retries_to_success = "error", None
                record.error = f"{type(error).__name__}: {error}"
            record.wall_s = time.perf_counter() - started
            write_record(plan, record)
            if stopped:  # the server would go on generating for the stopped agent
                server.stop()
                server.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(
        parser, temperature=-1.0, temperature_help="default -1: none sent, the server's own, 0.8"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="the agent's step limit (default: smolagents' own, 20)",
    )
    parser.add_argument(
        "--task-timeout",
        type=float,
        default=900.0,
        help="a question not done after this long is recorded as an error",
    )
    parser.add_argument(
        "--server-wait", type=float, default=180.0, help="seconds to wait for the server to answer"
    )
    args = parser.parse_args(argv)
    # A plain `kill` ends the run through its `finally` blocks (the server stops with it).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not PEER_PYTHON.is_file():
        print(
            f"error: no peer environment at {PEER_PYTHON}: run benchmarks/peer/setup",
            file=sys.stderr,
        )
        return 2
    settings = {
        "harness": "smolagents CodeAgent + OpenAIServerModel on llama_cpp.server",
        "temperature": args.temperature if args.temperature >= 0 else "server default",
        "threads": args.threads,
        "n_ctx": args.n_ctx,
        "max_steps": args.max_steps or "smolagents default",
        "authorized_imports": AUTHORIZED_IMPORTS,
        "task_timeout": args.task_timeout,
    }
    try:
        plan = plan_run(SUITE, args, settings)
        started = time.perf_counter()
        run_all(plan, args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finish(
        plan, "DABench baseline: smolagents CodeAgent", args.model, time.perf_counter() - started
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
