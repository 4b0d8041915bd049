"""What a cell produced, as MCP tool-result content.

A cell's text (stdout and stderr as they arrived, then the texts it displayed, its value,
Airlock's notices and the traceback) is one text block; each PNG or JPEG it showed is an image
block; each file it wrote in /mnt/data is a resource link whose URI names the session and the
path (`airlock://SESSION/mnt/data/PATH`, read with resources/read or the read_file tool). A
failed cell is a tool error (`isError`), never a protocol error, so the model sees its traceback.
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from mcp_types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent

from sandbox import MOUNT_POINT, Execution, FileChange

from ..filetypes import mime_type

#: The URI template of a session's files; `path` is relative to /mnt/data.
FILE_URI_TEMPLATE = "airlock://{session}/mnt/data/{+path}"

#: Images a client can show, by the extension the sandbox saved them under.
IMAGE_MIME_TYPES = {".png": "image/png", ".jpg": "image/jpeg"}


def file_uri(session_id: str, path: str) -> str:
    """The resource URI of a workspace file (`path` absolute under /mnt/data or relative)."""
    relative = PurePosixPath(path)
    if relative.is_absolute():
        relative = relative.relative_to(MOUNT_POINT)
    return f"airlock://{session_id}{MOUNT_POINT}/{quote(str(relative), safe='/')}"


def file_link(session_id: str, path: str, size: int) -> ResourceLink:
    return ResourceLink(
        uri=file_uri(session_id, path), name=path, mime_type=mime_type(path), size=size
    )


def cell_text(execution: Execution, notice: str | None = None) -> str:
    """The cell's text output in order of kind: streams, displayed texts, value, notices,
    traceback."""
    parts: list[str] = []
    if notice:
        parts.append(notice)
    streams = "".join(chunk.text for chunk in execution.streams)
    if streams:
        parts.append(streams.rstrip("\n"))
    for display in execution.displays:
        if display.image_path is None and display.text and not display.is_result:
            parts.append(display.text)
    result = execution.result
    if result is not None and result.image_path is None and result.text:
        parts.append(result.text)
    parts.extend(execution.notices)
    if execution.error is not None:
        parts.append(execution.error.traceback or str(execution.error))
    return "\n".join(parts)


def cell_result(
    execution: Execution,
    session_id: str,
    notice: str | None = None,
) -> CallToolResult:
    content: list[ContentBlock] = []
    text = cell_text(execution, notice)
    files = execution.files
    if files:
        listing = "\n".join(
            f"{change.path} ({change.size} bytes, {change.status})" for change in files
        )
        text = f"{text}\n\nFiles written:\n{listing}" if text else f"Files written:\n{listing}"
    if execution.removed_files:
        text += "\nRemoved to keep the workspace under its cap: " + ", ".join(
            execution.removed_files
        )
    content.append(TextContent(text=text or "(no output)"))
    content.extend(_images(execution))
    content.extend(_links(session_id, files))
    return CallToolResult(content=content, is_error=execution.error is not None)


def _images(execution: Execution) -> list[ImageContent]:
    images: list[ImageContent] = []
    for path in execution.images:
        mime = IMAGE_MIME_TYPES.get(path.suffix)
        if mime is None:  # SVG: most clients cannot show it as an image
            continue
        images.append(ImageContent(data=_base64(path), mime_type=mime))
    return images


def _links(session_id: str, files: list[FileChange]) -> list[ResourceLink]:
    return [file_link(session_id, change.path, change.size) for change in files]


def _base64(path: Path) -> str:
    # A file Airlock itself wrote from the kernel's message (under the session's folder).
    return base64.b64encode(path.read_bytes()).decode("ascii")
