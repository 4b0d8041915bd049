"""A Responses call is an Assistants run on a hidden thread, in a container's session.

`create` finds the container (the one named, the previous response's when it still runs, or a
new one), the thread (new, or the previous response's, so the conversation and the kernel carry
over), adds the input as messages, binds the thread to the container and starts a run with the
call's instructions and model on a hidden assistant. The `responses` table maps the response to
that run; everything else is derived from the run when asked (`build`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import PurePosixPath
from typing import Any

from sandbox import MOUNT_POINT

from ..engine import Engine, RunHandle
from ..schemas import (
    CodeInterpreterToolCall,
    Deleted,
    ImageOutput,
    ListPage,
    MessageCreate,
    RunCreate,
    ThreadCreate,
    ToolCallsStepDetails,
)
from ..store import InvalidRequestError, NotFoundError
from ..store.responses import ResponsesStore
from .build import ResponseBuilder
from .containers import ContainerService
from .schemas import (
    INCLUDE_OUTPUTS,
    CodeInterpreterToolParam,
    Container,
    ContainerCreate,
    InputItem,
    InputItemContent,
    InputMessage,
    Response,
    ResponseCreate,
    ResponseRecord,
)

log = logging.getLogger(__name__)

#: Where an engine keeps its service: in the engine's own attributes, so the two go together
#: (a registry beside them would keep every engine ever served alive).
_ATTRIBUTE = "_airlock_responses_service"


class ResponsesService:
    """One per engine (`for_engine`); its container sweep runs on the loop that made it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.db = ResponsesStore(engine.store)
        self.containers = ContainerService(engine, self.db)
        #: response id -> the task that settles it once its run has ended
        self._settling: dict[str, asyncio.Task[None]] = {}
        self._reaper: asyncio.Task[None] | None = None
        #: The loop the service's runs and sessions live on (set by the first call on one).
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_engine(cls, engine: Engine) -> ResponsesService:
        service = vars(engine).get(_ATTRIBUTE)
        if not isinstance(service, ResponsesService):
            service = cls(engine)
            setattr(engine, _ATTRIBUTE, service)
        service.start_sweep()
        return service

    def start_sweep(self) -> None:
        if self._reaper is None or self._reaper.done():
            with contextlib.suppress(RuntimeError):  # no running loop: lazy checks only
                self.loop = asyncio.get_running_loop()
                self._reaper = self.loop.create_task(
                    self.containers.reap_forever(), name="airlock container expiry"
                )

    def builder(self, base_url: str, include: list[str] | None) -> ResponseBuilder:
        return ResponseBuilder(
            self.containers, base_url=base_url, include_outputs=INCLUDE_OUTPUTS in (include or [])
        )

    # ------------------------------------------------------------ create

    async def create(self, body: ResponseCreate) -> tuple[ResponseRecord, RunHandle]:
        store = self.engine.store
        previous = None
        if body.previous_response_id:
            previous = await asyncio.to_thread(self.db.get_response, body.previous_response_id)
        tool = body.code_tool()
        container = None
        if tool is not None:
            container = await self._container_for(tool, previous)
        if previous is not None:
            thread_id = previous.thread_id
        else:
            thread_id = (
                await asyncio.to_thread(
                    store.create_thread, ThreadCreate(metadata={"airlock": "responses"})
                )
            ).id
        instructions, messages = _split_input(body)
        message_ids = []
        for message in messages:
            created = await asyncio.to_thread(store.create_message, thread_id, message)
            message_ids.append(created.id)
        model = body.model or self.engine.models.default_name
        assistant_id = await asyncio.to_thread(self.db.hidden_assistant, model)
        if container is not None:
            self.containers.bind(thread_id, container)
            await self.containers.session(container)
            container = await self.containers.touch(container)
            note = await asyncio.to_thread(self._files_note, container)
            instructions = "\n\n".join(filter(None, [instructions, note])) or None
        run_body = RunCreate.model_validate(
            {
                "assistant_id": assistant_id,
                "model": model,
                "instructions": instructions,
                "tools": [{"type": "code_interpreter"}] if tool is not None else [],
                "metadata": body.metadata,
                "temperature": body.temperature,
                "top_p": body.top_p,
                "max_completion_tokens": body.max_output_tokens,
                "tool_choice": _tool_choice(body.tool_choice),
                "parallel_tool_calls": body.parallel_tool_calls,
            }
        )
        handle = await self.engine.create_run(thread_id, run_body)
        record = ResponseRecord(
            thread_id=thread_id,
            run_id=handle.run.id,
            assistant_id=assistant_id,
            container_id=container.id if container else None,
            input_message_ids=message_ids,
            request=body,
        )
        record = await asyncio.to_thread(self.db.add_response, record)
        task = asyncio.create_task(self._settle(record, handle), name=f"settle {record.id}")
        self._settling[record.id] = task
        task.add_done_callback(lambda _t: self._settling.pop(record.id, None))
        return record, handle

    async def _container_for(
        self, tool: CodeInterpreterToolParam, previous: ResponseRecord | None
    ) -> Container:
        if isinstance(tool.container, str):
            return await self.containers.require_running(tool.container)
        auto = tool.container
        if previous is not None and previous.container_id is not None:
            try:
                reused = await self.containers.get(previous.container_id)
            except NotFoundError:
                reused = None
            if reused is not None and reused.status == "running":
                held = {
                    r.file_id for r in await asyncio.to_thread(self.db.container_files, reused.id)
                }
                for file_id in auto.file_ids or []:
                    if file_id not in held:
                        await self.containers.add_store_file(reused.id, file_id)
                return reused
        return await self.containers.create(
            ContainerCreate(
                name="Responses API container",
                file_ids=auto.file_ids,
                memory_limit=auto.memory_limit,
                network_policy=auto.network_policy,
            )
        )

    def _files_note(self, container: Container) -> str:
        records = [r for r in self.db.container_files(container.id) if r.in_workspace]
        if not records:
            return ""
        listing = "\n".join(f"- {r.path} ({r.bytes} bytes)" for r in records)
        return f"Files in the container's /mnt/data:\n{listing}"

    async def _settle(self, record: ResponseRecord, handle: RunHandle) -> None:
        """Once the run has ended: its files become container files, the container active."""
        await handle.wait()
        if record.container_id is None:
            return
        try:
            await asyncio.to_thread(
                self._record_generated, record, handle.generated_file_ids, handle.generated_paths
            )
            container = await asyncio.to_thread(self.db.get_container, record.container_id)
            await self.containers.touch(container)
        except NotFoundError:
            pass  # the container was deleted meanwhile

    def _record_generated(
        self, record: ResponseRecord, file_ids: list[str], paths: dict[str, str]
    ) -> None:
        assert record.container_id is not None
        shown: set[str] = set()
        for step in self.engine.store.list_run_steps(
            record.thread_id, record.run_id, limit=100
        ).data:
            if not isinstance(step.step_details, ToolCallsStepDetails):
                continue
            for call in step.step_details.tool_calls:
                if isinstance(call, CodeInterpreterToolCall):
                    shown.update(
                        output.image.file_id
                        for output in call.code_interpreter.outputs
                        if isinstance(output, ImageOutput)
                    )
        written_at = {file: path for path, file in paths.items()}
        for file_id in file_ids:
            try:
                name = self.engine.store.get_file(file_id).filename
            except NotFoundError:
                continue
            in_workspace = file_id not in shown
            path = written_at.get(file_id) or (
                str(MOUNT_POINT / PurePosixPath(name).name) if in_workspace else None
            )
            self.containers.record_generated(
                record.container_id, file_id, path, in_workspace=in_workspace
            )

    async def settled(self, response_id: str) -> None:
        """Wait until the response's run has ended and its files are recorded."""
        task = self._settling.get(response_id)
        if task is not None:
            await asyncio.shield(task)

    # ------------------------------------------------------------ the rest

    async def get(self, response_id: str) -> ResponseRecord:
        return await asyncio.to_thread(self.db.get_response, response_id)

    async def response(self, record: ResponseRecord, builder: ResponseBuilder) -> Response:
        return await asyncio.to_thread(builder.response, record)

    async def cancel(self, response_id: str) -> ResponseRecord:
        record = await self.get(response_id)
        run = await asyncio.to_thread(self.engine.store.get_run, record.thread_id, record.run_id)
        if not record.request.background:
            raise InvalidRequestError("Only background responses can be cancelled.")
        if run.is_active:
            await self.engine.cancel_run(record.thread_id, record.run_id)
            await self.settled(response_id)
        return record

    async def delete(self, response_id: str) -> Deleted:
        await asyncio.to_thread(self.db.delete_response, response_id)
        return Deleted(id=response_id, object="response.deleted")

    async def input_items(
        self, response_id: str, *, limit: int, order: str, after: str | None, before: str | None
    ) -> ListPage[InputItem]:
        record = await self.get(response_id)
        items = []
        for message_id in record.input_message_ids:
            message = await asyncio.to_thread(
                self.engine.store.get_message, record.thread_id, message_id
            )
            items.append(
                InputItem(
                    id=message.id, role=message.role, content=[InputItemContent(text=message.text)]
                )
            )
        ids = [item.id for item in items]
        for cursor, name in ((after, "after"), (before, "before")):
            if cursor is not None and cursor not in ids:
                raise InvalidRequestError(
                    f"`{name}` names no item of this list: '{cursor}'", param=name
                )
        if order == "desc":
            items.reverse()
            ids.reverse()
        if after is not None:
            items = items[ids.index(after) + 1 :]
        if before is not None:
            cut = [item.id for item in items].index(before)
            items = items[:cut][-limit:]
            return ListPage[InputItem].of(items, cut > limit)
        return ListPage[InputItem].of(items[:limit], len(items) > limit)


def _split_input(body: ResponseCreate) -> tuple[str | None, list[MessageCreate]]:
    """(instructions, messages): system and developer messages join the instructions."""
    instructions = [body.instructions] if body.instructions else []
    messages: list[MessageCreate] = []
    items: list[InputMessage]
    if body.input is None:
        items = []
    elif isinstance(body.input, str):
        items = [InputMessage(role="user", content=body.input)]
    else:
        items = body.input
    for item in items:
        if item.role == "user" or item.role == "assistant":
            messages.append(MessageCreate(role=item.role, content=item.text))
        else:
            instructions.append(item.text)
    return "\n\n".join(instructions) or None, messages


def _tool_choice(choice: Any) -> Any:
    if choice in (None, "none", "auto", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "code_interpreter":
        return {"type": "code_interpreter"}
    return "auto"
