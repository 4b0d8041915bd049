"""The MCP tools (run Python, list, upload and read files, restart the kernel) and the
resource template of a session's files, each working on the calling MCP session's sandbox."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from pydantic import Field

from sandbox import MOUNT_POINT, AsyncSession, Execution, WorkspaceError

from ..filetypes import mime_type
from .outputs import FILE_URI_TEMPLATE, cell_result, file_link, file_uri
from .slots import Slots

MiB = 1024 * 1024
#: The largest file read_file and resources/read return (base64 makes it a third larger).
READ_LIMIT = 16 * MiB
#: Files read_file returns as image content, for the model to look at.
VIEWABLE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}

Code = Annotated[str, Field(description="Python source to run as one notebook cell.")]
Timeout = Annotated[
    float | None,
    Field(
        gt=0, description="Seconds this cell may run; at most, and by default, the server's limit."
    ),
]
FilePath = Annotated[
    str,
    Field(
        description="A path under /mnt/data, absolute ('/mnt/data/sales.csv') or relative "
        "('sales.csv', 'out/chart.png')."
    ),
]
Content = Annotated[str, Field(description="The file's content: text, or base64 for bytes.")]
Encoding = Annotated[
    Literal["text", "base64"],
    Field(description="How `content` is given: 'text' (written as UTF-8) or 'base64'."),
]


class AirlockTools:
    """Registers the tools and the file resource template on an MCPServer."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots

    def register(self, server: MCPServer[Any], cell_timeout: float) -> None:
        server.add_tool(
            self.run_python,
            title="Run Python",
            description=(
                "Run Python code in this MCP session's persistent Jupyter kernel, like a "
                "notebook cell: variables, imports and files persist between calls. The "
                "working directory is /mnt/data. Returns stdout/stderr, displayed values and "
                "the last expression's value as text, plots as PNG images, and links to the "
                "files the code wrote. A cell that raises is returned as a tool error with "
                f"its traceback. A cell running longer than {cell_timeout:g} s is interrupted "
                "(KeyboardInterrupt; variables kept)."
            ),
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=False, open_world_hint=False
            ),
        )
        server.add_tool(
            self.list_files,
            title="List files",
            description="List the files in /mnt/data (path and size in bytes).",
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )
        server.add_tool(
            self.upload_file,
            title="Upload a file",
            description=(
                "Write a file into /mnt/data for the code to use (replacing one of "
                "the same name); give text, or bytes as base64."
            ),
            annotations=ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        )
        server.add_tool(
            self.read_file,
            title="Read a file",
            description=(
                f"Read a file from /mnt/data (at most {READ_LIMIT // MiB} MiB): "
                "images as image content, text as text, other files as base64."
            ),
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )
        server.add_tool(
            self.restart_kernel,
            title="Restart the kernel",
            description=(
                "Restart this session's kernel: every variable and import is lost, "
                "the files in /mnt/data are kept."
            ),
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=True, open_world_hint=False
            ),
        )
        server.resource(
            FILE_URI_TEMPLATE,
            name="session-file",
            title="A file in a session's /mnt/data",
            description=(
                "A file in /mnt/data of the MCP session named in the URI, as its "
                "bytes; only that session can read it. run_python links the files it "
                "writes (the link gives the file's type)."
            ),
            mime_type="application/octet-stream",
        )(self.read_resource)

    # -- tools ---------------------------------------------------------------------------
    async def run_python(
        self, code: Code, ctx: Context[Any, Any], timeout_seconds: Timeout = None
    ) -> CallToolResult:
        slot = self.slots.slot_for(ctx)
        async with slot.use() as session:
            notice = slot.take_notice()
            limit = session.config.limits.timeout
            timeout = min(timeout_seconds, limit) if timeout_seconds else limit
            execution = await _execute(session, code, timeout)
        return cell_result(execution, slot.id, notice)

    async def list_files(self, ctx: Context[Any, Any]) -> CallToolResult:
        slot = self.slots.slot_for(ctx)
        async with slot.use() as session:
            files = await asyncio.to_thread(_regular_files, session)
        if not files:
            return CallToolResult(content=[TextContent(text=f"{MOUNT_POINT} is empty")])
        listing = "\n".join(f"{path}\t{size}" for path, size in files)
        content: list[ContentBlock] = [TextContent(text=f"path\tbytes\n{listing}")]
        content.extend(file_link(slot.id, path, size) for path, size in files)
        return CallToolResult(content=content)

    async def upload_file(
        self, path: FilePath, content: Content, ctx: Context[Any, Any], encoding: Encoding = "text"
    ) -> CallToolResult:
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ToolError("content is not valid base64") from None
        else:
            data = content.encode("utf-8")
        slot = self.slots.slot_for(ctx)
        async with slot.use() as session:
            cap = session.config.limits.max_file_mb * MiB
            if len(data) > cap:
                raise ToolError(
                    f"{len(data)} bytes is over the limit of one file ({cap // MiB} MiB)"
                )
            try:
                where = await asyncio.to_thread(session.put_file, path, data)
            except WorkspaceError as exc:
                raise ToolError(str(exc)) from None
        return CallToolResult(
            content=[
                TextContent(text=f"Saved {where} ({len(data)} bytes)"),
                file_link(slot.id, where, len(data)),
            ]
        )

    async def read_file(self, path: FilePath, ctx: Context[Any, Any]) -> CallToolResult:
        slot = self.slots.slot_for(ctx)
        async with slot.use() as session:
            try:
                data = await asyncio.to_thread(_read_capped, session, path)
            except WorkspaceError as exc:
                raise ToolError(str(exc)) from None
        mime = mime_type(path)
        if mime in VIEWABLE_IMAGES:
            return CallToolResult(
                content=[ImageContent(data=base64.b64encode(data).decode("ascii"), mime_type=mime)]
            )
        uri = file_uri(slot.id, path)
        resource: TextResourceContents | BlobResourceContents
        try:
            resource = TextResourceContents(uri=uri, text=data.decode("utf-8"), mime_type=mime)
        except UnicodeDecodeError:
            resource = BlobResourceContents(
                uri=uri, blob=base64.b64encode(data).decode("ascii"), mime_type=mime
            )
        return CallToolResult(content=[EmbeddedResource(resource=resource)])

    async def restart_kernel(self, ctx: Context[Any, Any]) -> CallToolResult:
        slot = self.slots.slot_for(ctx)
        async with slot.use() as session:
            await session.restart()
        return CallToolResult(
            content=[
                TextContent(
                    text=f"Kernel restarted: every variable is gone; the files in {MOUNT_POINT} are "
                    "kept."
                )
            ]
        )

    # -- the resource template -----------------------------------------------------------
    async def read_resource(self, session: str, path: str, ctx: Context[Any, Any]) -> bytes:
        """`airlock://SESSION/mnt/data/PATH`: the caller's own session's files only."""
        slot = self.slots.slot_for(ctx)
        running = slot.session
        if session != slot.id or running is None:
            raise ResourceNotFoundError(f"no such file in this MCP session: {path}")
        try:
            return await asyncio.to_thread(_read_capped, running, path)
        except WorkspaceError as exc:
            raise ResourceNotFoundError(str(exc)) from None


async def _execute(session: AsyncSession, code: str, timeout: float) -> Execution:
    """Run a cell; if the client cancels the call, interrupt the cell and let it end (its
    kernel stays usable) before the cancellation goes on."""
    task = asyncio.ensure_future(session.execute(code, timeout=timeout))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        session.interrupt()
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await task
        raise


def _regular_files(session: AsyncSession) -> list[tuple[str, int]]:
    workspace = session.workspace
    found = [
        (workspace.sandbox_path(Path(path)), entry.size)
        for path, entry in workspace.snapshot().items()
        if entry.size >= 0
    ]
    return sorted(found)


def _read_capped(session: AsyncSession, path: str) -> bytes:
    data = session.workspace.read(path, max_bytes=READ_LIMIT + 1)
    if len(data) > READ_LIMIT:
        raise WorkspaceError(
            f"{path} is larger than {READ_LIMIT // MiB} MiB: too large to "
            "return; have the code summarise or split it"
        )
    return data
