"""Benchmark of the llama.cpp backend: prefix reuse on retries, and generation overhead.

    python benchmarks/bench_models.py [--model PATH.gguf] [--json]
    python benchmarks/bench_models.py --fetch-vocab qwen2     # real tokenizer, see below

Without --model it writes the tiny random-weight GGUF (``models.tiny_gguf``, n_ctx 4096). Its
tokenizer is synthetic and byte-level (about one token per character), which makes appended
text cost several times more tokens than with a real model's tokenizer. ``--vocab PATH`` copies
the tokenizer of another GGUF instead; ``--fetch-vocab NAME`` takes ``ggml-vocab-NAME.gguf`` from
the llama-cpp-python sdist of the installed version (MIT; llama.cpp ships these vocab-only
files for its tokenizer tests), downloaded once with pip into ``~/.cache/airlock`` (or
``$XDG_CACHE_HOME/airlock``); only that file is extracted, nothing lands in the repository.
``--embd``/``--layers`` make the random model wider/deeper (slower per token, so that fixed
per-token costs weigh less, as on a real model).

Measured, for a conversation of about 1,500 prompt tokens (median of --repeats runs):

- time to first token of a first call (nothing of it evaluated before) and of a retry that
  appends the call and its traceback (target: the retry under 10% of the first); then the
  same two prompts through raw ``Llama.generate`` on its own ``Llama`` object: llama.cpp's own
  cost of evaluating the appended tokens, the floor for any caller;
- the same retry when another conversation ran in between, with one slot and with two;
- generation speed through Airlock (async stream, worker thread, splitter) against raw
  llama-cpp-python on the same file: ``Llama.generate`` in a plain loop and
  ``Llama.create_completion`` (target: Airlock within 5% of the faster); also Airlock with
  ``stream_batch_s=0`` (the event loop woken for every token), to show what batching saves.

Time to first token is taken from the first streamed delta of a text-only call (no grammar, so
nothing is held back while the splitter waits to see a fence). Sampling is greedy, so every run
generates the same tokens. The host may be shared: figures are medians, and runs vary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import ChatMessage, ChatResult, SamplingParams, load_model
from models.llama_backend import LlamaBackend
from models.tiny_gguf import read_tokenizer, write_tiny_gguf

TRACEBACK = """Traceback (most recent call last):
  File "<cell 3>", line 4, in <module>
    summary = df.groupby("region")["revenue"].sum()
  File "pandas/core/frame.py", line 9183, in groupby
    return DataFrameGroupBy(obj=self, keys=by, axis=axis, level=level)
KeyError: 'region'
"""
GREEDY = SamplingParams(temperature=0.0, max_tokens=8, seed=1)


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


async def ttft(backend: LlamaBackend, convo: list[ChatMessage]) -> tuple[float, ChatResult]:
    started = time.perf_counter()
    first: float | None = None
    result: ChatResult | None = None
    async for item in backend.stream(convo, code_tool=False, sampling=GREEDY):
        if first is None:
            first = time.perf_counter() - started
        if isinstance(item, ChatResult):
            result = item
    assert result is not None and first is not None
    return first, result


def retry_of(convo: list[ChatMessage], result: ChatResult) -> list[ChatMessage]:
    return [*convo, result.to_message(), ChatMessage.user("That failed:\n" + TRACEBACK)]


def raw_ttft(llm: Any, tokens: list[int], n: int) -> float:
    """Time to the first token of raw ``Llama.generate`` on a prompt, then (untimed) up to ``n``
    tokens like the Airlock call, so that both leave the same tokens evaluated."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    started = time.perf_counter()
    first: float | None = None
    generated = llm.generate(tokens, temp=0.0, top_k=40, top_p=1.0, min_p=0.05)
    try:
        for i, token in enumerate(generated):
            if first is None:
                first = time.perf_counter() - started
            if llama_cpp.llama_vocab_is_eog(vocab, token) or i + 1 >= n:
                break
    finally:
        generated.close()
    assert first is not None
    return first


async def bench_prefix(
    backend: LlamaBackend, llm: Any, target: int, repeats: int
) -> dict[str, Any]:
    """Airlock, then raw ``Llama.generate`` on the same prompt tokens (its own ``Llama`` object):
    the raw retry shows what llama.cpp itself needs to evaluate the appended turns."""
    firsts, retries, colds, cached, prompt = [], [], [], [], 0
    raw_firsts, raw_retries = [], []

    def tokens(convo: list[ChatMessage]) -> list[int]:
        from models.prompting import render_text_messages

        return backend._prompt_tokens(render_text_messages(convo, False))

    for r in range(repeats):
        await ttft(backend, conversation(backend, 200, f"warmup{r}"))  # evicts the last run
        convo = conversation(backend, target, "main")
        first, result = await ttft(backend, convo)
        again, retry = await ttft(backend, retry_of(convo, result))
        await ttft(backend, conversation(backend, 200, f"evict{r}"))
        cold, _ = await ttft(backend, retry_of(convo, result))  # the same prompt, not cached
        colds.append(cold)
        firsts.append(first)
        retries.append(again)
        cached.append(retry.usage.cached_tokens)
        prompt = retry.usage.prompt_tokens
        n = GREEDY.max_tokens
        raw_ttft(llm, tokens(conversation(backend, 200, f"warmup{r}")), n)
        raw_firsts.append(raw_ttft(llm, tokens(convo), n))
        raw_retries.append(raw_ttft(llm, tokens(retry_of(convo, result)), n))
    first_s, retry_s = statistics.median(firsts), statistics.median(retries)
    raw_first_s, raw_retry_s = statistics.median(raw_firsts), statistics.median(raw_retries)
    return {
        "prompt_tokens_first": result.usage.prompt_tokens,
        "prompt_tokens_retry": prompt,
        "cached_tokens_retry": statistics.median(cached),
        "ttft_first_s": first_s,
        "ttft_retry_s": retry_s,
        "ttft_retry_uncached_s": statistics.median(colds),
        "retry_over_first": retry_s / first_s,
        "raw_ttft_first_s": raw_first_s,
        "raw_ttft_retry_s": raw_retry_s,
        "raw_retry_over_first": raw_retry_s / raw_first_s,
    }


async def bench_interleaved(model: Path, n_ctx: int, target: int, slots: int) -> dict[str, Any]:
    backend = load_model(str(model), n_ctx=n_ctx, n_slots=slots)
    assert isinstance(backend, LlamaBackend)
    try:
        a, b = conversation(backend, target, "alpha"), conversation(backend, target, "beta")
        _, ra = await ttft(backend, a)
        await ttft(backend, b)  # another conversation runs while a's code executes
        again, retry = await ttft(backend, retry_of(a, ra))
        return {"slots": slots, "ttft_retry_s": again, "cached_tokens": retry.usage.cached_tokens}
    finally:
        await backend.aclose()


async def airlock_speed(backend: LlamaBackend, n: int) -> tuple[int, float]:
    stamps: list[float] = []
    result: ChatResult | None = None
    sampling = SamplingParams(temperature=0.0, max_tokens=n, seed=1)
    convo = [ChatMessage.user("Write a long story.")]
    async for item in backend.stream(convo, code_tool=False, sampling=sampling):
        stamps.append(time.perf_counter())
        if isinstance(item, ChatResult):
            result = item
    assert result is not None
    # From the first delta to the result: tokens after the first one, over the time they took.
    return result.usage.completion_tokens, stamps[-1] - stamps[0]


def raw_tokens(backend: LlamaBackend, llm: Any) -> list[int]:
    """The prompt Airlock sends, tokenized the same way, for the raw baselines."""
    convo = [ChatMessage.user("Write a long story.")]
    from models.prompting import render_text_messages

    return backend._prompt_tokens(render_text_messages(convo, False))


def raw_generate_speed(llm: Any, tokens: list[int], n: int) -> tuple[int, float]:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    stamps: list[float] = []
    llm.set_seed(1)
    for token in llm.generate(tokens, temp=0.0, top_k=40, top_p=1.0, min_p=0.05):
        if llama_cpp.llama_vocab_is_eog(vocab, token) or len(stamps) >= n:
            break
        llm.detokenize([token])
        stamps.append(time.perf_counter())
    return len(stamps), stamps[-1] - stamps[0]


def raw_completion_speed(llm: Any, tokens: list[int], n: int) -> tuple[int, float]:
    """Non-streaming, as most callers use it. The prompt was evaluated by the previous run on
    this object (prefix reuse), so the time is generation plus one token of prompt."""
    started = time.perf_counter()
    out = llm.create_completion(
        tokens, max_tokens=n, temperature=0.0, top_k=40, top_p=1.0, min_p=0.05, seed=1
    )
    count: int = out["usage"]["completion_tokens"]
    return count + 1, time.perf_counter() - started


async def bench_speed(
    backend: LlamaBackend, unbatched: LlamaBackend, llm: Any, n: int, repeats: int
) -> dict[str, Any]:
    tokens = raw_tokens(backend, llm)
    runs: dict[str, list[float]] = {
        "airlock": [],
        "airlock_unbatched": [],
        "raw_generate": [],
        "raw_completion": [],
    }
    counts: dict[str, int] = {}
    for _ in range(repeats):  # interleaved, so that machine noise hits all three alike
        for name, (count, seconds) in (
            ("airlock", await airlock_speed(backend, n)),
            ("airlock_unbatched", await airlock_speed(unbatched, n)),
            ("raw_generate", raw_generate_speed(llm, tokens, n)),
            ("raw_completion", raw_completion_speed(llm, tokens, n)),
        ):
            runs[name].append((count - 1) / seconds)
            counts[name] = count
    speeds = {name: statistics.median(values) for name, values in runs.items()}
    best_raw = max(speeds["raw_generate"], speeds["raw_completion"])
    return {
        "tokens": counts,
        "tokens_per_s": speeds,
        "airlock_over_best_raw": speeds["airlock"] / best_raw,
    }


def raw_llama(backend: LlamaBackend, model: Path) -> Any:
    """A plain ``Llama`` on the same file with the backend's options, for the raw baselines."""
    import llama_cpp

    o = backend.options
    return llama_cpp.Llama(
        model_path=str(model),
        n_ctx=o.n_ctx,
        n_threads=o.n_threads,
        n_threads_batch=o.n_threads,
        n_gpu_layers=o.n_gpu_layers,
        n_batch=o.n_batch,
        verbose=False,
    )


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "airlock"


def fetch_vocab(name: str) -> Path:
    """``ggml-vocab-NAME.gguf`` from the llama-cpp-python sdist of the installed version: pip
    downloads the sdist once into the cache, and only that member is extracted next to it."""
    import llama_cpp

    version = llama_cpp.__version__
    folder = cache_dir() / f"llama-cpp-python-{version}"
    target = folder / f"ggml-vocab-{name}.gguf"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.is_file():
        print(f"downloading the llama-cpp-python {version} sdist into {folder}", file=sys.stderr)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"),
                *(f"llama-cpp-python=={version}", "-d", str(folder)),
            ],
            check=True,
            stdout=sys.stderr,
        )
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/models/"
    with tarfile.open(sdist) as tar:
        try:
            member = tar.getmember(prefix + target.name)
        except KeyError as exc:
            names = sorted(
                n[len(prefix + "ggml-vocab-") : -len(".gguf")]
                for n in tar.getnames()
                if n.startswith(prefix + "ggml-vocab-") and n.endswith(".gguf")
            )
            there = ", ".join(names)
            raise SystemExit(f"no vocab {name!r} in {sdist.name}; there are: {there}") from exc
        source = tar.extractfile(member)
        assert source is not None
        partial = target.with_suffix(".part")
        with source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
        partial.rename(target)
    return target


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the tiny test model)")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--gen-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-interleave", action="store_true", help="skip the 1 vs 2 slots run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--embd", type=int, default=64, help="without --model: width of the random model"
    )
    parser.add_argument(
        "--layers", type=int, default=2, help="without --model: depth of the random model"
    )
    vocab_group = parser.add_mutually_exclusive_group()
    vocab_group.add_argument(
        "--vocab", type=Path, help="without --model: copy the tokenizer of this GGUF"
    )
    vocab_group.add_argument(
        "--fetch-vocab",
        metavar="NAME",
        help="without --model: the tokenizer of llama.cpp's ggml-vocab-NAME.gguf (e.g. qwen2), "
        "fetched once from PyPI (the llama-cpp-python sdist) into ~/.cache/airlock",
    )
    args = parser.parse_args()
    if args.model is not None and (args.vocab or args.fetch_vocab):
        parser.error("--vocab/--fetch-vocab build the random model: not with --model")
    vocab: Path | None = fetch_vocab(args.fetch_vocab) if args.fetch_vocab else args.vocab
    tokenizer = "synthetic byte-level tokenizer"
    if vocab is not None:
        pre = read_tokenizer(vocab).get("tokenizer.ggml.pre")
        pre_name = pre.value.decode() if pre is not None else "?"
        tokenizer = f"tokenizer of {vocab.name} (pre-tokenizer {pre_name})"
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or write_tiny_gguf(
            Path(tmp) / "tiny.gguf",
            n_ctx=4096,
            n_embd=args.embd,
            n_layer=args.layers,
            n_ff=max(128, 4 * args.embd),
            vocab=vocab,
        )
        options = {"n_ctx": args.n_ctx, "n_threads": args.threads, "n_gpu_layers": args.gpu_layers}
        backend = load_model(str(model), **options)
        assert isinstance(backend, LlamaBackend)
        # The same, waking the event loop once per token (stream_batch_s=0): what batching saves.
        unbatched = load_model(str(model), **options, stream_batch_s=0.0)
        assert isinstance(unbatched, LlamaBackend)
        llm = raw_llama(backend, model)
        try:
            prefix = await bench_prefix(backend, llm, args.prompt_tokens, args.repeats)
            speed = await bench_speed(backend, unbatched, llm, args.gen_tokens, args.repeats)
        finally:
            llm.close()
            await unbatched.aclose()
            await backend.aclose()
        interleaved = (
            []
            if args.no_interleave
            else [
                await bench_interleaved(model, args.n_ctx, args.prompt_tokens, slots)
                for slots in (1, 2)
            ]
        )
    return {
        "model": str(args.model)
        if args.model is not None
        else (f"random-weight GGUF, {args.layers} layers, n_embd {args.embd}, {tokenizer}"),
        "prefix": prefix,
        "interleaved": interleaved,
        "speed": speed,
    }


def table(results: dict[str, Any]) -> str:
    p, s = results["prefix"], results["speed"]
    lines = [
        f"model: {results['model']}",
        "",
        "prefix reuse                                   value",
        f"  prompt tokens, first call / retry            {p['prompt_tokens_first']} / "
        f"{p['prompt_tokens_retry']}",
        f"  prompt tokens reused by the retry            {p['cached_tokens_retry']:.0f}",
        f"  time to first token, first call              {p['ttft_first_s'] * 1000:8.1f} ms",
        f"  time to first token, retry                   {p['ttft_retry_s'] * 1000:8.1f} ms",
        f"  time to first token, same retry uncached     "
        f"{p['ttft_retry_uncached_s'] * 1000:8.1f} ms",
        f"  retry / first (target < 10%)                 {p['retry_over_first'] * 100:8.1f} %",
        f"  raw Llama.generate, first call / retry       {p['raw_ttft_first_s'] * 1000:8.1f} ms / "
        f"{p['raw_ttft_retry_s'] * 1000:.1f} ms",
        f"  raw retry / first (llama.cpp's own floor)    {p['raw_retry_over_first'] * 100:8.1f} %",
    ]
    for run in results["interleaved"]:
        lines.append(
            f"  retry after another conversation, {run['slots']} slot(s) "
            f"{run['ttft_retry_s'] * 1000:8.1f} ms ({run['cached_tokens']} reused)"
        )
    lines += [
        "",
        "generation                                     tokens/s",
    ]
    for name, label in (
        ("airlock", "Airlock (stream, worker thread)"),
        ("airlock_unbatched", "Airlock, one loop wake-up per token"),
        ("raw_generate", "raw Llama.generate loop"),
        ("raw_completion", "raw create_completion"),
    ):
        lines.append(f"  {label:<44} {s['tokens_per_s'][name]:8.0f}  ({s['tokens'][name]} tokens)")
    lines.append(
        f"  Airlock / best raw (target >= 95%)           {s['airlock_over_best_raw'] * 100:8.1f} %"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    results = asyncio.run(main())
    print(json.dumps(results, indent=2) if "--json" in sys.argv else table(results))
