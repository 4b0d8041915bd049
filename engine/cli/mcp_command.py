"""`airlock mcp`: the code interpreter as an MCP server, over stdio or streamable HTTP."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from sandbox import IsolationUnavailable, Limits, choose_level

from .options import fail
from .sandbox_commands import IsolationOption, MemoryOption, StrictOption, sandbox_config
from .serve_command import API_KEY_ENV, is_loopback

#: The engine's default: a thread's kernel ends after an hour idle.
DEFAULT_IDLE_SECONDS = 3600.0


def mcp(
    http: Annotated[
        bool,
        typer.Option(
            "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option(help="Address to bind with --http. Anything but loopback needs --api-key."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on with --http (0: any free one).")
    ] = 8765,
    api_key: Annotated[
        str | None,
        typer.Option(
            help=f"With --http, require this key (`Authorization: Bearer KEY` or `api-key: KEY`); "
            f"default: ${API_KEY_ENV}, else none.",
            show_default=False,
        ),
    ] = None,
    cell_timeout: Annotated[
        float, typer.Option(help="Seconds a cell may run before it is interrupted.")
    ] = Limits.timeout,
    memory: MemoryOption = Limits.memory_mb,
    isolation: IsolationOption = None,
    strict: StrictOption = False,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds without a call after which a session's kernel is ended.")
    ] = DEFAULT_IDLE_SECONDS,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level, with --http.")] = "warning",
) -> None:
    """Serve the code interpreter over the Model Context Protocol: each MCP session gets its
    own sandboxed kernel and /mnt/data (tools: run_python, list_files, upload_file, read_file,
    restart_kernel). Over stdio by default, for a client that starts `airlock mcp` itself."""
    from engine.mcp import McpOptions, serve_http, serve_stdio

    if cell_timeout <= 0 or idle_timeout <= 0:
        raise fail("--cell-timeout and --idle-timeout must be positive")
    api_key = api_key or os.environ.get(API_KEY_ENV) or None
    if http:
        if not is_loopback(host) and api_key is None:
            raise fail(
                f"refusing to serve on {host} without an API key: anyone who can reach "
                f"it could run code here. Pass --api-key KEY (or set ${API_KEY_ENV}), "
                "or bind 127.0.0.1."
            )
        if not 0 <= port < 65536:
            raise fail(f"--port must be between 0 and 65535, not {port}")
    config = sandbox_config(cell_timeout, memory, isolation, strict)
    try:
        level = choose_level(config)  # what `airlock doctor` finds; once, before serving
    except IsolationUnavailable as exc:
        raise fail(str(exc), 1) from None
    options = McpOptions(config=config, level=level, idle_seconds=idle_timeout)
    if http:
        try:
            asyncio.run(
                serve_http(options, host=host, port=port, api_key=api_key, log_level=log_level)
            )
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from None
    else:
        asyncio.run(serve_stdio(options))
