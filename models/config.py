"""Backend options, and the TOML file that declares named models.

A config file holds one table per model; ``spec`` is required, every other key is an option of
the backend the spec selects (unknown keys are errors, so typos do not pass silently)::

    [models.coder]
    spec = "~/models/qwen2.5-coder-7b-instruct-q4_k_m.gguf"
    n_ctx = 8192
    n_gpu_layers = -1

    [models.remote]
    spec = "http://127.0.0.1:8080/v1#qwen2.5-coder"
    timeout_s = 120
    api_key_env = "OPENAI_API_KEY"

Relative paths in a ``spec`` are resolved against the config file's folder.
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from .base import ModelError
from .bridge import BATCH_S


@dataclass(frozen=True, slots=True)
class LlamaOptions:
    """llama.cpp in-process. ``n_slots`` > 1 keeps that many contexts (each with its own KV
    cache; weights are shared through mmap on CPU, copied per context on GPU) so that
    interleaved conversations keep their evaluated prefixes: see ``models.llama_backend``."""

    n_ctx: int = 8192
    n_threads: int | None = None  # None: every CPU this process may use
    n_gpu_layers: int = 0
    n_batch: int = 512
    n_slots: int = 1
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    chat_template: str | None = None  # overrides the GGUF's
    tool_role: Literal["auto", "tool", "user"] = "auto"
    # Constrain code calls with the GBNF grammar of models.grammar ("on"), or read them from
    # free text and open the fence in the prompt when code is required ("off"). The grammar
    # guarantees a well-formed fence, but llama-cpp-python checks it against the whole
    # vocabulary at every token: with a real model's (150k tokens) that costs more than the
    # model itself. "auto": on for small vocabularies and when code_max_* bound the block.
    code_grammar: Literal["auto", "on", "off"] = "auto"
    code_max_lines: int | None = None
    code_max_line_chars: int | None = None
    seed: int = 0  # the context's seed; calls without a seed draw a fresh one
    # Prompt-lookup decoding: at each step, up to this many tokens that followed the last
    # tokens' earlier occurrence in the context are proposed and checked in one batch (the
    # output is the same; a retry rewriting most of its previous cell is generated in chunks).
    # 0: off. It needs llama.cpp's logits for every evaluated token (n_ctx x n_vocab floats:
    # 5 GB of address space at 8192 x 151,936); benchmarks/bench_models.py --parts lookup
    # measures it against plain decoding.
    prompt_lookup_tokens: int = 0
    # While tokens come faster than this, streamed deltas reach the event loop in batches at
    # most this old (one loop wake-up per batch, not per token); 0: one wake-up per token.
    stream_batch_s: float = BATCH_S
    verbose: bool = False


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """An OpenAI-compatible endpoint. ``tools``: "auto" sends native tool definitions and reads
    tool calls when the server returns them, else reads code from the text, and falls back to
    text mode for good if the server rejects tools; "native"/"text" force one way."""

    timeout_s: float = 600.0  # whole request
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0  # longest silence between two streamed chunks
    retries: int = 3  # on connection errors and 502/503/504 before any output
    backoff_s: float = 0.5  # doubles at each retry
    tools: Literal["auto", "native", "text"] = "auto"
    api_key: str | None = None
    api_key_env: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tool_role: Literal["tool", "user"] = "user"  # for tool outputs in text mode


OptionsT = TypeVar("OptionsT", LlamaOptions, HttpOptions)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    spec: str
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    models: dict[str, ModelEntry] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> ModelsConfig:
        path = Path(path).expanduser()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"cannot read model config {path}: {exc}") from exc
        table = data.get("models", {})
        if not isinstance(table, dict):
            raise ModelError(f"{path}: [models] must be a table")
        models: dict[str, ModelEntry] = {}
        for name, entry in table.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("spec"), str):
                raise ModelError(f"{path}: [models.{name}] needs a string 'spec'")
            options = {k: v for k, v in entry.items() if k != "spec"}
            models[name] = ModelEntry(_resolve(entry["spec"], path.parent), options)
        return cls(models, path)


def _resolve(spec: str, base: Path) -> str:
    """Relative model paths are relative to the config file, not to the working directory."""
    for prefix in ("llama:", "scripted:", ""):
        if spec.startswith(prefix) and (prefix or spec.endswith(".gguf")):
            rest = spec[len(prefix) :]
            if "://" in rest:
                return spec
            p = Path(rest).expanduser()
            return prefix + str(p if p.is_absolute() else base / p)
    return spec


_BASIC: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,)}


def _type_ok(annotation: str, value: Any) -> bool:
    """Checks a TOML value against a field annotation (as written in this module)."""
    for part in (p.strip() for p in annotation.split("|")):
        if part == "None" and value is None:
            return True
        if part == "bool" and isinstance(value, bool):
            return True
        if part in _BASIC and isinstance(value, _BASIC[part]) and not isinstance(value, bool):
            return True
        if part.startswith("Literal[") and value in ast.literal_eval("[" + part[8:-1] + "]"):
            return True
        if part.startswith("dict[") and isinstance(value, dict):
            return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return False


def build_options(kind: type[OptionsT], options: dict[str, Any], *, where: str) -> OptionsT:
    """An options dataclass from a dict, rejecting unknown keys and values of the wrong type."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(kind)}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ModelError(f"{where}: unknown option(s) {', '.join(unknown)}")
    for key, value in options.items():
        if not _type_ok(fields[key], value):
            raise ModelError(f"{where}: option {key}={value!r} is not {fields[key]}")
    return kind(**options)
