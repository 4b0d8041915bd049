"""The Response object, derived from the run under it: its steps and messages are the record.

Each code call of a `tool_calls` step is a `code_interpreter_call` item (id `ci_` + the step's
id, so the stream and the stored object name it alike), each `message_creation` step a
`message` item (the message's id) whose `sandbox:/mnt/data/...` links carry
`container_file_citation` annotations. Images are URLs this server serves
(`/v1/containers/{id}/files/{cfile}/content`). Synchronous: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from ..schemas import (
    CodeInterpreterToolCall,
    FilePathAnnotation,
    ImageOutput,
    Message,
    MessageCreationStepDetails,
    Run,
    RunStep,
    TextContent,
    ToolCallsStepDetails,
)
from ..store import NotFoundError
from .containers import ContainerService
from .schemas import (
    CallOutput,
    CallStatus,
    CodeInterpreterCallItem,
    ContainerFileCitation,
    IncompleteDetails,
    MessageItem,
    OutputImage,
    OutputItem,
    OutputLogs,
    OutputText,
    Response,
    ResponseError,
    ResponseRecord,
    ResponseStatus,
    ResponseUsage,
)

_CALL_STATUS: dict[str, CallStatus] = {
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "incomplete",
    "expired": "incomplete",
}
_RESPONSE_STATUS: dict[str, ResponseStatus] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "requires_action": "in_progress",
    "cancelling": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "incomplete": "incomplete",
    "expired": "failed",
}
#: The run loop's reasons to stop early, as a Response names them.
_INCOMPLETE_REASON = {
    "max_completion_tokens": "max_output_tokens",
    "max_prompt_tokens": "max_output_tokens",
    "max_run_tokens": "max_output_tokens",
}


def call_item_id(step_id: str) -> str:
    return "ci_" + step_id.removeprefix("step_")


class ResponseBuilder:
    def __init__(
        self, containers: ContainerService, *, base_url: str, include_outputs: bool
    ) -> None:
        self.containers = containers
        self.store = containers.engine.store
        #: e.g. `http://127.0.0.1:8000/v1`
        self.base_url = base_url.rstrip("/")
        self.include_outputs = include_outputs

    # ------------------------------------------------------------ items

    def step_items(self, step: RunStep, container_id: str | None) -> list[OutputItem]:
        details = step.step_details
        if isinstance(details, MessageCreationStepDetails):
            message = self.store.get_message(step.thread_id, details.message_creation.message_id)
            return [self.message_item(message, container_id)]
        assert isinstance(details, ToolCallsStepDetails)
        if not details.tool_calls:
            # The loop stores the call when its cell has run; until then only the step is known.
            return [
                CodeInterpreterCallItem(
                    id=call_item_id(step.id),
                    status=_CALL_STATUS[step.status],
                    container_id=container_id or "",
                    code=None,
                    outputs=[] if self.include_outputs else None,
                )
            ]
        return [
            self.call_item(step, call, container_id or "")
            for call in details.tool_calls
            if isinstance(call, CodeInterpreterToolCall)
        ]

    def call_item(
        self, step: RunStep, call: CodeInterpreterToolCall, container_id: str
    ) -> CodeInterpreterCallItem:
        outputs: list[CallOutput] | None = None
        if self.include_outputs:
            outputs = []
            for output in call.code_interpreter.outputs:
                if isinstance(output, ImageOutput):
                    outputs.append(
                        OutputImage(url=self.image_url(container_id, output.image.file_id))
                    )
                else:
                    outputs.append(OutputLogs(logs=output.logs))
        return CodeInterpreterCallItem(
            id=call_item_id(step.id),
            status=_CALL_STATUS[step.status],
            container_id=container_id,
            code=call.code_interpreter.input,
            outputs=outputs,
        )

    def image_url(self, container_id: str, file_id: str) -> str:
        try:
            record = self.containers.record_generated(
                container_id, file_id, None, in_workspace=False
            )
        except NotFoundError:  # no container (deleted since): the stored file itself
            return f"{self.base_url}/files/{file_id}/content"
        return f"{self.base_url}/containers/{container_id}/files/{record.id}/content"

    def message_item(self, message: Message, container_id: str | None) -> MessageItem:
        parts = [
            OutputText(
                text=block.text.value,
                annotations=self.citations(block.text.annotations, container_id),
            )
            for block in message.content
            if isinstance(block, TextContent)
        ]
        return MessageItem(
            id=message.id, status=message.status, content=parts or [OutputText(text="")]
        )

    def citations(
        self, annotations: Sequence[object], container_id: str | None
    ) -> list[ContainerFileCitation]:
        if not container_id:
            return []
        cited = []
        for annotation in annotations:
            if not isinstance(annotation, FilePathAnnotation):
                continue
            path = unquote(annotation.text.removeprefix("sandbox:"))
            try:
                record = self.containers.record_generated(
                    container_id, annotation.file_path.file_id, path, in_workspace=True
                )
            except NotFoundError:  # the container or the file was deleted since
                continue
            cited.append(
                ContainerFileCitation(
                    container_id=container_id,
                    file_id=record.id,
                    filename=record.filename,
                    start_index=annotation.start_index,
                    end_index=annotation.end_index,
                )
            )
        return cited

    # ------------------------------------------------------------ the response

    def items(self, record: ResponseRecord) -> list[OutputItem]:
        items: list[OutputItem] = []
        after: str | None = None
        while True:
            page = self.store.list_run_steps(
                record.thread_id, record.run_id, order="asc", limit=100, after=after
            )
            for step in page.data:
                items.extend(self.step_items(step, record.container_id))
            if not page.has_more:
                return items
            after = page.last_id

    def response(
        self, record: ResponseRecord, run: Run | None = None, output: list[OutputItem] | None = None
    ) -> Response:
        """The Response as it stands; `output` defaults to what the steps say now."""
        if run is None:
            run = self.store.get_run(record.thread_id, record.run_id)
        if output is None:
            output = self.items(record)
        return assemble(record, run, output)


def assemble(record: ResponseRecord, run: Run, output: list[OutputItem]) -> Response:
    request = record.request
    status = _RESPONSE_STATUS[run.status]
    error = None
    if run.last_error is not None:
        error = ResponseError(code=run.last_error.code, message=run.last_error.message)
    elif run.status == "expired":
        error = ResponseError(code="server_error", message="The response ran out of time.")
    incomplete = None
    if run.status == "incomplete":
        reason = run.incomplete_details.reason if run.incomplete_details else "max_output_tokens"
        incomplete = IncompleteDetails(reason=_INCOMPLETE_REASON.get(reason, reason))
    usage = None
    if run.usage is not None and status not in ("queued", "in_progress"):
        usage = ResponseUsage(
            input_tokens=run.usage.prompt_tokens,
            output_tokens=run.usage.completion_tokens,
            total_tokens=run.usage.total_tokens,
        )
    ended = run.completed_at or run.failed_at or run.cancelled_at
    return Response(
        id=record.id,
        created_at=record.created_at,
        status=status,
        completed_at=ended if status not in ("queued", "in_progress") else None,
        background=bool(request.background),
        error=error,
        incomplete_details=incomplete,
        instructions=request.instructions,
        max_output_tokens=request.max_output_tokens,
        max_tool_calls=request.max_tool_calls,
        model=request.model or run.model,
        output=output,
        parallel_tool_calls=run.parallel_tool_calls,
        previous_response_id=request.previous_response_id,
        reasoning=request.reasoning or {"effort": None, "summary": None},
        store=request.store is not False,
        temperature=run.temperature,
        text=request.text or {"format": {"type": "text"}},
        tool_choice=request.tool_choice if request.tool_choice is not None else "auto",
        tools=request.tools or [],
        top_p=run.top_p,
        truncation=request.truncation or "disabled",
        usage=usage,
        user=request.user,
        metadata=request.metadata or {},
    )
