"""`/threads/{id}/runs`, `/threads/runs` and run steps.

Creating a run answers the queued Run at once (the SDK's pollers then GET it, told by
`openai-poll-after-ms` how often), or with `"stream": true` the run's events as SSE.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from ..core import Engine
from ..schemas import ListPage, Model, Run, RunCreate, RunStep, ThreadAndRunCreate
from ..schemas.base import MetadataInput
from .common import EngineDep, Include, Page, json_response, run_headers
from .errors import APIError
from .openapi import RUN_ERROR_RESPONSES
from .streaming import SSE_RESPONSES, sse_response

router = APIRouter(tags=["runs"])


class ToolOutput(Model):
    tool_call_id: str | None = None
    output: str | None = None


class SubmitToolOutputsBody(Model):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


class RunUpdate(Model):
    """The body of POST /threads/{id}/runs/{rid}: only `metadata` can change."""

    metadata: MetadataInput | None = None


@router.post(
    "/threads/{thread_id}/runs",
    response_model=Run,
    responses={**SSE_RESPONSES, **RUN_ERROR_RESPONSES},
    summary="Create a run (optionally streamed)",
)
async def create_run(
    engine: EngineDep, thread_id: str, body: RunCreate, include: Include = None
) -> Response:
    # 429 before anything is stored when the thread would need a session and none is free.
    engine.sessions.admit(engine.session_key(thread_id)[0])
    handle = await engine.create_run(thread_id, body)
    if body.stream:
        return sse_response(handle)
    return json_response(handle.run, headers=run_headers())


@router.post(
    "/threads/runs",
    response_model=Run,
    responses={**SSE_RESPONSES, **RUN_ERROR_RESPONSES},
    summary="Create a thread and run it (optionally streamed)",
)
async def create_thread_and_run(engine: EngineDep, body: ThreadAndRunCreate) -> Response:
    engine.sessions.admit("")  # a new thread: it needs a session of its own
    _thread, handle = await engine.create_thread_and_run(body)
    if body.stream:
        return sse_response(handle)
    return json_response(handle.run, headers=run_headers())


@router.get("/threads/{thread_id}/runs", response_model=ListPage[Run], summary="List runs")
def list_runs(engine: EngineDep, thread_id: str, page: Page) -> Response:
    return json_response(engine.store.list_runs(thread_id, **page.kwargs()))


@router.get("/threads/{thread_id}/runs/{run_id}", response_model=Run, summary="Retrieve a run")
def retrieve_run(engine: EngineDep, thread_id: str, run_id: str) -> Response:
    return json_response(engine.store.get_run(thread_id, run_id), headers=run_headers())


@router.post(
    "/threads/{thread_id}/runs/{run_id}", response_model=Run, summary="Update a run's metadata"
)
async def update_run(engine: EngineDep, thread_id: str, run_id: str, body: RunUpdate) -> Response:
    run = await asyncio.to_thread(_update_run_metadata, engine, thread_id, run_id, body)
    return json_response(run, headers=run_headers())


def _update_run_metadata(engine: Engine, thread_id: str, run_id: str, body: RunUpdate) -> Run:
    if "metadata" not in body.model_fields_set:
        return engine.store.get_run(thread_id, run_id)
    # The run loop never writes metadata, so an update holds even while the run is going.
    return engine.store.update_run_metadata(thread_id, run_id, body.metadata)


@router.post(
    "/threads/{thread_id}/runs/{run_id}/cancel", response_model=Run, summary="Cancel a run"
)
async def cancel_run(engine: EngineDep, thread_id: str, run_id: str) -> Response:
    return json_response(await engine.cancel_run(thread_id, run_id), headers=run_headers())


@router.post(
    "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
    response_model=Run,
    responses=SSE_RESPONSES,
    summary="Submit function tool outputs",
)
def submit_tool_outputs(
    engine: EngineDep, thread_id: str, run_id: str, body: SubmitToolOutputsBody
) -> Response:
    """Only function tools pause a run for outputs, and the run loop has none: every run
    refuses them, as the hosted service refused a run not in `requires_action`."""
    run = engine.store.get_run(thread_id, run_id)
    raise APIError(
        400, f'Runs in status "{run.status}" do not accept tool outputs.', param="tool_outputs"
    )


@router.get(
    "/threads/{thread_id}/runs/{run_id}/steps",
    response_model=ListPage[RunStep],
    summary="List a run's steps",
)
def list_run_steps(
    engine: EngineDep, thread_id: str, run_id: str, page: Page, include: Include = None
) -> Response:
    return json_response(engine.store.list_run_steps(thread_id, run_id, **page.kwargs()))


@router.get(
    "/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
    response_model=RunStep,
    summary="Retrieve a run step",
)
def retrieve_run_step(
    engine: EngineDep, thread_id: str, run_id: str, step_id: str, include: Include = None
) -> Response:
    return json_response(engine.store.get_run_step(thread_id, run_id, step_id))
