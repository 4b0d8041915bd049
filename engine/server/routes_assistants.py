"""`/assistants`: create, list, retrieve, update, delete."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ..schemas import Assistant, AssistantCreate, AssistantUpdate, Deleted, ListPage
from .common import EngineDep, Page, json_response

router = APIRouter(tags=["assistants"])


@router.post("/assistants", response_model=Assistant, summary="Create an assistant")
def create_assistant(engine: EngineDep, body: AssistantCreate) -> Response:
    return json_response(engine.store.create_assistant(body))


@router.get("/assistants", response_model=ListPage[Assistant], summary="List assistants")
def list_assistants(engine: EngineDep, page: Page) -> Response:
    return json_response(engine.store.list_assistants(**page.kwargs()))


@router.get("/assistants/{assistant_id}", response_model=Assistant, summary="Retrieve an assistant")
def retrieve_assistant(engine: EngineDep, assistant_id: str) -> Response:
    return json_response(engine.store.get_assistant(assistant_id))


@router.post(
    "/assistants/{assistant_id}",
    response_model=Assistant,
    summary="Update an assistant (only the keys sent)",
)
def update_assistant(engine: EngineDep, assistant_id: str, body: AssistantUpdate) -> Response:
    return json_response(engine.store.update_assistant(assistant_id, body))


@router.delete("/assistants/{assistant_id}", response_model=Deleted, summary="Delete an assistant")
def delete_assistant(engine: EngineDep, assistant_id: str) -> Response:
    return json_response(engine.store.delete_assistant(assistant_id))
