"""`/containers` and their files: sandbox sessions shared by the responses that use them.

A file goes in as a multipart `file` part or as JSON `{"file_id"}` (a stored file copied in);
its content comes back as raw bytes, read from the live workspace or from the kept copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from ..responses.containers import ContainerService
from ..schemas import Deleted, ListPage
from ..schemas.filetypes import mime_type
from ..schemas.responses import Container, ContainerCreate, ContainerFile, ContainerFileCreate
from .common import Page, json_response
from .errors import FILE_PART_WITHOUT_FILENAME, APIError
from .routes_files import _disposition
from .routes_responses import ServiceDep

router = APIRouter(tags=["containers"])
CHUNK = 1 << 16


async def get_containers(service: ServiceDep) -> ContainerService:
    return service.containers


ContainersDep = Annotated[ContainerService, Depends(get_containers)]


@router.post("/containers", response_model=Container, summary="Create a container")
async def create_container(containers: ContainersDep, body: ContainerCreate) -> Response:
    return json_response(await containers.create(body))


@router.get("/containers", response_model=ListPage[Container], summary="List containers")
async def list_containers(
    containers: ContainersDep, page: Page, name: str | None = None
) -> Response:
    listed = await asyncio.to_thread(
        containers.db.list_containers, name=name or None, **page.kwargs()
    )
    # Expiry is lazy: what the page shows is checked now.
    data = [await containers.get(c.id) for c in listed.data]
    return json_response(ListPage[Container].of(data, listed.has_more))


@router.get("/containers/{container_id}", response_model=Container, summary="Retrieve a container")
async def retrieve_container(containers: ContainersDep, container_id: str) -> Response:
    return json_response(await containers.get(container_id))


@router.delete("/containers/{container_id}", response_model=Deleted, summary="Delete a container")
async def delete_container(containers: ContainersDep, container_id: str) -> Response:
    return json_response(await containers.delete(container_id))


@router.post(
    "/containers/{container_id}/files",
    response_model=ContainerFile,
    summary="Put a file into a container (multipart `file`, or JSON `file_id`)",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"file_id": {"type": "string"}},
                        "required": ["file_id"],
                    }
                },
            }
        }
    },
)
async def create_container_file(
    containers: ContainersDep, container_id: str, request: Request
) -> Response:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        try:
            part = form.get("file")
            file_id = form.get("file_id")
            if isinstance(part, UploadFile):
                record = await containers.add_upload(
                    container_id, part.filename or "", part.file, size=part.size
                )
            elif isinstance(part, str):
                raise APIError(400, FILE_PART_WITHOUT_FILENAME, param="file")
            elif isinstance(file_id, str) and file_id:
                record = await containers.add_store_file(container_id, file_id)
            else:
                raise APIError(
                    400, "Missing required parameter: 'file' (or 'file_id').", param="file"
                )
        finally:
            await form.close()
        return json_response(record.public())
    body: Any = await _json(request)
    try:
        parsed = ContainerFileCreate.model_validate(body)
    except ValidationError as error:
        raise APIError(
            400, "Send a multipart `file` part or a JSON body with `file_id`.", param="file_id"
        ) from error
    record = await containers.add_store_file(container_id, parsed.file_id)
    return json_response(record.public())


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as error:
        raise APIError(400, "We could not parse the JSON body of your request.") from error


@router.get(
    "/containers/{container_id}/files",
    response_model=ListPage[ContainerFile],
    summary="List a container's files",
)
async def list_container_files(
    containers: ContainersDep, container_id: str, page: Page
) -> Response:
    await containers.get(container_id)
    listed = await asyncio.to_thread(containers.db.list_files, container_id, **page.kwargs())
    return json_response(
        ListPage[ContainerFile].of([r.public() for r in listed.data], listed.has_more)
    )


@router.get(
    "/containers/{container_id}/files/{file_id}",
    response_model=ContainerFile,
    summary="Retrieve a container file",
)
async def retrieve_container_file(
    containers: ContainersDep, container_id: str, file_id: str
) -> Response:
    await containers.get(container_id)
    record = await asyncio.to_thread(containers.db.get_file, container_id, file_id)
    return json_response(record.public())


@router.delete(
    "/containers/{container_id}/files/{file_id}",
    response_model=Deleted,
    summary="Delete a container file",
)
async def delete_container_file(
    containers: ContainersDep, container_id: str, file_id: str
) -> Response:
    return json_response(await containers.delete_file(container_id, file_id))


def _chunks(reader: BinaryIO) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk


@router.get(
    "/containers/{container_id}/files/{file_id}/content",
    summary="Retrieve a container file's content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The raw bytes."}},
)
async def container_file_content(
    containers: ContainersDep, container_id: str, file_id: str
) -> StreamingResponse:
    record, reader, size = await containers.open_content(container_id, file_id)
    return StreamingResponse(
        _chunks(reader),
        media_type=mime_type(record.filename),
        headers={"Content-Length": str(size), "Content-Disposition": _disposition(record.filename)},
        background=BackgroundTask(reader.close),
    )
