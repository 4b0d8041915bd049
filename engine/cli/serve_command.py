"""`airlock serve`: the OpenAI-compatible REST server (uvicorn) over an Engine."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated, Any

import typer

from .options import (
    API_KEY_ENV,
    CellTimeoutOption,
    CliError,
    DataDirOption,
    ModelOption,
    ModelsConfigOption,
    data_dir_for,
    engine_settings_for,
    fail,
    is_loopback,
    load_settings,
    resolve_model,
    stderr,
)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback needs --api-key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOption = None,
    data_dir: DataDirOption = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help=f"Require this key (`Authorization: Bearer KEY` or `api-key: KEY`); "
            f"default: ${API_KEY_ENV}, else none.",
            show_default=False,
        ),
    ] = None,
    models_config: ModelsConfigOption = None,
    cell_timeout: CellTimeoutOption = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    max_sessions: Annotated[
        int | None,
        typer.Option(
            help="Live sandbox sessions (kernels) at most; past it the least recently used idle "
            "one is ended, and a run that needs one while all are busy gets 429. Default: "
            "the settings file's max_sessions, else what 3/4 of the memory holds at the "
            "per-session memory limit.",
            min=1,
            show_default=False,
        ),
    ] = None,
    idle_seconds: Annotated[
        float | None,
        typer.Option(
            help="End a session after this many seconds without a cell. Default: the settings "
            "file's session_idle_seconds, else 3600.",
            min=1,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve OpenAI's Assistants API (Code Interpreter) at http://HOST:PORT/v1 (and, for Azure
    clients, /openai). The model is found as `airlock run` finds it (the pulled default model
    when none is configured); clients' model names pick others (see --models-config)."""
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    if not is_loopback(host) and api_key is None:
        raise fail(
            f"refusing to serve on {host} without an API key: anyone who can reach "
            f"it could run code here. Pass --api-key KEY (or set ${API_KEY_ENV}), or "
            "bind 127.0.0.1."
        )
    if not 0 < port < 65536:
        raise fail(f"--port must be between 1 and 65535, not {port}")
    try:
        settings = load_settings()
        choice = resolve_model(model, models_config, settings)
        folder = data_dir_for(data_dir, settings)
        engine_settings = engine_settings_for(cell_timeout, settings)
    except CliError as exc:
        raise fail(str(exc), exc.code) from None
    assert choice is not None
    spec, config = choice.spec, choice.config

    import uvicorn

    from ..core import Engine
    from ..server import create_app

    overrides: dict[str, Any] = {}
    if cap := max_sessions or settings.max_sessions:
        overrides["max_sessions"] = cap
    if idle := idle_seconds or settings.session_idle_seconds:
        overrides["session_idle_seconds"] = idle
    engine_settings = dataclasses.replace(engine_settings, **overrides)

    async def open_engine() -> Engine:
        return await Engine.open(spec, folder, settings=engine_settings, models_config=config)

    app = create_app(open_engine, api_key=api_key)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=15)
    )
    stderr.print(
        f"Airlock: OpenAI clients use base_url=http://{_url_host(host)}:{port}/v1"
        + ("" if api_key else " (no API key required)"),
        highlight=False,
    )
    server.run()
    if not server.started:
        raise fail("the server did not start (see the log above)", 1)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
