"""`airlock serve`: the OpenAI-compatible REST server (uvicorn) over an Engine."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from models import ModelError, ModelsConfig, parse_spec

stderr = Console(stderr=True)

MODEL_ENV = "AIRLOCK_MODEL"
API_KEY_ENV = "AIRLOCK_API_KEY"


def _fail(message: str, code: int = 2) -> typer.Exit:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def is_loopback(host: str) -> bool:
    """Only clients on this machine can reach a server bound to `host`."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to any interface


def serve(
    host: Annotated[str, typer.Option(
        help="Address to bind. Anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: Annotated[str | None, typer.Option(
        help=f"The default model: PATH.gguf, llama:PATH, http(s)://HOST:PORT/v1#MODEL, "
             f"scripted:PATH or a name from --models-config (default: ${MODEL_ENV}).",
        show_default=False)] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where files, assistants, threads and runs are kept "
             "(default: $AIRLOCK_DATA_DIR, else the user's data folder).",
        show_default=False)] = None,
    api_key: Annotated[str | None, typer.Option(
        help=f"Require this key (`Authorization: Bearer KEY` or `api-key: KEY`); "
             f"default: ${API_KEY_ENV}, else none.", show_default=False)] = None,
    models_config: Annotated[Path | None, typer.Option(
        help="A models config file naming models that assistants can ask for.",
        show_default=False)] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve OpenAI's Assistants API (Code Interpreter) at http://HOST:PORT/v1 (and, for Azure
    clients, /openai)."""
    model = model or os.environ.get(MODEL_ENV) or None
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    if model is None:
        raise _fail(f"no model given: pass --model SPEC or set ${MODEL_ENV} (a GGUF path, "
                    "llama:PATH, http(s)://HOST:PORT/v1#MODEL, or scripted:PATH)")
    if not is_loopback(host) and api_key is None:
        raise _fail(f"refusing to serve on {host} without an API key: anyone who can reach "
                    f"it could run code here. Pass --api-key KEY (or set ${API_KEY_ENV}), or "
                    "bind 127.0.0.1.")
    if not 0 < port < 65536:
        raise _fail(f"--port must be between 1 and 65535, not {port}")
    config: ModelsConfig | None = None
    try:
        if models_config is not None:
            config = ModelsConfig.load(models_config)
        if config is None or model not in config.models:
            parse_spec(model)
    except (ModelError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None

    import uvicorn

    from ..engine import Engine
    from ..server import create_app

    async def open_engine() -> Engine:
        return await Engine.open(model, data_dir, models_config=config)

    app = create_app(open_engine, api_key=api_key)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           timeout_graceful_shutdown=15))
    stderr.print(f"Airlock: OpenAI clients use base_url=http://{_url_host(host)}:{port}/v1"
                 + ("" if api_key else " (no API key required)"), highlight=False)
    server.run()
    if not server.started:
        raise _fail("the server did not start (see the log above)", 1)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
