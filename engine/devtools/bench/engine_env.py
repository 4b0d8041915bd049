"""An engine for a suite's tasks in one process: the model (metered), a store in a temporary
folder, one assistant with the code interpreter. Each task then gets its own thread (and so
its own kernel) on it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from engine.core import Engine, EngineSettings
from engine.schemas import AssistantCreate, CodeInterpreterTool
from models import ModelBackend, load_model

from .metering import MeteredBackend
from .suite import SuiteOptions


def load_backend(options: SuiteOptions) -> ModelBackend:
    """The model named by `options.model` (a spec, or a name in the models config)."""
    assert options.model is not None
    return load_model(options.model, config=options.models_config)


class EngineHost:
    """Holds the engine; `aclose()` ends it and removes its store."""

    def __init__(
        self, engine: Engine, assistant_id: str, backend: ModelBackend, data_dir: Path
    ) -> None:
        self.engine = engine
        self.assistant_id = assistant_id
        self.backend = backend
        self.data_dir = data_dir

    @classmethod
    async def open(
        cls,
        backend: ModelBackend,
        settings: EngineSettings,
        *,
        name: str,
        instructions: str | None = None,
    ) -> EngineHost:
        data_dir = Path(tempfile.mkdtemp(prefix="airlock-bench-"))
        try:
            engine = await Engine.open(MeteredBackend(backend), data_dir, settings=settings)
        except BaseException:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise
        assistant = await asyncio.to_thread(
            engine.store.create_assistant,
            AssistantCreate(
                model=backend.name,
                name=name,
                instructions=instructions,
                tools=[CodeInterpreterTool()],
            ),
        )
        return cls(engine, assistant.id, backend, data_dir)

    async def aclose(self) -> None:
        try:
            await self.engine.aclose()
        finally:
            await asyncio.to_thread(shutil.rmtree, self.data_dir, True)
