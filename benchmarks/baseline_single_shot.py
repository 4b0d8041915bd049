"""DABench baseline (a): single shot. One completion writes a program, the program runs once in
a real sandboxed kernel, one more completion reads its output (or its traceback) and gives the
answer lines. No retry, no loop: what Airlock's loop has to beat.

    .venv/bin/python benchmarks/baseline_single_shot.py --out benchmarks/results/single-shot \\
        [--model /tmp/models/qwen2.5-coder-1.5b.gguf] [--data ../shared/data/dabench] \\
        [--every 3] [--limit 5] [--ids 0,19] [--resume] [--threads N] [--temperature 0]

The model goes through Airlock's own backend (`models.load_model`): the same GGUF chat
template, the same rendering of a code call and its output, the same sampler, so the only
difference from `airlock bench dabench` is the loop. The first completion is a required code
call (llama.cpp's grammar makes it one fenced python block, nothing before it); the second is
text only. Prompts: a short fixed system line, then Airlock's `prompt_for(question)` (the file
is in /mnt/data, as for Airlock); the second turn asks for the answer lines. Greedy (temperature
0) unless told otherwise; n_ctx 8192 and every CPU for llama.cpp, as recorded in config.json.
Scoring, question subset and result records are Airlock's (see baseline_common).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

from engine.devtools.bench.dabench import DEFAULT_CELL_TIMEOUT, prompt_for
from engine.devtools.bench.harness import BenchError
from engine.devtools.bench.records import TaskRecord
from engine.devtools.bench.suite import BenchTask
from models import ChatMessage, ChatResult, CodeTool, ModelBackend, SamplingParams, load_model
from sandbox import AsyncSession, Execution, Limits, SandboxConfig

SUITE = "dabench-single-shot"
SYSTEM = (
    "You are a data analyst. Answer the question about the data file by writing one "
    "complete Python program that loads the file, computes every requested value and "
    "prints it."
)
ANSWER_REQUEST = (
    "Now give the answer: one line per requested value, exactly in the requested "
    "format @name[value]."
)
#: Characters of the cell's output the model is shown: the head and, larger, the tail (where a
#: traceback says what went wrong).
OUTPUT_CHARS = 3000
CODE_TOKENS = 1024
ANSWER_TOKENS = 512


def output_for_model(execution: Execution, limit: int = OUTPUT_CHARS) -> str:
    """What the cell printed, its value, and its traceback, cut to `limit` characters."""
    text = execution.logs.strip("\n")
    if execution.restart is not None:
        text += f"\n[the kernel was restarted: {execution.restart.reason}]"
    if not text:
        return "[the code ran without output]"
    if len(text) <= limit:
        return text
    head = limit // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


class Timed:
    """Model calls, their seconds and tokens summed."""

    def __init__(self, backend: ModelBackend, temperature: float) -> None:
        self.backend = backend
        self.temperature = temperature
        self.seconds = 0.0
        self.tokens_in = 0
        self.tokens_out = 0

    async def chat(
        self, messages: Sequence[ChatMessage], code_tool: CodeTool, max_tokens: int
    ) -> ChatResult:
        started = time.perf_counter()
        result = await self.backend.chat(
            messages,
            code_tool=code_tool,
            sampling=SamplingParams(temperature=self.temperature, max_tokens=max_tokens, seed=0),
        )
        self.seconds += time.perf_counter() - started
        self.tokens_in += result.usage.prompt_tokens
        self.tokens_out += result.usage.completion_tokens
        return result


def cell_record(execution: Execution) -> dict[str, Any]:
    error = execution.error
    return {
        "code": keep(execution.code),
        "output": keep(execution.logs),
        "error": f"{error.name}: {error.value}" if error is not None else None,
        "timed_out": execution.timed_out,
        "restarted": execution.restart is not None,
        "duration_s": round(execution.duration, 3),
    }


async def run_question(
    backend: ModelBackend, task: BenchTask, args: argparse.Namespace, record: TaskRecord
) -> None:
    model = Timed(backend, args.temperature)
    config = SandboxConfig(limits=Limits(timeout=args.cell_timeout))
    async with await AsyncSession.start(config) as session:
        session.put_file(task.data["file_name"], Path(task.data["path"]))
        messages = [ChatMessage.system(SYSTEM), ChatMessage.user(prompt_for(task.data))]
        first = await model.chat(messages, "required", CODE_TOKENS)
        record.detail.update(first_text=first.text, first_finish=first.finish_reason)
        if first.code is None or first.call_id is None:  # cannot happen with "required"
            raise RuntimeError(f"the first completion wrote no code: {first.text[:200]!r}")
        execution = await session.execute(first.code)
    record.attempts = 1
    record.timeouts = int(execution.timed_out)
    record.kernel_restarts = int(execution.restart is not None)
    record.execution_s = execution.duration
    record.detail.update(code_calls=1, cells=[cell_record(execution)])
    messages += [
        first.to_message(),
        ChatMessage.tool(first.call_id, output_for_model(execution)),
        ChatMessage.user(ANSWER_REQUEST),
    ]
    second = await model.chat(messages, False, ANSWER_TOKENS)
    record.model_s = model.seconds
    record.tokens_in, record.tokens_out = model.tokens_in, model.tokens_out
    record.detail["answer_finish"] = second.finish_reason
    note = "" if execution.ok else f"the cell failed: {record.detail['cells'][0]['error']}"
    record.retries_to_success = 0 if execution.ok else None
    score_into(record, task, second.text, note=note)


async def run_all(plan: Plan, args: argparse.Namespace) -> None:
    if not plan.todo:
        return
    backend = await asyncio.to_thread(
        load_model, args.model, n_ctx=args.n_ctx, n_threads=args.threads
    )
    try:
        for task in plan.todo:
            record = new_record(SUITE, task)
            started = time.perf_counter()
            try:
                await asyncio.wait_for(run_question(backend, task, args, record), args.task_timeout)
            except Exception as error:  # recorded; the run goes on
                record.outcome, record.retries_to_success = "error", None
                record.error = f"{type(error).__name__}: {error}"
            record.wall_s = time.perf_counter() - started
            write_record(plan, record)
    finally:
        await backend.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(parser)
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=DEFAULT_CELL_TIMEOUT,
        help="seconds for the one cell (Airlock's dabench default)",
    )
    parser.add_argument(
        "--task-timeout",
        type=float,
        default=900.0,
        help="a question not done after this long is recorded as an error",
    )
    args = parser.parse_args(argv)
    settings = {
        "harness": "single shot: one code completion (required), one cell, one answer "
        "completion (text only)",
        "temperature": args.temperature,
        "threads": args.threads,
        "n_ctx": args.n_ctx,
        "code_max_tokens": CODE_TOKENS,
        "answer_max_tokens": ANSWER_TOKENS,
        "cell_timeout": args.cell_timeout,
        "task_timeout": args.task_timeout,
        "system": SYSTEM,
        "answer_request": ANSWER_REQUEST,
        "output_chars_shown": OUTPUT_CHARS,
    }
    try:
        plan = plan_run(SUITE, args, settings)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    asyncio.run(run_all(plan, args))
    finish(plan, "DABench baseline: single shot", args.model, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
