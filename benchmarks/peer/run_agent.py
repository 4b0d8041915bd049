"""One question through huggingface smolagents' `CodeAgent`, run by the peer environment's
Python (benchmarks/peer/.venv, made by benchmarks/peer/setup), never by Airlock's.

    benchmarks/peer/.venv/bin/python benchmarks/peer/run_agent.py REQUEST.json RESULT.json

REQUEST: {"prompt", "api_base", "model_id", "max_steps" (null: the agent's default),
"temperature" (null: the server's default), "authorized_imports"}. The agent's model is
`OpenAIServerModel` on an OpenAI-compatible server (llama.cpp's, started by
benchmarks/baseline_smolagents.py); its code runs in smolagents' own local executor, in this
process, in the current directory. Messages go as plain text (`flatten_messages_as_text`:
llama.cpp's server refuses content given as a list of parts). Everything else is the agent's
default. RESULT: the final
answer (as a string), the run's state, and per step the model's output, the code, the
observations, the error, seconds and tokens; after each step the steps so far are written to
RESULT.partial (what is left when the run is stopped for its time). The agent's own log goes
to stdout.

smolagents is imported by name at run time, so this file type-checks without it (the
boundary is the plain JSON written to RESULT).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def step_record(step: Any) -> dict[str, Any]:
    usage = getattr(step, "token_usage", None)
    error = getattr(step, "error", None)
    timing = getattr(step, "timing", None)
    return {
        "step": getattr(step, "step_number", None),
        "model_output": _text(getattr(step, "model_output", None)),
        "code": getattr(step, "code_action", None),
        "observations": getattr(step, "observations", None),
        "error": str(error) if error is not None else None,
        "error_type": type(error).__name__ if error is not None else None,
        "is_final_answer": bool(getattr(step, "is_final_answer", False)),
        "seconds": getattr(timing, "duration", None) if timing is not None else None,
        "tokens_in": getattr(usage, "input_tokens", 0) if usage is not None else 0,
        "tokens_out": getattr(usage, "output_tokens", 0) if usage is not None else 0,
    }


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def run(request: dict[str, Any], partial: Path | None = None) -> dict[str, Any]:
    smolagents: Any = importlib.import_module("smolagents")
    model_kwargs: dict[str, Any] = {}
    if request.get("temperature") is not None:
        model_kwargs["temperature"] = request["temperature"]
    # llama.cpp's server takes message content as a string only (not a list of parts).
    model = smolagents.OpenAIServerModel(
        model_id=request["model_id"],
        api_base=request["api_base"],
        api_key="x",
        flatten_messages_as_text=True,
        **model_kwargs,
    )
    model_s = [0.0]
    generate = model.generate

    def timed_generate(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return generate(*args, **kwargs)
        finally:
            model_s[0] += time.perf_counter() - started

    model.generate = timed_generate
    steps: list[dict[str, Any]] = []

    def progress(step: Any) -> None:
        steps.append(step_record(step))
        if partial is not None:
            partial.write_text(json.dumps({"steps": steps}, default=str), encoding="utf-8")

    agent_kwargs: dict[str, Any] = {"step_callbacks": [progress]}
    if request.get("max_steps") is not None:
        agent_kwargs["max_steps"] = request["max_steps"]
    agent = smolagents.CodeAgent(
        tools=[],
        model=model,
        additional_authorized_imports=request["authorized_imports"],
        **agent_kwargs,
    )
    started = time.perf_counter()
    result = agent.run(request["prompt"], return_full_result=True)
    agent_s = time.perf_counter() - started
    usage = getattr(result, "token_usage", None)
    output = result.output
    return {
        "output": None if output is None else str(output),
        "state": result.state,
        "max_steps": agent.max_steps,
        "steps": steps,
        "tokens_in": getattr(usage, "input_tokens", 0) if usage is not None else 0,
        "tokens_out": getattr(usage, "output_tokens", 0) if usage is not None else 0,
        "agent_s": agent_s,
        "model_s": model_s[0],
        "smolagents": smolagents.__version__,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    target = Path(argv[2])
    result = run(request, target.with_name(target.name + ".partial"))
    target.write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
