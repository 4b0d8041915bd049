"""`/files`: multipart upload streamed to the store, list, retrieve, delete, raw content.

An upload is spooled by the multipart parser (memory up to 1 MB, then a temporary file) and
handed to the store as a reader with its size, so it never sits whole in memory; a request whose
Content-Length already says it is too large is refused before any of it is spooled (`limits`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, BinaryIO, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, UploadFile
from fastapi import File as FilePart
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from ..schemas import Deleted, File, ListPage, UploadPurpose
from ..schemas.filetypes import mime_type
from ..store.files import refuse_control_characters
from .common import EngineDep, FilePage, json_response
from .errors import APIError
from .openapi import UPLOAD_ERROR_RESPONSES

router = APIRouter(tags=["files"])

#: Seconds `expires_after[seconds]` may say, as OpenAI allows: one hour to thirty days.
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
CHUNK = 1 << 16


@router.post(
    "/files", response_model=File, summary="Upload a file", responses=UPLOAD_ERROR_RESPONSES
)
async def upload_file(
    engine: EngineDep,
    file: Annotated[UploadFile, FilePart(description="The file (a part with a filename).")],
    purpose: Annotated[UploadPurpose, Form(description="What the file is for.")],
    expires_anchor: Annotated[
        Literal["created_at"] | None,
        Form(alias="expires_after[anchor]", description="Anchor of the expiry; only `created_at`."),
    ] = None,
    expires_seconds: Annotated[
        int | None,
        Form(
            alias="expires_after[seconds]",
            ge=MIN_EXPIRY_SECONDS,
            le=MAX_EXPIRY_SECONDS,
            description="Seconds after the anchor when the file is deleted.",
        ),
    ] = None,
) -> Response:
    if expires_anchor is not None and expires_seconds is None:
        raise APIError(
            400,
            "Missing required parameter: 'expires_after[seconds]'.",
            param="expires_after[seconds]",
        )
    try:
        refuse_control_characters(file.filename or "")
        stored = await asyncio.to_thread(
            engine.store.create_file,
            file.file,
            file.filename or "",
            purpose,
            size=file.size,
            expires_after_seconds=expires_seconds,
        )
    finally:
        await file.close()
    return json_response(stored)


@router.get("/files", response_model=ListPage[File], summary="List files")
def list_files(engine: EngineDep, page: FilePage, purpose: str | None = None) -> Response:
    return json_response(engine.store.list_files(purpose=purpose or None, **page.kwargs()))


@router.get("/files/{file_id}", response_model=File, summary="Retrieve a file")
def retrieve_file(engine: EngineDep, file_id: str) -> Response:
    return json_response(engine.store.get_file(file_id))


@router.delete("/files/{file_id}", response_model=Deleted, summary="Delete a file")
def delete_file(engine: EngineDep, file_id: str) -> Response:
    return json_response(engine.store.delete_file(file_id))


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


def _disposition(filename: str) -> str:
    """`attachment; filename=...`, with an RFC 5987 UTF-8 name beside a plain-ASCII one."""
    ascii_name = "".join(
        "_" if ord(char) < 0x20 or ord(char) == 0x7F else "'" if char == '"' else char
        for char in filename.encode("ascii", "replace").decode()
    )
    if ascii_name == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@router.get(
    "/files/{file_id}/content",
    summary="Retrieve a file's content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The raw bytes."}},
)
def file_content(engine: EngineDep, file_id: str) -> StreamingResponse:
    file = engine.store.get_file(file_id)
    reader = engine.store.open_file_content(file_id)
    return StreamingResponse(
        _chunks(reader),
        media_type=mime_type(file.filename),
        headers={
            "Content-Length": str(file.bytes),
            "Content-Disposition": _disposition(file.filename),
        },
        background=BackgroundTask(reader.close),
    )
