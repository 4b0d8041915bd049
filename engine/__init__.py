"""Assistants-shaped runs over the sandbox and the models: the run core (`core`), the library
API and export (`library`), the store, the schemas, the REST server, the Responses API, the MCP
server and the CLI. See ARCHITECTURE.md for the parts and the arrows between them.

The names below are imported on first use, so that `import engine.cli` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Engine, EngineSettings, RunLimits
    from .library import AsyncInterpreter, Interpreter, RunResult

_EXPORTS = {
    "AsyncInterpreter": "engine.library",
    "Interpreter": "engine.library",
    "RunResult": "engine.library",
    "Engine": "engine.core",
    "EngineSettings": "engine.core",
    "RunLimits": "engine.core",
}
__all__ = ["AsyncInterpreter", "Engine", "EngineSettings", "Interpreter", "RunLimits", "RunResult"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
