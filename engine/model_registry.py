"""Which backend runs a run: the name a client sent, resolved against what Airlock knows.

Clients written for OpenAI send names like "gpt-4o". A name declared in the models config file
or a model spec (a GGUF path, `scripted:`, an endpoint URL) picks that model; anything else
runs on the default model, said once per name in the log.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from models import ModelBackend, ModelError, ModelsConfig, load_model, parse_spec

log = logging.getLogger(__name__)


class ModelRegistry:
    def __init__(
        self, default: ModelBackend, *, default_name: str = "", config: ModelsConfig | None = None
    ) -> None:
        self.default = default
        self.default_name = default_name or default.name
        self.config = config
        self._loaded: dict[str, ModelBackend] = {}
        self._unknown_logged: set[str] = set()
        self._lock = asyncio.Lock()

    async def resolve(self, name: str) -> ModelBackend:
        if not name or name == self.default_name:
            return self.default
        if name in self._loaded:
            return self._loaded[name]
        if not self._names_a_model(name):
            if name not in self._unknown_logged:
                self._unknown_logged.add(name)
                log.warning(
                    "model %r is not known here; running it on the default model %r",
                    name,
                    self.default_name,
                )
            return self.default
        async with self._lock:
            if name not in self._loaded:
                # Loading a GGUF reads the weights: off the event loop.
                self._loaded[name] = await asyncio.to_thread(load_model, name, config=self.config)
            return self._loaded[name]

    def _names_a_model(self, name: str) -> bool:
        if self.config is not None and name in self.config.models:
            return True
        try:
            parsed = parse_spec(name)
        except ModelError:
            return False
        return parsed.kind == "http" or Path(parsed.target).expanduser().is_file()

    async def aclose(self) -> None:
        for backend in {id(b): b for b in [self.default, *self._loaded.values()]}.values():
            await backend.aclose()
