"""Benchmark of the llama.cpp backend: the model path through Airlock against raw llama-cpp-python.

    python benchmarks/bench_models.py --model "$(airlock models path qwen2.5-coder-1.5b)"
    python benchmarks/bench_models.py --model M.gguf --parts lookup --repeats 3 --json
    python benchmarks/bench_models.py                         # the tiny random-weight model
    python benchmarks/bench_models.py --fetch-vocab qwen2     # real tokenizer, see below

Parts (``--parts``, comma-separated; default all), each in its own module:

- ``load`` (bench_models_speed): seconds to a usable model, ``load_model`` (a whole
  ``LlamaBackend``) against a raw ``Llama(...)`` with the same options;
- ``prefix`` (bench_models_prefix): a ~1,500-token data-analysis prompt evaluated from nothing
  (time to first token, prompt tokens/s) and a retry that appends the reply and a traceback (the
  share of its prompt reused from the evaluated prefix; its time to first token against the first
  call's, target under 10%), through Airlock and raw ``Llama.generate`` on its own ``Llama``;
- ``interleave``: the same retry when another conversation ran in between, 1 slot and 2;
- ``speed``: generation tokens/s through Airlock (async stream, worker thread, splitter) against
  raw ``Llama.generate`` in a plain loop and ``Llama.create_completion`` (target: Airlock within
  5% of the faster), and with ``stream_batch_s=0`` (one loop wake-up per token);
- ``grammar``: a required code call with the GBNF code grammar on against off;
- ``lookup`` (bench_models_lookup): prompt-lookup decoding against plain decoding, on a retry
  that rewrites a 40-line cell with one line fixed, on a fresh reply, and on time to first token.

Sampling is greedy everywhere (the backend's top_k/min_p on both sides, same threads: the
backend's default, every CPU), so every run generates the same tokens. Figures are medians of
``--repeats`` runs; the host may be shared, so each part reports the 1-minute load averages seen
while it ran (lowest and highest), to be read next to its figures.

Without --model it writes the tiny random-weight GGUF (``models.tiny_gguf``, n_ctx 4096). Its
tokenizer is synthetic and byte-level (about one token per character), which makes appended
text cost several times more tokens than with a real model's tokenizer. ``--vocab PATH`` copies
the tokenizer of another GGUF instead; ``--fetch-vocab NAME`` takes ``ggml-vocab-NAME.gguf`` from
the llama-cpp-python sdist of the installed version (MIT; llama.cpp ships these vocab-only
files for its tokenizer tests), downloaded once with pip into ``~/.cache/airlock`` (or
``$XDG_CACHE_HOME/airlock``); only that file is extracted, nothing lands in the repository.
``--embd``/``--layers`` make the random model wider/deeper (slower per token, so that fixed
per-token costs weigh less, as on a real model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_models_common import load
from bench_models_lookup import bench_lookup
from bench_models_prefix import bench_interleaved, bench_prefix
from bench_models_speed import bench_grammar, bench_load, bench_speed

from models import load_model
from models.llama_backend import LlamaBackend, default_threads
from models.tiny_gguf import read_tokenizer, write_tiny_gguf

PARTS = ("load", "prefix", "interleave", "speed", "grammar", "lookup")


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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the tiny test model)")
    parser.add_argument(
        "--n-ctx", type=int, default=None, help="default: the backend's (the tiny model: 4096)"
    )
    parser.add_argument("--threads", type=int, default=None, help="default: every CPU")
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}"
    )
    parser.add_argument(
        "--lookup-tokens", type=int, default=10, help="prompt_lookup_tokens for the lookup part"
    )
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
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; there are: {', '.join(PARTS)}")
    if args.no_interleave and "interleave" in args.parts:
        args.parts.remove("interleave")
    return args


async def run_parts(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    options: dict[str, Any] = {"n_threads": args.threads, "n_gpu_layers": args.gpu_layers}
    if args.n_ctx is not None or args.model is None:
        options["n_ctx"] = args.n_ctx or 4096
    parts, repeats, n = args.parts, args.repeats, args.gen_tokens
    results: dict[str, Any] = {}
    started = time.perf_counter()

    def done(part: str) -> None:  # a real model's run takes minutes: say where it is
        seconds = time.perf_counter() - started
        print(f"{part} done at {seconds:.0f} s, load {load():.1f}", file=sys.stderr, flush=True)

    if "load" in parts:
        results["load"] = await bench_load(model, options, repeats)
        done("load")
    if "prefix" in parts:
        backend = load_model(str(model), **options)
        assert isinstance(backend, LlamaBackend)
        try:
            results["prefix"] = await bench_prefix(backend, args.prompt_tokens, repeats)
        finally:
            await backend.aclose()
        done("prefix")
    if "interleave" in parts:
        results["interleaved"] = [
            await bench_interleaved(model, options, args.prompt_tokens, slots) for slots in (1, 2)
        ]
        done("interleave")
    if "speed" in parts:
        results["speed"] = await bench_speed(model, options, n, repeats)
        done("speed")
    if "grammar" in parts:
        results["grammar"] = await bench_grammar(model, options, n, repeats)
        done("grammar")
    if "lookup" in parts:
        results["lookup"] = await bench_lookup(
            model, options, args.lookup_tokens, args.prompt_tokens, n, repeats
        )
        done("lookup")
    return results


def _load(part: dict[str, Any]) -> str:
    low, high = part["load"]["min"], part["load"]["max"]
    return f"[load {low:.1f}-{high:.1f}]"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.0f} ms"


def table(results: dict[str, Any]) -> str:
    lines = [f"model: {results['model']}  ({results['threads']} threads, {results['cpus']} CPUs)"]
    if "load" in results:
        lo = results["load"]
        lines += [
            "",
            f"load (median)                                        {_load(lo)}",
            f"  load_model (LlamaBackend)                    {lo['airlock_s']:9.2f} s",
            f"  raw Llama(...)                               {lo['raw_s']:9.2f} s",
        ]
    if "prefix" in results:
        p = results["prefix"]
        lines += [
            "",
            f"prompt and prefix reuse (median)                     {_load(p)}",
            f"  prompt tokens, first call / retry            {p['prompt_tokens_first']} / "
            f"{p['prompt_tokens_retry']}",
            f"  retry's prompt reused from the prefix        {p['cached_tokens_retry']:.0f} "
            f"({p['retry_reused'] * 100:.1f} %)",
            f"  time to first token, first call             {_ms(p['ttft_first_s'])}",
            f"  time to first token, retry                  {_ms(p['ttft_retry_s'])}",
            f"  time to first token, same retry uncached    {_ms(p['ttft_retry_uncached_s'])}",
            f"  retry / first (target < 10%)                 {p['retry_over_first'] * 100:8.1f} %",
            f"  raw Llama.generate, first call              {_ms(p['raw_ttft_first_s'])}",
            f"  raw Llama.generate, retry                   {_ms(p['raw_ttft_retry_s'])}",
            f"  raw retry / first (llama.cpp's own floor)    "
            f"{p['raw_retry_over_first'] * 100:8.1f} %",
            f"  prompt tokens/s, Airlock / raw               {p['prompt_tokens_per_s']:8.1f} / "
            f"{p['raw_prompt_tokens_per_s']:.1f}",
            f"  Airlock / raw (target >= 95%)                "
            f"{p['prompt_airlock_over_raw'] * 100:8.1f} %",
        ]
    for run in results.get("interleaved", []):
        lines.append(
            f"  retry after another conversation, {run['slots']} slot(s) "
            f"{_ms(run['ttft_retry_s'])} ({run['cached_tokens']} reused) {_load(run)}"
        )
    if "speed" in results:
        s = results["speed"]
        lines += ["", f"generation tokens/s (median)                         {_load(s)}"]
        for name, label in (
            ("airlock", "Airlock (stream, worker thread)"),
            ("airlock_unbatched", "Airlock, one loop wake-up per token"),
            ("raw_generate", "raw Llama.generate loop"),
            ("raw_completion", "raw create_completion"),
        ):
            lines.append(
                f"  {label:<44} {s['tokens_per_s'][name]:8.1f}  ({s['tokens'][name]} tokens)"
            )
        lines.append(
            f"  Airlock / best raw (target >= 95%)           "
            f"{s['airlock_over_best_raw'] * 100:8.1f} %"
        )
    if "grammar" in results:
        g = results["grammar"]
        lines += [
            "",
            f"code call, grammar on / off (tokens/s, median)       {_load(g)}",
            f"  grammar off (fence in the prompt)            {g['off']['tokens_per_s']:8.1f}  "
            f"({g['off']['tokens']} tokens)",
            f"  {'grammar on (' + str(g['n_vocab']) + '-token vocabulary)':<44} "
            f"{g['on']['tokens_per_s']:8.1f}  "
            f"({g['on']['tokens']} tokens)",
            f"  on / off                                     {g['on_over_off'] * 100:8.1f} %"
            f"  (same code: {g['same_code']}; repeats agree: "
            f"{g['off']['repeats_agree'] and g['on']['repeats_agree']})",
        ]
    if "lookup" in results:
        lk = results["lookup"]
        lines += [
            "",
            f"prompt lookup ({lk['lookup_tokens']} tokens) / plain (median)   {_load(lk)}",
        ]
        for key, label in (
            ("rewrite", "retry rewriting a 40-line cell"),
            ("fresh", "fresh code reply"),
        ):
            part = lk[key]
            lines.append(
                f"  {label:<32} {part['plain']['tokens_per_s']:6.1f} -> "
                f"{part['lookup']['tokens_per_s']:6.1f} tok/s "
                f"({part['plain']['tokens']} tokens, x{lk[key + '_speedup']:.2f})"
            )
        lines += [
            f"  time to first token, {lk['prompt_tokens']}-token prompt   "
            f"{lk['ttft_s']['plain'] * 1000:6.0f} -> {lk['ttft_s']['lookup'] * 1000:6.0f} ms "
            f"(x{lk['ttft_lookup_over_plain']:.2f})",
            f"  same replies: {lk['same_replies']} (repeats agree: {lk['repeats_agree']}); "
            f"the rewrite repeats "
            f"{lk['rewrite_repeats_cell'] * 100:.0f} % of the cell's lines",
        ]
    return "\n".join(lines)


async def main() -> dict[str, Any]:
    args = parse_args()
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
        results = await run_parts(args, model)
    name = (
        str(args.model)
        if args.model is not None
        else f"random-weight GGUF, {args.layers} layers, n_embd {args.embd}, {tokenizer}"
    )
    threads = args.threads or default_threads()
    return {"model": name, "threads": threads, "cpus": os.cpu_count(), **results}


if __name__ == "__main__":
    results = asyncio.run(main())
    print(json.dumps(results, indent=2) if "--json" in sys.argv else table(results))
