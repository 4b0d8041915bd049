"""What the parts of ``bench_models.py`` share: the conversations they send, timing helpers for
Airlock's stream and for raw llama-cpp-python on the same prompt tokens, and the host's load.

Every call is greedy (temperature 0, the backend's top_k/min_p on both sides), so Airlock and the
raw baselines generate the same tokens and a run can be repeated."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from models import ChatMessage, ChatResult, SamplingParams
from models.base import CodeTool
from models.config import LlamaOptions
from models.llama_backend import LlamaBackend, default_threads
from models.prompting import render_text_messages

TRACEBACK = """Traceback (most recent call last):
  File "<cell 3>", line 4, in <module>
    summary = df.groupby("region")["revenue"].sum()
  File "pandas/core/frame.py", line 9183, in groupby
    return DataFrameGroupBy(obj=self, keys=by, axis=axis, level=level)
KeyError: 'region'
"""
GREEDY = SamplingParams(temperature=0.0, max_tokens=8, seed=1)


def greedy(max_tokens: int) -> SamplingParams:
    return SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=1)


def load() -> float:
    """The host's 1-minute load average (the machine may be shared: it goes with every figure)."""
    return os.getloadavg()[0]


class Loads:
    """The 1-minute load averages seen while a part ran (at its start, between runs, at its
    end): reported next to its figures, since another job on the host slows every one."""

    def __init__(self) -> None:
        self.seen: list[float] = [load()]

    def note(self) -> None:
        self.seen.append(load())

    def summary(self) -> dict[str, float]:
        self.note()
        return {"min": min(self.seen), "max": max(self.seen)}


def conversation(backend: LlamaBackend, target: int, topic: str) -> list[ChatMessage]:
    """A data-analysis conversation padded to about ``target`` prompt tokens."""
    rows = [f"{topic}-{i},{i * 7 % 13},{i * 31 % 97}.5,north" for i in range(400)]
    for n in range(2, len(rows), 2):
        convo = [
            ChatMessage.system(f"You are a careful data analyst ({topic})."),
            ChatMessage.user("Here is sales.csv:\n" + "\n".join(rows[:n]) + "\nTotal by region?"),
        ]
        if backend.count_tokens(convo, code_tool=False) >= target:
            return convo
    return convo


def retry_of(convo: list[ChatMessage], result: ChatResult) -> list[ChatMessage]:
    return [*convo, result.to_message(), ChatMessage.user("That failed:\n" + TRACEBACK)]


def prompt_tokens(
    backend: LlamaBackend, convo: list[ChatMessage], code_tool: CodeTool = False
) -> list[int]:
    """The prompt Airlock sends for a text-only call, tokenized the same way, for the raw side."""
    return backend._prompt_tokens(render_text_messages(convo, code_tool))


async def ttft(
    backend: LlamaBackend, convo: list[ChatMessage], sampling: SamplingParams = GREEDY
) -> tuple[float, ChatResult]:
    """Seconds to the first streamed delta of a text-only call (nothing held back by the
    splitter), and the call's result."""
    started = time.perf_counter()
    first: float | None = None
    result: ChatResult | None = None
    async for item in backend.stream(convo, code_tool=False, sampling=sampling):
        if first is None:
            first = time.perf_counter() - started
        if isinstance(item, ChatResult):
            result = item
    assert result is not None and first is not None
    return first, result


async def timed_call(
    backend: LlamaBackend, convo: list[ChatMessage], code_tool: CodeTool, max_tokens: int
) -> tuple[float, ChatResult]:
    """Wall seconds of a whole call, and its result."""
    started = time.perf_counter()
    result = await backend.chat(convo, code_tool=code_tool, sampling=greedy(max_tokens))
    return time.perf_counter() - started, result


async def cached_generation(
    backends: dict[str, LlamaBackend],
    convo: list[ChatMessage],
    code_tool: CodeTool,
    max_tokens: int,
    repeats: int,
    loads: Loads,
) -> dict[str, dict[str, Any]]:
    """Generation speed of each backend on the same call: a first, untimed call evaluates the
    prompt, so that the timed repeats (interleaved between backends, so that noise on the host
    hits them alike) pay for one prompt token and the reply: tokens / wall seconds.

    The first call's reply may differ from the repeats': its last prompt token is evaluated in a
    batch with the rest of the prompt, theirs alone, and the different arithmetic can turn a
    near-tie of the greedy choice. The repeats take the same path each time, so they agree."""
    for backend in backends.values():
        await backend.chat(convo, code_tool=code_tool, sampling=greedy(max_tokens))
    rates: dict[str, list[float]] = {name: [] for name in backends}
    replies: dict[str, list[tuple[str, int, str]]] = {name: [] for name in backends}
    for _ in range(repeats):
        for name, backend in backends.items():
            seconds, result = await timed_call(backend, convo, code_tool, max_tokens)
            tokens = result.usage.completion_tokens
            rates[name].append(tokens / seconds)
            replies[name].append(((result.code or "") + result.text, tokens, result.finish_reason))
            loads.note()
    return {
        name: {
            "tokens": replies[name][-1][1],
            "tokens_per_s": statistics.median(rates[name]),
            "runs": rates[name],
            "finish": replies[name][-1][2],
            "reply": replies[name][-1][0],
            "repeats_agree": len(set(replies[name])) == 1,
        }
        for name in backends
    }


def raw_llama(model: Path, options: LlamaOptions, **extra: Any) -> Any:
    """A plain ``Llama`` on the file with a backend's options (threads as the backend resolves
    them: llama-cpp-python's own default is half the CPUs)."""
    import llama_cpp

    threads = options.n_threads or default_threads()
    return llama_cpp.Llama(
        model_path=str(model),
        n_ctx=options.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=options.n_gpu_layers,
        n_batch=options.n_batch,
        verbose=False,
        **extra,
    )


def raw_sampling(backend: LlamaBackend) -> dict[str, Any]:
    """``Llama.generate``'s keywords for Airlock's greedy sampling with the backend's options."""
    o = backend.options
    return {
        "temp": 0.0,
        "top_k": o.top_k,
        "top_p": 1.0,
        "min_p": o.min_p,
        "repeat_penalty": o.repeat_penalty,
    }


def raw_tokens_of(llm: Any, tokens: list[int], n: int, sampling: dict[str, Any]) -> Iterator[int]:
    """Raw ``Llama.generate`` on a prompt up to ``n`` tokens or the end of generation."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    generated = llm.generate(tokens, **sampling)
    try:
        for i, token in enumerate(generated):
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                break
            yield token
            if i + 1 >= n:
                break
    finally:
        generated.close()


def raw_ttft(llm: Any, tokens: list[int], n: int, sampling: dict[str, Any]) -> float:
    """Time to the first token of raw ``Llama.generate`` on a prompt, then (untimed) up to ``n``
    tokens like the Airlock call, so that both leave the same tokens evaluated."""
    started = time.perf_counter()
    first: float | None = None
    for _ in raw_tokens_of(llm, tokens, n, sampling):
        if first is None:
            first = time.perf_counter() - started
    assert first is not None
    return first
