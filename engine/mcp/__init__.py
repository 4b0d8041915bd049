"""Airlock's code interpreter as a Model Context Protocol server, on the official `mcp` SDK.

`airlock mcp` serves it over stdio (the client starts the process) or streamable HTTP
(`--http`). Each MCP session gets its own sandboxed kernel and /mnt/data (`slots`); the tools
(`tools`) run Python, list, upload and read files and restart the kernel; a cell's outputs
become text, PNG image and resource-link content (`outputs`); `server` builds the SDK server
and its instructions, `serve` runs it.
"""

from .serve import MCP_PATH, serve_http, serve_stdio
from .server import McpOptions, build_server, instructions

__all__ = ["MCP_PATH", "McpOptions", "build_server", "instructions", "serve_http", "serve_stdio"]
