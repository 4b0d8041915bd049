"""What one run holds while it runs: its dependencies (`RunDeps`) and its state (`RunState`).

The run loop is split by purpose (`run_loop` the outline and the end, `run_model` the model
calls, `run_cells` the code calls, `run_answer` the final text); each part is a mixin over
`RunState`, so they share one set of attributes, declared and set here, and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from models import ChatMessage
from sandbox import SandboxConfig

from ..schemas import Usage
from ..store import Store
from .assist import Coach
from .events import object_event
from .generated import GeneratedFiles
from .handle import RunHandle
from .model_registry import ModelRegistry
from .run_record import RunRecord
from .sessions import SessionManager, ThreadSession
from .settings import EngineSettings

T = TypeVar("T")


@dataclass(frozen=True)
class RunDeps:
    """What a run needs from the engine around it, and nothing more."""

    store: Store
    models: ModelRegistry
    settings: EngineSettings
    sessions: SessionManager
    #: thread id -> the key of the session its code runs in, and that session's config
    session_key: Callable[[str], tuple[str, SandboxConfig | None]]


class RunState:
    """One run's state, shared by the parts of the run loop."""

    def __init__(self, deps: RunDeps, handle: RunHandle) -> None:
        self.deps = deps
        self.handle = handle
        self.store = deps.store
        self.limits = deps.settings.limits
        self.coach = Coach(deps.settings.assist, self.limits.max_output_chars)
        self.run = handle.run
        #: This run's code calls and their outputs, as the model sees them.
        self.turns: list[ChatMessage] = []
        self.usage = Usage()
        self.prompt_tokens_sent = 0
        self.code_calls = 0
        self.failures_in_a_row = 0
        #: Set when the run must stop at once: cancelled, or out of wall time.
        self.stop = asyncio.Event()
        self.expired = False
        #: When the run expires, on the event loop's clock.
        self.deadline = float("inf")
        self.session: ThreadSession | None = None
        self.file_ids: list[str] = []
        self.generated = GeneratedFiles(self.store, max_files=deps.settings.max_generated_files)
        self.record = RunRecord(self.store, handle)
        self._last_usage = Usage()

    def _expire(self) -> None:
        self.expired = True
        self.stop.set()

    def _emit_object(self, event: str, obj: Any) -> None:
        self.handle.emit(object_event(event, obj))

    async def _db(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(function, *args)
