"""``bench_models.py``'s prompt-lookup part: llama.cpp's prompt-lookup decoding
(``LlamaOptions.prompt_lookup_tokens``, llama-cpp-python's ``LlamaPromptLookupDecoding``) against
plain decoding, on one model file:

- a retry whose reply repeats most of the previous cell: a 40-line analysis cell failed on one
  line, and the model is asked for the whole cell again with that line fixed (the case lookup is
  for: the reply's next tokens are in the context, so they are proposed and checked in one batch);
- a fresh reply (a cell written from a request: little to look up, and every wrong proposal costs
  a bigger batch);
- time to first token of a ~1,500-token prompt evaluated from nothing (lookup needs the logits of
  every evaluated token, which llama.cpp otherwise computes for the last one only).

Greedy throughout: the replies with and without lookup must be the same."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench_models_common import Loads, cached_generation, conversation, greedy, ttft
from bench_models_speed import CODE_REQUEST

from models import ChatMessage, load_model
from models.llama_backend import LlamaBackend

CELL = """import pandas as pd
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

df = pd.read_csv("/mnt/data/sales.csv", parse_dates=["date"])
df["revenue"] = df["units"] * df["price"]
df["month"] = df["date"].dt.to_period("M").astype(str)
df = df.dropna(subset=["revenue"])
print(df.shape)
print(df.head())

by_region = df.groupby("Region")["revenue"].sum().sort_values(ascending=False)
print("Revenue by region:")
print(by_region)

by_month = df.groupby("month")["revenue"].sum()
print("Revenue by month:")
print(by_month)

top_products = (
    df.groupby("product")["units"].sum().sort_values(ascending=False).head(5)
)
print("Top products by units:")
print(top_products)

share = by_region / by_region.sum() * 100
print(share.round(1))

fig, ax = plt.subplots(figsize=(8, 5))
by_region.plot(kind="bar", ax=ax, color="steelblue")
ax.set_title("Revenue by region")
ax.set_xlabel("Region")
ax.set_ylabel("Revenue")
fig.tight_layout()
fig.savefig("/mnt/data/by_region.png")
print("Saved /mnt/data/by_region.png")
summary = pd.DataFrame({"revenue": by_region, "share": share})
summary.to_csv("/mnt/data/summary.csv")"""
CELL_TRACEBACK = """Traceback (most recent call last):
  File "<cell 1>", line 14, in <module>
    by_region = df.groupby("Region")["revenue"].sum().sort_values(ascending=False)
  File "pandas/core/frame.py", line 9183, in groupby
    return DataFrameGroupBy(obj=self, keys=by, axis=axis, level=level)
KeyError: 'Region'"""
REWRITE = [
    *CODE_REQUEST,
    ChatMessage.code(CELL, "call_1"),
    ChatMessage.tool("call_1", CELL_TRACEBACK),
    ChatMessage.user(
        "The column is named 'region', in lower case. Send the whole cell again, unchanged "
        "except for that fix."
    ),
]


async def bench_lookup(
    model: Path,
    options: dict[str, Any],
    lookup_tokens: int,
    target: int,
    gen_tokens: int,
    repeats: int,
) -> dict[str, Any]:
    loads = Loads()
    backends: dict[str, LlamaBackend] = {}
    try:
        for name, n in (("plain", 0), ("lookup", lookup_tokens)):
            backend = load_model(str(model), **options, prompt_lookup_tokens=n)
            assert isinstance(backend, LlamaBackend)
            backends[name] = backend
        # The rewrite is ~40 lines: room for all of it, and a stop at its closing fence.
        rewrite = await cached_generation(
            backends, REWRITE, "required", max(gen_tokens, 640), repeats, loads
        )
        fresh = await cached_generation(
            backends, CODE_REQUEST, "required", gen_tokens, repeats, loads
        )
        firsts: dict[str, list[float]] = {name: [] for name in backends}
        plain = backends["plain"]
        tokens = plain.count_tokens(conversation(plain, target, "lookup0"), code_tool=False)
        for r in range(repeats):  # a new prompt each time: nothing of it evaluated before
            for name, backend in backends.items():
                seconds, _ = await ttft(
                    backend, conversation(backend, target, f"lookup{r}"), greedy(4)
                )
                firsts[name].append(seconds)
                loads.note()
    finally:
        for backend in backends.values():
            await backend.aclose()
    ttfts = {name: statistics.median(values) for name, values in firsts.items()}
    return {
        "lookup_tokens": lookup_tokens,
        "rewrite": rewrite,
        "fresh": fresh,
        "rewrite_speedup": rewrite["lookup"]["tokens_per_s"] / rewrite["plain"]["tokens_per_s"],
        "fresh_speedup": fresh["lookup"]["tokens_per_s"] / fresh["plain"]["tokens_per_s"],
        "same_replies": all(
            part["lookup"]["reply"] == part["plain"]["reply"] for part in (rewrite, fresh)
        ),
        "repeats_agree": all(
            part[name]["repeats_agree"] for part in (rewrite, fresh) for name in backends
        ),
        "rewrite_repeats_cell": _shared_lines(rewrite["plain"]["reply"], CELL),
        "prompt_tokens": tokens,
        "ttft_s": ttfts,
        "ttft_runs": firsts,
        "ttft_lookup_over_plain": ttfts["lookup"] / ttfts["plain"],
        "load": loads.summary(),
    }


def _shared_lines(reply: str, cell: str) -> float:
    """The share of the cell's lines that the reply repeats verbatim."""
    lines = cell.splitlines()
    said = set(reply.splitlines())
    return sum(line in said for line in lines) / len(lines)
