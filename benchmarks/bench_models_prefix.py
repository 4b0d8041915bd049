"""``bench_models.py``'s prefix part: a ~1,500-token data-analysis prompt evaluated from nothing
(time to first token, prompt tokens/s) and a retry that appends the reply and a traceback (how
much of the evaluated prefix it reuses, and its time to first token against the first call's),
through Airlock and through raw ``Llama.generate`` on a ``Llama`` of its own; then the same retry
after another conversation ran in between, with one slot and with two."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench_models_common import (
    GREEDY,
    Loads,
    conversation,
    prompt_tokens,
    raw_llama,
    raw_sampling,
    raw_ttft,
    retry_of,
    ttft,
)

from models import load_model
from models.llama_backend import LlamaBackend


async def bench_prefix(backend: LlamaBackend, target: int, repeats: int) -> dict[str, Any]:
    """Airlock, then raw ``Llama.generate`` on the same prompt tokens (its own ``Llama`` object):
    the raw retry shows what llama.cpp itself needs to evaluate the appended turns."""
    loads = Loads()
    llm = raw_llama(backend.model_path, backend.options)
    sampling = raw_sampling(backend)
    firsts, retries, colds, cached, prompt = [], [], [], [], 0
    raw_firsts, raw_retries = [], []
    try:
        for r in range(repeats):
            await ttft(backend, conversation(backend, 200, f"warmup{r}"))  # evicts the last run
            convo = conversation(backend, target, "main")
            first, result = await ttft(backend, convo)
            again, retry = await ttft(backend, retry_of(convo, result))
            await ttft(backend, conversation(backend, 200, f"evict{r}"))
            cold, _ = await ttft(backend, retry_of(convo, result))  # the same prompt, not cached
            loads.note()
            colds.append(cold)
            firsts.append(first)
            retries.append(again)
            cached.append(retry.usage.cached_tokens)
            prompt = retry.usage.prompt_tokens
            n = GREEDY.max_tokens
            raw_ttft(
                llm, prompt_tokens(backend, conversation(backend, 200, f"warmup{r}")), n, sampling
            )
            raw_firsts.append(raw_ttft(llm, prompt_tokens(backend, convo), n, sampling))
            raw_retries.append(
                raw_ttft(llm, prompt_tokens(backend, retry_of(convo, result)), n, sampling)
            )
            loads.note()
    finally:
        llm.close()
    first_s, retry_s = statistics.median(firsts), statistics.median(retries)
    raw_first_s, raw_retry_s = statistics.median(raw_firsts), statistics.median(raw_retries)
    first_tokens = result.usage.prompt_tokens
    return {
        "prompt_tokens_first": first_tokens,
        "prompt_tokens_retry": prompt,
        "cached_tokens_retry": statistics.median(cached),
        "retry_reused": statistics.median(cached) / prompt,
        "ttft_first_s": first_s,
        "ttft_retry_s": retry_s,
        "ttft_retry_uncached_s": statistics.median(colds),
        "retry_over_first": retry_s / first_s,
        "prompt_tokens_per_s": first_tokens / first_s,
        "raw_ttft_first_s": raw_first_s,
        "raw_ttft_retry_s": raw_retry_s,
        "raw_retry_over_first": raw_retry_s / raw_first_s,
        "raw_prompt_tokens_per_s": first_tokens / raw_first_s,
        "prompt_airlock_over_raw": raw_first_s / first_s,
        "runs": {"ttft_first_s": firsts, "raw_ttft_first_s": raw_firsts},
        "load": loads.summary(),
    }


async def bench_interleaved(
    model: Path, options: dict[str, Any], target: int, slots: int
) -> dict[str, Any]:
    loads = Loads()
    backend = load_model(str(model), **options, n_slots=slots)
    assert isinstance(backend, LlamaBackend)
    try:
        a, b = conversation(backend, target, "alpha"), conversation(backend, target, "beta")
        _, ra = await ttft(backend, a)
        await ttft(backend, b)  # another conversation runs while a's code executes
        again, retry = await ttft(backend, retry_of(a, ra))
        return {
            "slots": slots,
            "ttft_retry_s": again,
            "cached_tokens": retry.usage.cached_tokens,
            "load": loads.summary(),
        }
    finally:
        await backend.aclose()
