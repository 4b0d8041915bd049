"""`/responses`: the Responses API (Code Interpreter subset) over the engine's runs.

Creating a response answers once its run has ended (the hosted behaviour), at once with
`background: true`, or with `stream: true` as Responses stream events (`response.created` ...
`response.completed`, each with its `sequence_number`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..responses.schemas import InputItem, ResponseCreate
from ..responses.schemas import Response as ResponseObject
from ..responses.service import ResponsesService
from ..responses.translate import StreamTranslator
from ..schemas import Deleted, ListPage
from .common import EngineDep, Page, json_response
from .streaming import SSE_HEADERS, SSE_RESPONSES

router = APIRouter(tags=["responses"])


async def get_service(engine: EngineDep) -> ResponsesService:
    # async: the service's container sweep starts on the server's own loop
    return ResponsesService.for_engine(engine)


ServiceDep = Annotated[ResponsesService, Depends(get_service)]

IncludeBrackets = Annotated[
    list[str] | None,
    Query(
        alias="include[]", description="`code_interpreter_call.outputs` fills the calls' outputs."
    ),
]
IncludePlain = Annotated[list[str] | None, Query(alias="include", include_in_schema=False)]


def api_base(request: Request) -> str:
    """Where this server's `/v1` routes are, for the image URLs it hands out."""
    return f"{str(request.base_url).rstrip('/')}/v1"


@router.post(
    "/responses",
    response_model=ResponseObject,
    responses=SSE_RESPONSES,
    summary="Create a response (optionally streamed)",
)
async def create_response(service: ServiceDep, request: Request, body: ResponseCreate) -> Response:
    record, handle = await service.create(body)
    builder = service.builder(api_base(request), body.include)
    if body.stream:
        translator = StreamTranslator(service, record, handle, builder)
        return StreamingResponse(
            translator.stream(), media_type="text/event-stream", headers=SSE_HEADERS
        )
    if not body.background:
        await service.settled(record.id)
    return json_response(await service.response(record, builder))


@router.get(
    "/responses/{response_id}", response_model=ResponseObject, summary="Retrieve a response"
)
async def retrieve_response(
    service: ServiceDep,
    request: Request,
    response_id: str,
    include: IncludeBrackets = None,
    include_plain: IncludePlain = None,
) -> Response:
    record = await service.get(response_id)
    builder = service.builder(api_base(request), [*(include or []), *(include_plain or [])])
    return json_response(await service.response(record, builder))


@router.delete("/responses/{response_id}", response_model=Deleted, summary="Delete a response")
async def delete_response(service: ServiceDep, response_id: str) -> Response:
    return json_response(await service.delete(response_id))


@router.post(
    "/responses/{response_id}/cancel",
    response_model=ResponseObject,
    summary="Cancel a background response",
)
async def cancel_response(service: ServiceDep, request: Request, response_id: str) -> Response:
    record = await service.cancel(response_id)
    builder = service.builder(api_base(request), record.request.include)
    return json_response(await service.response(record, builder))


@router.get(
    "/responses/{response_id}/input_items",
    response_model=ListPage[InputItem],
    summary="List a response's input items",
)
async def list_input_items(service: ServiceDep, response_id: str, page: Page) -> Response:
    return json_response(await service.input_items(response_id, **page.kwargs()))
