"""Model specs: the strings that name a model, and ``load_model`` that turns one into a backend.

- ``PATH.gguf`` or ``llama:PATH``: llama.cpp in-process (options: ``models.config.LlamaOptions``).
- ``http://HOST:PORT/v1#MODEL`` or ``https://...``: an OpenAI-compatible endpoint; ``#MODEL``
  names the model there (options: ``models.config.HttpOptions``).
- ``scripted:PATH``: a JSON script replayed call by call (no options).
- ``NAME``: a model declared in the config file as ``[models.NAME]``, whose keys other than
  ``spec`` are options; keyword options given to ``load_model`` override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .base import ModelBackend, ModelError
from .config import HttpOptions, LlamaOptions, ModelsConfig, build_options


@dataclass(frozen=True, slots=True)
class ParsedSpec:
    kind: Literal["llama", "http", "scripted"]
    target: str  # a path, or the endpoint's base URL
    model: str = ""  # the model's name at an endpoint


def parse_spec(spec: str) -> ParsedSpec:
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        base, _, model = spec.partition("#")
        parts = urlsplit(base)
        if not parts.hostname:
            raise ModelError(f"endpoint spec {spec!r} has no host")
        if not model:
            raise ModelError(f"endpoint spec {spec!r} needs '#MODEL' naming the model there")
        return ParsedSpec("http", base.rstrip("/"), model)
    if spec.startswith("scripted:"):
        return ParsedSpec("scripted", spec.removeprefix("scripted:"))
    if spec.startswith("llama:"):
        return ParsedSpec("llama", spec.removeprefix("llama:"))
    if spec.lower().endswith(".gguf"):
        return ParsedSpec("llama", spec)
    raise ModelError(
        f"cannot read model spec {spec!r}: expected PATH.gguf, llama:PATH, "
        "http(s)://HOST:PORT/v1#MODEL, scripted:PATH, or a name from the config file"
    )


def load_model(
    spec: str, *, config: ModelsConfig | str | Path | None = None, **options: Any
) -> ModelBackend:
    """A backend for ``spec`` (a spec string or a name declared in ``config``). Loading a GGUF
    reads the model (seconds for a large one): call it once, share the backend."""
    if config is not None and not isinstance(config, ModelsConfig):
        config = ModelsConfig.load(config)
    where = f"model {spec!r}"
    if config is not None and spec in config.models:
        entry = config.models[spec]
        where = f"[models.{spec}] in {config.path}"
        spec, options = entry.spec, {**entry.options, **options}
    parsed = parse_spec(spec)
    if parsed.kind == "llama":
        from .llama_backend import LlamaBackend

        return LlamaBackend(parsed.target, build_options(LlamaOptions, options, where=where))
    if parsed.kind == "http":
        from .http_backend import HttpBackend

        http = build_options(HttpOptions, options, where=where)
        return HttpBackend(parsed.target, parsed.model, http)
    from .scripted import ScriptedBackend

    if options:
        raise ModelError(f"{where}: a scripted model takes no options ({', '.join(options)})")
    return ScriptedBackend.from_file(parsed.target)
