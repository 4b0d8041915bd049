"""The REST server: OpenAI's Assistants API (Code Interpreter subset) over an Engine.

`create_app(engine, api_key=...)` builds the FastAPI application; `airlock serve` runs it with
uvicorn. See `shared/spec/ASSISTANTS_API.md` for the wire shapes the official SDK needs.
"""

from __future__ import annotations

from .app import API_PREFIX, EngineFactory, create_app

__all__ = ["API_PREFIX", "EngineFactory", "create_app"]
