"""`/threads` and `/threads/{id}/messages`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from ..schemas import (
    Deleted,
    ListPage,
    Message,
    MessageCreate,
    MessageUpdate,
    Thread,
    ThreadCreate,
    ThreadUpdate,
)
from .common import EngineDep, Page, json_response

router = APIRouter(tags=["threads"])

# ------------------------------------------------------------------ threads


@router.post("/threads", response_model=Thread, summary="Create a thread")
def create_thread(
    engine: EngineDep, body: Annotated[ThreadCreate | None, Body()] = None
) -> Response:
    return json_response(engine.store.create_thread(body))


@router.get("/threads/{thread_id}", response_model=Thread, summary="Retrieve a thread")
def retrieve_thread(engine: EngineDep, thread_id: str) -> Response:
    return json_response(engine.store.get_thread(thread_id))


@router.post("/threads/{thread_id}", response_model=Thread, summary="Update a thread")
def update_thread(
    engine: EngineDep, thread_id: str, body: Annotated[ThreadUpdate | None, Body()] = None
) -> Response:
    return json_response(engine.store.update_thread(thread_id, body or ThreadUpdate()))


@router.delete(
    "/threads/{thread_id}",
    response_model=Deleted,
    summary="Delete a thread (and end its sandbox session)",
)
async def delete_thread(engine: EngineDep, thread_id: str) -> Response:
    return json_response(await engine.delete_thread(thread_id))


# ------------------------------------------------------------------ messages


@router.post("/threads/{thread_id}/messages", response_model=Message, summary="Create a message")
def create_message(engine: EngineDep, thread_id: str, body: MessageCreate) -> Response:
    return json_response(engine.store.create_message(thread_id, body))


@router.get(
    "/threads/{thread_id}/messages",
    response_model=ListPage[Message],
    summary="List a thread's messages",
)
def list_messages(
    engine: EngineDep,
    thread_id: str,
    page: Page,
    run_id: Annotated[str | None, Query(description="Only the messages this run created.")] = None,
) -> Response:
    return json_response(
        engine.store.list_messages(thread_id, run_id=run_id or None, **page.kwargs())
    )


@router.get(
    "/threads/{thread_id}/messages/{message_id}",
    response_model=Message,
    summary="Retrieve a message",
)
def retrieve_message(engine: EngineDep, thread_id: str, message_id: str) -> Response:
    return json_response(engine.store.get_message(thread_id, message_id))


@router.post(
    "/threads/{thread_id}/messages/{message_id}",
    response_model=Message,
    summary="Update a message's metadata",
)
def update_message(
    engine: EngineDep,
    thread_id: str,
    message_id: str,
    body: Annotated[MessageUpdate | None, Body()] = None,
) -> Response:
    return json_response(
        engine.store.update_message(thread_id, message_id, body or MessageUpdate())
    )


@router.delete(
    "/threads/{thread_id}/messages/{message_id}", response_model=Deleted, summary="Delete a message"
)
def delete_message(engine: EngineDep, thread_id: str, message_id: str) -> Response:
    return json_response(engine.store.delete_message(thread_id, message_id))
