"""The MCP server: Airlock's tools on the official SDK's `MCPServer`, with instructions that
say what the sandbox is (the isolation level `airlock doctor` finds, the limits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server import ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION, UnsupportedProtocolVersionErrorData
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from sandbox import IsolationLevel, SandboxConfig

from .slots import Slots
from .tools import AirlockTools

#: What each level holds, in a line (the README's table, shortened).
LEVEL_SUMMARY = {
    IsolationLevel.BUBBLEWRAP: (
        "no network; only the system and the Python environment (read-only) and /mnt/data "
        "are visible; seccomp; an unprivileged user"
    ),
    IsolationLevel.NAMESPACES: (
        "no network; home folders hidden, private /tmp; the rest of the host is readable; "
        "seccomp; an unprivileged user"
    ),
    IsolationLevel.NONE: (
        "NOT ISOLATED: the code can reach the network and read whatever the sandbox user can read"
    ),
}


@dataclass(frozen=True)
class McpOptions:
    """How the server's sessions run."""

    config: SandboxConfig
    #: The level sessions run at (what `choose_level` found for `config`).
    level: IsolationLevel
    #: Seconds without a call after which an MCP session's kernel is ended.
    idle_seconds: float


def instructions(options: McpOptions) -> str:
    limits = options.config.limits
    return (
        "Airlock is a sandboxed Python code interpreter (Code Interpreter, offline). Each MCP "
        "session has its own persistent Jupyter kernel and its own /mnt/data folder: "
        "variables, imports and files persist between run_python calls until restart_kernel, "
        f"the end of the session, or {options.idle_seconds:g} s without a call. Other "
        "sessions cannot see them. Put input files in with upload_file, then refer to them as "
        "/mnt/data/NAME; read results back with read_file or through the resource links "
        "run_python returns (airlock://SESSION/mnt/data/PATH). Plots (matplotlib) come back "
        "as PNG images. Limits per cell: "
        f"{limits.timeout:g} s (then it is interrupted, variables kept), memory "
        f"{limits.memory_mb} MB for the session, {limits.max_workspace_mb} MB of files. "
        f"Isolation level (airlock doctor): {options.level} - "
        f"{LEVEL_SUMMARY[options.level]}."
    )


def build_server(options: McpOptions, slots: Slots, *, sessions_required: bool) -> MCPServer[Any]:
    """`sessions_required` (streamable HTTP): refuse the 2026-07-28 per-request protocol,
    which has no session to keep a kernel in, so that clients fall back to the handshake."""
    server: MCPServer[Any] = MCPServer(
        "airlock",
        title="Airlock code interpreter",
        instructions=instructions(options),
        log_level="WARNING",
    )
    AirlockTools(slots).register(server, options.config.limits.timeout)
    if sessions_required:
        server.middleware.append(refuse_sessionless)
    return server


async def refuse_sessionless(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """A 2026-07-28 request arrives alone (no `Mcp-Session-Id`), so there would be no kernel
    to keep state in between calls. Answered -32022 with the handshake versions: an SDK
    client in 'auto' mode then opens a session with `initialize`."""
    version = ctx.protocol_version
    if version not in MODERN_PROTOCOL_VERSIONS or ctx.request_id is None:
        return await call_next(ctx)
    data = UnsupportedProtocolVersionErrorData(
        supported=list(HANDSHAKE_PROTOCOL_VERSIONS), requested=version
    )
    raise MCPError(
        code=UNSUPPORTED_PROTOCOL_VERSION,
        message=(
            "Airlock keeps a kernel per MCP session, and the per-request protocol has "
            "none: connect with the initialize handshake "
            f"({', '.join(HANDSHAKE_PROTOCOL_VERSIONS)})"
        ),
        data=data.model_dump(mode="json"),
    )
