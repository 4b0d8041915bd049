"""``bench_models.py``'s speed part: loading the model (``load_model``, a whole ``LlamaBackend``,
against a raw ``Llama(...)`` with the same options), generation speed through Airlock (async
stream, worker thread, splitter) against raw llama-cpp-python on the same prompt tokens
(``Llama.generate`` in a plain loop and ``Llama.create_completion``; target: Airlock within 5% of
the faster), Airlock with ``stream_batch_s=0`` (the event loop woken for every token: what
batching saves), and a code call with the GBNF code grammar on against off."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench_models_common import Loads, cached_generation, prompt_tokens, raw_llama, raw_sampling

from models import ChatMessage, ChatResult, SamplingParams, load_model
from models.llama_backend import LlamaBackend

# A reply longer than --gen-tokens, so that every side stops at the same count.
STORY = [
    ChatMessage.user(
        "Write a long story, at least 1,000 words, about a data analyst who finds an error "
        "in a quarterly sales report."
    )
]
# A code call a real model answers with a cell of a few dozen lines.
CODE_REQUEST = [
    ChatMessage.system("You are a data analyst. Files are in /mnt/data."),
    ChatMessage.user(
        "sales.csv has columns date, region, product, units, price. Load it with pandas, add a "
        "revenue column (units * price), print revenue by region and by month, and save a bar "
        "chart of revenue by region to /mnt/data/by_region.png."
    ),
]


async def bench_load(model: Path, options: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Seconds to a usable model, alternating Airlock and raw (the file is in the page cache
    after the first load, as it is for a user's second run)."""
    loads = Loads()
    airlock, raw = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        backend = load_model(str(model), **options)
        airlock.append(time.perf_counter() - started)
        assert isinstance(backend, LlamaBackend)
        await backend.aclose()
        started = time.perf_counter()
        llm = raw_llama(model, backend.options)
        raw.append(time.perf_counter() - started)
        llm.close()
        loads.note()
    return {
        "airlock_s": statistics.median(airlock),
        "raw_s": statistics.median(raw),
        "runs": {"airlock_s": airlock, "raw_s": raw},
        "load": loads.summary(),
    }


async def airlock_speed(backend: LlamaBackend, n: int) -> tuple[int, float]:
    stamps: list[float] = []
    result: ChatResult | None = None
    sampling = SamplingParams(temperature=0.0, max_tokens=n, seed=1)
    async for item in backend.stream(STORY, code_tool=False, sampling=sampling):
        stamps.append(time.perf_counter())
        if isinstance(item, ChatResult):
            result = item
    assert result is not None
    # From the first delta to the result: tokens after the first one, over the time they took.
    return result.usage.completion_tokens, stamps[-1] - stamps[0]


def raw_generate_speed(
    llm: Any, tokens: list[int], n: int, sampling: dict[str, Any]
) -> tuple[int, float]:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    stamps: list[float] = []
    llm.set_seed(1)
    for token in llm.generate(tokens, **sampling):
        if llama_cpp.llama_vocab_is_eog(vocab, token) or len(stamps) >= n:
            break
        llm.detokenize([token])
        stamps.append(time.perf_counter())
    return len(stamps), stamps[-1] - stamps[0]


def raw_completion_speed(
    llm: Any, tokens: list[int], n: int, sampling: dict[str, Any]
) -> tuple[int, float]:
    """Non-streaming, as most callers use it. The prompt was evaluated by the previous run on
    this object (prefix reuse), so the time is generation plus one token of prompt."""
    started = time.perf_counter()
    out = llm.create_completion(
        tokens,
        max_tokens=n,
        temperature=0.0,
        top_k=sampling["top_k"],
        top_p=1.0,
        min_p=sampling["min_p"],
        repeat_penalty=sampling["repeat_penalty"],
        seed=1,
    )
    count: int = out["usage"]["completion_tokens"]
    return count + 1, time.perf_counter() - started


async def bench_speed(model: Path, options: dict[str, Any], n: int, repeats: int) -> dict[str, Any]:
    loads = Loads()
    backend = load_model(str(model), **options)
    # The same, waking the event loop once per token (stream_batch_s=0): what batching saves.
    unbatched = load_model(str(model), **options, stream_batch_s=0.0)
    assert isinstance(backend, LlamaBackend) and isinstance(unbatched, LlamaBackend)
    llm = raw_llama(model, backend.options)
    sampling = raw_sampling(backend)
    tokens = prompt_tokens(backend, STORY)
    runs: dict[str, list[float]] = {
        "airlock": [],
        "airlock_unbatched": [],
        "raw_generate": [],
        "raw_completion": [],
    }
    counts: dict[str, int] = {}
    try:
        for _ in range(repeats):  # interleaved, so that machine noise hits all alike
            for name, (count, seconds) in (
                ("airlock", await airlock_speed(backend, n)),
                ("airlock_unbatched", await airlock_speed(unbatched, n)),
                ("raw_generate", raw_generate_speed(llm, tokens, n, sampling)),
                ("raw_completion", raw_completion_speed(llm, tokens, n, sampling)),
            ):
                runs[name].append((count - 1) / seconds)
                counts[name] = count
            loads.note()
    finally:
        llm.close()
        await unbatched.aclose()
        await backend.aclose()
    speeds = {name: statistics.median(values) for name, values in runs.items()}
    best_raw = max(speeds["raw_generate"], speeds["raw_completion"])
    return {
        "tokens": counts,
        "tokens_per_s": speeds,
        "airlock_over_best_raw": speeds["airlock"] / best_raw,
        "runs": runs,
        "load": loads.summary(),
    }


async def bench_grammar(
    model: Path, options: dict[str, Any], n: int, repeats: int
) -> dict[str, Any]:
    """A required code call with ``code_grammar`` "on" (the GBNF grammar constrains every token)
    against "off" (the fence opened in the prompt, the reply read by the splitter)."""
    loads = Loads()
    backends: dict[str, LlamaBackend] = {}
    try:
        for mode in ("off", "on"):
            backend = load_model(str(model), **options, code_grammar=mode)
            assert isinstance(backend, LlamaBackend)
            backends[mode] = backend
        # Room for the whole cell: both end at its closing fence, and the code can be compared.
        runs = await cached_generation(
            backends, CODE_REQUEST, "required", max(n, 384), repeats, loads
        )
    finally:
        for backend in backends.values():
            await backend.aclose()
    return {
        **runs,
        "n_vocab": int(backends["off"]._slots[0].llm.n_vocab()),
        "on_over_off": runs["on"]["tokens_per_s"] / runs["off"]["tokens_per_s"],
        "same_code": runs["on"]["reply"] == runs["off"]["reply"],
        "load": loads.summary(),
    }
