"""Reaching `airlock mcp` as MCP clients do: the official SDK's `ClientSession` over
`stdio_client` (the client starts the server process) or over `streamable_http_client` (a
server process listening on a free loopback port). The server's log (stderr) is read line by
line on a thread, so a test can wait for an event in it (a kernel ending) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import httpx2
from cli_helpers import AIRLOCK, REPO, cli_env
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ImageContent, ResourceLink, TextContent

#: Small enough for the timeout test to be quick; every transport's server gets it.
CELL_TIMEOUT = 3
#: How long to wait for one line of the server's log.
LOG_WAIT = 60.0


class ServerLog:
    """The lines a server process writes on stderr, as they come."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = LOG_WAIT) -> re.Match[str]:
        """The first line from now on (or seen before and not yet matched) matching
        `pattern`; AssertionError when the log ends or `timeout` passes first."""
        regex = re.compile(pattern)
        for index, line in enumerate(self.seen):
            if (found := regex.search(line)) is not None:
                del self.seen[index]
                return found
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no log line matching {pattern!r} within {timeout} s; seen: {self.seen}"
                ) from None
            if line is None:
                raise AssertionError(f"the server's log ended before {pattern!r}: {self.seen}")
            if (found := regex.search(line)) is not None:
                return found
            self.seen.append(line)


def server_args(*extra: str) -> list[str]:
    return ["mcp", "--cell-timeout", str(CELL_TIMEOUT), *extra]


@contextlib.asynccontextmanager
async def stdio_session(
    tmp_path: Path, *extra: str, log: list[ServerLog] | None = None
) -> AsyncIterator[ClientSession]:
    """A server process started by the SDK's stdio client, and an initialized session."""
    read_fd, write_fd = os.pipe()
    server_log = ServerLog(os.fdopen(read_fd, "r", encoding="utf-8", errors="replace"))
    errlog = os.fdopen(write_fd, "w")
    if log is not None:
        log.append(server_log)
    params = StdioServerParameters(
        command=AIRLOCK[0],
        args=[*AIRLOCK[1:], *server_args(*extra)],
        env=cli_env(tmp_path),
        cwd=str(REPO),
    )
    try:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    finally:
        errlog.close()  # the server's copy closes when it exits: the log thread ends there


class HttpServer:
    """`airlock mcp --http` in a subprocess on a free loopback port."""

    def __init__(self, tmp_path: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [*AIRLOCK, *server_args("--http", "--port", "0", *extra)],
            cwd=REPO,
            env=cli_env(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.log = ServerLog(self.process.stderr)
        self.url = self.log.wait_for(r"serving MCP at (http://\S+)").group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def http_server(tmp_path: Path, *extra: str) -> Iterator[HttpServer]:
    server = HttpServer(tmp_path, *extra)
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def http_session(
    url: str,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialized session over the SDK's streamable HTTP client; ended (DELETE) on exit."""
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if headers is not None:
            client = await stack.enter_async_context(httpx2.AsyncClient(headers=headers))
        read, write = await stack.enter_async_context(
            streamable_http_client(url, http_client=client)
        )
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        yield session


# -- reading results -----------------------------------------------------------------------
def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def images_of(result: CallToolResult) -> list[ImageContent]:
    return [block for block in result.content if isinstance(block, ImageContent)]


def links_of(result: CallToolResult) -> list[ResourceLink]:
    return [block for block in result.content if isinstance(block, ResourceLink)]


async def run(session: ClientSession, code: str, **arguments: Any) -> CallToolResult:
    return await session.call_tool("run_python", {"code": code, **arguments})
