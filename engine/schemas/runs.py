"""The Run and RunStep objects (code_interpreter tool calls, message creation) and run bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .assistants import ResponseFormat, Tool, ToolResources
from .base import Metadata, MetadataInput, Model, PositiveInt, Temperature, TopP, now
from .ids import new_id
from .messages import MessageCreate, ThreadCreate

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
#: Statuses a run can leave; a thread with such a run takes no new run or user message.
ACTIVE_RUN_STATUSES: frozenset[str] = frozenset(
    {"queued", "in_progress", "requires_action", "cancelling"}
)
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset(
    {"cancelled", "failed", "completed", "incomplete", "expired"}
)
TERMINAL_STEP_STATUSES: frozenset[str] = frozenset({"cancelled", "failed", "completed", "expired"})
#: The hosted service expired a run about ten minutes after its creation.
RUN_EXPIRY_SECONDS = 600


class Usage(Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class LastError(Model):
    code: Literal["server_error", "rate_limit_exceeded", "invalid_prompt"]
    message: str


class RunIncompleteDetails(Model):
    # The spec names max_completion_tokens and max_prompt_tokens; the run loop's own limits
    # (code calls, failures, wall time) add reasons, which the SDK keeps as plain strings.
    reason: str


class FunctionCallRequest(Model):
    name: str
    arguments: str


class RequiredToolCall(Model):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallRequest


class SubmitToolOutputs(Model):
    tool_calls: list[RequiredToolCall]


class RequiredAction(Model):
    type: Literal["submit_tool_outputs"] = "submit_tool_outputs"
    submit_tool_outputs: SubmitToolOutputs


class TruncationStrategy(Model):
    type: Literal["auto", "last_messages"] = "auto"
    last_messages: PositiveInt | None = None


class ToolChoiceFunction(Model):
    name: str


class ToolChoiceObject(Model):
    type: Literal["code_interpreter", "file_search", "function"]
    function: ToolChoiceFunction | None = None


ToolChoice = Literal["none", "auto", "required"] | ToolChoiceObject


class Run(Model):
    id: str = Field(default_factory=lambda: new_id("run_"))
    object: Literal["thread.run"] = "thread.run"
    created_at: int = Field(default_factory=now)
    thread_id: str
    assistant_id: str
    status: RunStatus = "queued"
    required_action: RequiredAction | None = None
    last_error: LastError | None = None
    incomplete_details: RunIncompleteDetails | None = None
    expires_at: int | None = None
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    model: str
    instructions: str | None = None
    tools: list[Tool] = Field(default_factory=list)
    metadata: Metadata | None = Field(default_factory=dict)
    usage: Usage | None = None
    temperature: Temperature | None = 1.0
    top_p: TopP | None = 1.0
    max_prompt_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    truncation_strategy: TruncationStrategy | None = Field(default_factory=TruncationStrategy)
    tool_choice: ToolChoice | None = "auto"
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = "auto"
    reasoning_effort: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class RunCreate(Model):
    """The body of POST /threads/{id}/runs."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    additional_instructions: str | None = None
    additional_messages: list[MessageCreate] | None = None
    tools: list[Tool] | None = None
    metadata: MetadataInput | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    max_prompt_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None


class ThreadAndRunCreate(RunCreate):
    """The body of POST /threads/runs: a run body without `additional_*`, plus the thread."""

    thread: ThreadCreate | None = None
    tool_resources: ToolResources | None = None


# ---------------------------------------------------------------- run steps


class LogsOutput(Model):
    type: Literal["logs"] = "logs"
    logs: str


class ImageOutputFile(Model):
    file_id: str


class ImageOutput(Model):
    type: Literal["image"] = "image"
    image: ImageOutputFile


CodeInterpreterOutput = Annotated[LogsOutput | ImageOutput, Field(discriminator="type")]


class CodeInterpreterCall(Model):
    input: str
    outputs: list[CodeInterpreterOutput] = Field(default_factory=list)


class CodeInterpreterToolCall(Model):
    id: str = Field(default_factory=lambda: new_id("call_"))
    type: Literal["code_interpreter"] = "code_interpreter"
    code_interpreter: CodeInterpreterCall


class FunctionCall(Model):
    name: str
    arguments: str
    output: str | None = None


class FunctionToolCall(Model):
    id: str = Field(default_factory=lambda: new_id("call_"))
    type: Literal["function"] = "function"
    function: FunctionCall


class FileSearchToolCall(Model):
    id: str = Field(default_factory=lambda: new_id("call_"))
    type: Literal["file_search"] = "file_search"
    file_search: dict[str, Any] = Field(default_factory=dict)


ToolCall = Annotated[
    CodeInterpreterToolCall | FunctionToolCall | FileSearchToolCall, Field(discriminator="type")
]


class MessageCreationRef(Model):
    message_id: str


class MessageCreationStepDetails(Model):
    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreationRef


class ToolCallsStepDetails(Model):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall] = Field(default_factory=list)


StepDetails = Annotated[
    MessageCreationStepDetails | ToolCallsStepDetails, Field(discriminator="type")
]
RunStepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]


class StepLastError(Model):
    code: Literal["server_error", "rate_limit_exceeded"]
    message: str


class RunStep(Model):
    id: str = Field(default_factory=lambda: new_id("step_"))
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int = Field(default_factory=now)
    run_id: str
    assistant_id: str
    thread_id: str
    type: Literal["message_creation", "tool_calls"]
    status: RunStepStatus = "in_progress"
    cancelled_at: int | None = None
    completed_at: int | None = None
    expired_at: int | None = None
    failed_at: int | None = None
    last_error: StepLastError | None = None
    metadata: Metadata | None = None
    usage: Usage | None = None
    step_details: StepDetails
