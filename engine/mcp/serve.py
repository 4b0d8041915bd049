"""Running the MCP server: over stdio (the client started this process for itself) or over
streamable HTTP (uvicorn, sessions by `Mcp-Session-Id`, an optional API key)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from .server import McpOptions, build_server
from .slots import ConnectionSlots, ProcessSlots

#: The path of the MCP endpoint over HTTP.
MCP_PATH = "/mcp"


def log(line: str) -> None:
    """One line of the server's log, on stderr (stdout is the protocol's over stdio)."""
    print(f"airlock mcp: {line}", file=sys.stderr, flush=True)


async def serve_stdio(options: McpOptions) -> None:
    slots = ProcessSlots(options.config, options.idle_seconds, log)
    server = build_server(options, slots, sessions_required=False)
    try:
        await _until_terminated(server.run_stdio_async())
    finally:
        await slots.close_all("the server stopped")


async def serve_http(
    options: McpOptions, *, host: str, port: int, api_key: str | None, log_level: str = "warning"
) -> None:
    import uvicorn

    slots = ConnectionSlots(options.config, options.idle_seconds, log)
    server = build_server(options, slots, sessions_required=True)
    # The SDK ends a session after the same idle time as its kernel: the kernel goes with it.
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH, host=host, session_idle_timeout=options.idle_seconds
    )
    if api_key is not None:
        app = require_key(app, api_key)
    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    uv = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=5)
    )
    url_host = f"[{host}]" if ":" in host else host
    log(
        f"serving MCP at http://{url_host}:{bound}{MCP_PATH}"
        + ("" if api_key else " (no API key required)")
    )
    try:
        await uv.serve(sockets=[listener])
    finally:
        listener.close()
        await slots.close_all("the server stopped")


def _listen(host: str, port: int) -> socket.socket:
    """Bound and listening before the address is announced (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    listener.set_inheritable(True)
    return listener


def require_key(app: ASGIApp, api_key: str) -> ASGIApp:
    """Every HTTP request must carry the key (`Authorization: Bearer KEY` or `api-key: KEY`);
    otherwise 401 with a JSON-RPC error body. Lifespan events pass through."""
    expected = api_key.encode()

    def allowed(scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                given = value[7:].strip()
            elif name == b"api-key":
                given = value.strip()
            else:
                continue
            if hmac.compare_digest(given, expected):
                return True
        return False

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or allowed(scope):
            await app(scope, receive, send)
            return
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32001, "message": "Unauthorized: a valid API key is required"},
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return guarded


async def _until_terminated(main: Awaitable[None]) -> None:
    """Run `main`, cancelling it on SIGTERM (a client's stop), so the kernels are ended
    rather than left to their die-with-parent guard."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    stop: Callable[[], object] = task.cancel
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
