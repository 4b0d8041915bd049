"""`airlock mcp` through the official MCP SDK's client, over stdio and over streamable HTTP:
the tools, state kept between calls, plots as PNG, failures as tool errors with their
traceback, files read back, sessions apart, a timed-out cell interrupted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from mcp import ClientSession, MCPError
from mcp_clients import (
    CELL_TIMEOUT,
    HttpServer,
    http_server,
    http_session,
    images_of,
    links_of,
    run,
    stdio_session,
    text_of,
)
from mcp_types import BlobResourceContents, EmbeddedResource, TextResourceContents

from sandbox import IsolationLevel

pytestmark = pytest.mark.slow

Connect = Callable[[], AbstractAsyncContextManager[ClientSession]]
TOOLS = {"run_python", "list_files", "upload_file", "read_file", "restart_kernel"}


@pytest.fixture(scope="module")
def shared_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """One HTTP server for the module: each test opens its own MCP sessions on it."""
    with http_server(tmp_path_factory.mktemp("mcp-http")) as server:
        yield server


@pytest.fixture(params=["stdio", "http"])
def connect(request: pytest.FixtureRequest, tmp_path: Path) -> Connect:
    """Opens a new MCP session on the transport under test."""
    if request.param == "stdio":
        return lambda: stdio_session(tmp_path)
    server: HttpServer = request.getfixturevalue("shared_http")

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[ClientSession]:
        async with http_session(server.url) as session:
            yield session

    return opened


async def test_tools_are_listed_with_schemas_and_the_isolation_level(
    connect: Connect, best_level: IsolationLevel
) -> None:
    async with connect() as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
        run_schema = tools["run_python"].input_schema
        assert run_schema["required"] == ["code"]
        assert "description" in run_schema["properties"]["code"]
        assert set(tools["upload_file"].input_schema["required"]) == {"path", "content"}
        templates = (await session.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["airlock://{session}/mnt/data/{+path}"]
        # The level sessions run at: the doctor's best, as no --isolation was given.
        instructions = session.instructions or ""
        assert f"Isolation level (airlock doctor): {best_level} - " in instructions
        assert f"{CELL_TIMEOUT} s (then it is interrupted" in instructions


async def test_state_persists_between_calls(connect: Connect) -> None:
    async with connect() as session:
        first = await run(session, "import statistics\nx = 41\nprint('set')")
        assert not first.is_error and text_of(first) == "set"
        second = await run(session, "x + 1")
        assert not second.is_error and text_of(second) == "42"
        third = await run(session, "statistics.mean([x, 43])")  # the import is still there
        assert text_of(third) == "42"


async def test_a_plot_arrives_as_png_image_content(connect: Connect) -> None:
    async with connect() as session:
        result = await run(
            session, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]); plt.title('sales')"
        )
        assert not result.is_error
        [image] = images_of(result)
        assert image.mime_type == "image/png"
        assert base64.b64decode(image.data).startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_failing_cell_is_a_tool_error_carrying_its_traceback(connect: Connect) -> None:
    async with connect() as session:
        result = await run(
            session,
            "def check(v):\n    raise ValueError(f'bad value {v}')\nprint('before')\ncheck(7)",
        )
        assert result.is_error  # a result, not a protocol error: call_tool did not raise
        text = text_of(result)
        assert text.startswith("before")
        assert "Traceback" in text and "check(7)" in text
        assert text.rstrip().endswith("ValueError: bad value 7")
        assert text_of(await run(session, "print('still fine')")) == "still fine"


async def test_a_file_written_by_code_is_read_back(connect: Connect) -> None:
    async with connect() as session:
        result = await run(
            session,
            "import os\nos.makedirs('out', exist_ok=True)\n"
            "with open('out/summary.csv', 'w') as f:\n"
            "    f.write('region,total\\nwest,42\\n')\n"
            "open('blob.bin', 'wb').write(bytes(range(256)))",
        )
        assert not result.is_error
        links = {link.name: link for link in links_of(result)}
        assert set(links) == {"/mnt/data/out/summary.csv", "/mnt/data/blob.bin"}
        assert links["/mnt/data/out/summary.csv"].mime_type == "text/csv"
        assert "/mnt/data/out/summary.csv (21 bytes, created)" in text_of(result)

        read = await session.call_tool("read_file", {"path": "out/summary.csv"})
        [block] = read.content
        assert isinstance(block, EmbeddedResource)
        assert isinstance(block.resource, TextResourceContents)
        assert block.resource.text == "region,total\nwest,42\n"
        assert block.resource.uri == links["/mnt/data/out/summary.csv"].uri

        binary = await session.call_tool("read_file", {"path": "/mnt/data/blob.bin"})
        [block] = binary.content
        assert isinstance(block, EmbeddedResource)
        assert isinstance(block.resource, BlobResourceContents)
        assert base64.b64decode(block.resource.blob) == bytes(range(256))

        # The same files as resources, at the URIs the links gave.
        for name, expected in [
            ("/mnt/data/out/summary.csv", b"region,total\nwest,42\n"),
            ("/mnt/data/blob.bin", bytes(range(256))),
        ]:
            contents = (await session.read_resource(links[name].uri)).contents
            assert isinstance(contents[0], BlobResourceContents)
            assert base64.b64decode(contents[0].blob) == expected

        missing = await session.call_tool("read_file", {"path": "nowhere.txt"})
        assert missing.is_error and "nowhere.txt" in text_of(missing)
        escape = await session.call_tool("read_file", {"path": "../../etc/passwd"})
        assert escape.is_error and "escapes the workspace" in text_of(escape)


async def test_uploaded_files_are_seen_by_the_code_and_listed(connect: Connect) -> None:
    async with connect() as session:
        assert text_of(await session.call_tool("list_files", {})) == "/mnt/data is empty"
        saved = await session.call_tool(
            "upload_file", {"path": "sales.csv", "content": "month,revenue\njan,10\nfeb,32\n"}
        )
        assert not saved.is_error and "/mnt/data/sales.csv (28 bytes)" in text_of(saved)
        raw = bytes([0, 255, 1, 254])
        await session.call_tool(
            "upload_file",
            {
                "path": "data/raw.bin",
                "content": base64.b64encode(raw).decode(),
                "encoding": "base64",
            },
        )
        result = await run(
            session,
            "import pandas as pd\n"
            "print(pd.read_csv('sales.csv').revenue.sum())\n"
            "print(list(open('/mnt/data/data/raw.bin', 'rb').read()))",
        )
        assert text_of(result) == "42\n[0, 255, 1, 254]"
        listing = await session.call_tool("list_files", {})
        assert text_of(listing).splitlines()[1:] == [
            "/mnt/data/data/raw.bin\t4",
            "/mnt/data/sales.csv\t28",
        ]
        bad = await session.call_tool(
            "upload_file", {"path": "x.bin", "content": "not base64!", "encoding": "base64"}
        )
        assert bad.is_error and "base64" in text_of(bad)


async def test_two_sessions_do_not_see_each_others_variables_or_files(connect: Connect) -> None:
    async with connect() as alice, connect() as bob:
        wrote = await run(alice, "secret = 'alice-only'\nopen('alice.txt', 'w').write(secret)")
        [link] = links_of(wrote)
        await run(bob, "mine = 1")
        assert text_of(await run(alice, "secret")) == "'alice-only'"

        looked = await run(bob, "import os\nprint(sorted(os.listdir('.')))\nsecret")
        assert looked.is_error and "NameError" in text_of(looked)
        assert text_of(looked).startswith("[]")
        assert text_of(await bob.call_tool("list_files", {})) == "/mnt/data is empty"
        assert (await bob.call_tool("read_file", {"path": "alice.txt"})).is_error
        with pytest.raises(MCPError):  # alice's URI names her session: not bob's to read
            await bob.read_resource(link.uri)
        both = await asyncio.gather(run(alice, "mine"), run(bob, "mine"))
        assert both[0].is_error and not both[1].is_error


async def test_a_timed_out_cell_is_interrupted_and_the_session_stays_usable(
    connect: Connect,
) -> None:
    async with connect() as session:
        await run(session, "kept = [1, 2, 3]")
        result = await run(session, "import time\nprint('started', flush=True)\ntime.sleep(600)")
        assert result.is_error
        text = text_of(result)
        assert text.startswith("started")
        assert "KeyboardInterrupt" in text
        assert f"time limit of {CELL_TIMEOUT} s" in text and "state is kept" in text
        after = await run(session, "sum(kept)")
        assert not after.is_error and text_of(after) == "6"
        # A shorter limit for one call only, never a longer one than the server's.
        short = await run(session, "time.sleep(600)", timeout_seconds=1)
        assert short.is_error and "time limit of 1 s" in text_of(short)


async def test_restart_kernel_drops_variables_and_keeps_files(connect: Connect) -> None:
    async with connect() as session:
        await run(session, "x = 1\nopen('kept.txt', 'w').write('still here')")
        restarted = await session.call_tool("restart_kernel", {})
        assert not restarted.is_error and "Kernel restarted" in text_of(restarted)
        gone = await run(session, "x")
        assert gone.is_error and "NameError" in text_of(gone)
        assert text_of(await run(session, "open('kept.txt').read()")) == "'still here'"
