"""The run core: the Engine (store, models, sessions and the runs in flight), the run loop and
what it writes, the conversation sent to the model, and the help it gives a small model
(`assist`). Everything above it (library, server, CLI, Responses) goes through `Engine`."""

from .engine import Engine
from .events import RunEvent
from .handle import RunHandle
from .settings import AssistPolicy, EngineSettings, RunLimits

__all__ = ["AssistPolicy", "Engine", "EngineSettings", "RunEvent", "RunHandle", "RunLimits"]
