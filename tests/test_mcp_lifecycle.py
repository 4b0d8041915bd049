"""`airlock mcp`'s sessions and serving: a kernel ends with its MCP session or after the idle
time, both protocol eras of the SDK's client, the API key, the sandbox flags."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from cli_helpers import AIRLOCK, REPO, airlock, cli_env
from conftest import require_level
from mcp import Client, MCPError, StdioServerParameters
from mcp_clients import (
    HttpServer,
    ServerLog,
    http_server,
    http_session,
    links_of,
    run,
    server_args,
    stdio_session,
    text_of,
)
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from sandbox import IsolationLevel

pytestmark = pytest.mark.slow

KEY = "test-key-7f3a"


@pytest.fixture(scope="module")
def keyed_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with http_server(tmp_path_factory.mktemp("mcp-keyed"), "--api-key", KEY) as server:
        yield server


def session_of(uri: str) -> str:
    found = re.match(r"airlock://([0-9a-f]+)/mnt/data/", uri)
    assert found is not None, uri
    return found.group(1)


async def test_ending_an_http_session_ends_its_kernel_and_no_other(tmp_path: Path) -> None:
    with http_server(tmp_path) as server:
        async with http_session(server.url) as other:
            await run(other, "y = 2")
            async with http_session(server.url) as session:
                wrote = await run(session, "open('a.txt', 'w').write('a')")
                ended = session_of(links_of(wrote)[0].uri)
            # Leaving the client's context sent DELETE: the SDK closed the session.
            server.log.wait_for(rf"session {ended}: kernel ended \(the MCP session ended\)")
            assert text_of(await run(other, "y")) == "2"
        server.log.wait_for(r"session [0-9a-f]+: kernel ended \(the MCP session ended\)")


async def test_an_idle_kernel_is_ended_and_the_next_call_is_told(tmp_path: Path) -> None:
    logs: list[ServerLog] = []
    async with stdio_session(tmp_path, "--idle-timeout", "1", log=logs) as session:
        [log] = logs
        wrote = await run(session, "x = 1\nopen('gone.txt', 'w').write('x')")
        first = session_of(links_of(wrote)[0].uri)
        log.wait_for(rf"session {first}: kernel ended \(idle for 1 s\)")
        after = await run(session, "x")
        assert after.is_error
        text = text_of(after)
        assert text.startswith("[airlock] the previous kernel was ended after 1 s without a call")
        assert "NameError" in text
        assert text_of(await session.call_tool("list_files", {})) == "/mnt/data is empty"
        # The notice is told once; the fresh kernel keeps state like any other.
        again = await run(session, "x = 5\nx")
        assert text_of(again) == "5"


async def test_an_auto_mode_client_gets_a_session_over_http_and_per_request_is_refused(
    keyed_http: HttpServer,
) -> None:
    from httpx2 import AsyncClient
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        AsyncClient(headers=headers) as http,
        Client(streamable_http_client(keyed_http.url, http_client=http)) as client,
    ):
        assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        await client.call_tool("run_python", {"code": "n = 3"})
        result = await client.call_tool("run_python", {"code": "n * 14"})
        assert text_of(result) == "42"

    async with (
        AsyncClient(headers=headers) as http,
        Client(
            streamable_http_client(keyed_http.url, http_client=http),
            mode=MODERN_PROTOCOL_VERSIONS[-1],
        ) as modern,
    ):
        with pytest.raises(MCPError) as refused:
            await modern.call_tool("run_python", {"code": "1"})
        assert refused.value.code == UNSUPPORTED_PROTOCOL_VERSION
        assert "initialize handshake" in refused.value.message


async def test_over_stdio_either_era_keeps_one_kernel(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=AIRLOCK[0],
        args=[*AIRLOCK[1:], *server_args()],
        env=cli_env(tmp_path),
        cwd=str(REPO),
    )
    async with Client(params) as client:  # 'auto': the per-request era when offered
        assert client.protocol_version in MODERN_PROTOCOL_VERSIONS
        await client.call_tool("run_python", {"code": "n = 3"})
        assert text_of(await client.call_tool("run_python", {"code": "n * 14"})) == "42"


async def test_the_api_key_is_required_when_set(keyed_http: HttpServer) -> None:
    for headers in (None, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
        with pytest.raises(ExceptionGroup) as refused:  # from the client's task group
            async with http_session(keyed_http.url, headers=headers) as session:
                await session.list_tools()
        assert refused.group_contains(MCPError, match="Unauthorized: a valid API key")
    async with http_session(keyed_http.url, headers={"api-key": KEY}) as session:
        assert text_of(await run(session, "6 * 7")) == "42"


INTERRUPTIBLE = """import time
started = time.monotonic()
try:
    time.sleep(600)
except KeyboardInterrupt:
    open('interrupted', 'w').write(str(time.monotonic() - started))
    raise
"""


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_cancelled_call_interrupts_its_cell(transport: str, tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if transport == "stdio":
            session = await stack.enter_async_context(
                stdio_session(tmp_path, "--cell-timeout", "300")
            )
        else:
            server = stack.enter_context(http_server(tmp_path, "--cell-timeout", "300"))
            session = await stack.enter_async_context(http_session(server.url))
        await run(session, "kept = 'yes'")
        with anyio.move_on_after(1) as scope:
            await run(session, INTERRUPTIBLE)
        assert scope.cancelled_caught
        after = await run(session, "print(kept, float(open('interrupted').read()) < 60)")
        assert text_of(after) == "yes True"  # interrupted long before its 300 s limit


def test_serving_beyond_loopback_needs_a_key(tmp_path: Path) -> None:
    result = airlock(tmp_path, "mcp", "--http", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in result.stderr


async def test_the_sandbox_flags_apply(tmp_path: Path) -> None:
    require_level(IsolationLevel.NAMESPACES)
    async with stdio_session(tmp_path, "--isolation", "namespaces", "--memory", "768") as session:
        instructions = session.instructions or ""
        assert "Isolation level (airlock doctor): namespaces - " in instructions
        assert "memory 768 MB" in instructions
        hog = await run(session, "block = bytearray(2000 * 1024 * 1024)")
        assert hog.is_error
        assert "MemoryError" in text_of(hog) or "memory limit" in text_of(hog)
