"""A real Airlock server for the REST tests: uvicorn on a free loopback port, in a thread.

The Engine is opened by the app's lifespan, in the server's own event loop (its runs, sessions
and events belong to that loop); tests reach it as `server.engine`, e.g. to lower the store's
file limit. Clients are the real `openai` SDK.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from openai import AzureOpenAI, OpenAI

from engine.core import Engine, EngineSettings
from engine.server import create_app
from models import ModelsConfig
from sandbox import SandboxConfig
from tests.conftest import TEST_LIMITS

#: The default model's script: one plain answer, no code.
DEFAULT_SCRIPT: list[dict[str, str]] = [{"text": "Hello from the default script."}]


#: The SDK marks every Assistants call with a DeprecationWarning: "deprecated" (assistants) or
#: "The Assistants API is deprecated in favor of the Responses API" (threads, runs...).
BETA_WARNING_MESSAGE = "(deprecated|The Assistants API is deprecated)"
BETA_WARNING_FILTER = f"ignore:{BETA_WARNING_MESSAGE}:DeprecationWarning"


def quiet_beta_warnings() -> None:
    warnings.filterwarnings("ignore", message=BETA_WARNING_MESSAGE, category=DeprecationWarning)


def write_script(path: Path, items: list[dict[str, str]]) -> str:
    """A `scripted:PATH` model spec; an assistant whose `model` is it runs on that script."""
    path.write_text(json.dumps(items), encoding="utf-8")
    return f"scripted:{path}"


@dataclass
class RunningServer:
    url: str
    app: FastAPI
    api_key: str | None

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    def client(self, api_key: str | None = None, **kwargs: Any) -> OpenAI:
        return OpenAI(
            base_url=f"{self.url}/v1",
            api_key=api_key or self.api_key or "x",
            max_retries=0,
            **kwargs,
        )

    def azure_client(self, api_key: str | None = None, **kwargs: Any) -> AzureOpenAI:
        return AzureOpenAI(
            azure_endpoint=self.url,
            api_key=api_key or self.api_key or "x",
            api_version="2024-05-01-preview",
            max_retries=0,
            **kwargs,
        )


def write_models_config(path: Path, scripts: dict[str, list[dict[str, str]]]) -> ModelsConfig:
    """A models config naming each model (e.g. "gpt-4o") after its own script."""
    tables = []
    for index, (name, items) in enumerate(scripts.items()):
        spec = write_script(path.parent / f"{path.stem}-{index}.json", items)
        tables.append(f"[models.{json.dumps(name)}]\nspec = {json.dumps(spec)}\n")
    path.write_text("\n".join(tables), encoding="utf-8")
    return ModelsConfig.load(path)


@contextmanager
def running_server(
    data_dir: Path,
    *,
    api_key: str | None = None,
    script: list[dict[str, str]] | None = None,
    models: dict[str, list[dict[str, str]]] | None = None,
    settings: EngineSettings | None = None,
    app_options: dict[str, Any] | None = None,
) -> Iterator[RunningServer]:
    """`script`: the default model's; `models`: model names (as clients send them) each
    answered by its own script; `settings`: the engine's (test limits by default);
    `app_options`: keyword arguments of `create_app`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    model = write_script(
        data_dir.parent / f"{data_dir.name}-default-script.json",
        script if script is not None else DEFAULT_SCRIPT,
    )
    models_config = (
        write_models_config(data_dir.parent / f"{data_dir.name}-models.toml", models)
        if models
        else None
    )
    # A fixed cap, so that no test depends on the machine's memory (the default's source).
    settings = settings or EngineSettings(
        sandbox=SandboxConfig(limits=TEST_LIMITS), max_sessions=32
    )

    async def open_engine() -> Engine:
        return await Engine.open(
            model, data_dir / "store", settings=settings, models_config=models_config
        )

    app = create_app(open_engine, api_key=api_key, **(app_options or {}))
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every response on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="airlock-test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start (see its log above)")
        if time.monotonic() > deadline:
            raise TimeoutError("the test server did not start within 60 s")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", app, api_key)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
