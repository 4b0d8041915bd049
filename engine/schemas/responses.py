"""The Responses API's objects (Response, output items, usage), containers and container files,
the request bodies, and the records the store keeps for them.

Every key the SDK's types require is a field that `model_dump()` always emits (`None` where
allowed): the SDK fills nothing in. Records (`*Record`) carry what only the server needs (which
thread and run a response is, where a container file's bytes lie); `public()` gives the object.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .base import Metadata, MetadataInput, Model, PositiveInt, Temperature, TopP, now
from .ids import new_id

MemoryLimit = Literal["1g", "4g", "16g", "64g"]
#: Megabytes of kernel memory per `memory_limit`.
MEMORY_MB: dict[str, int] = {"1g": 1024, "4g": 4096, "16g": 16384, "64g": 65536}
DEFAULT_MEMORY_LIMIT: MemoryLimit = "1g"
#: The hosted default: a container expires after 20 idle minutes.
DEFAULT_EXPIRY_MINUTES = 20
#: `include` value that fills `code_interpreter_call.outputs`.
INCLUDE_OUTPUTS = "code_interpreter_call.outputs"

ResponseStatus = Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]
CallStatus = Literal["in_progress", "interpreting", "completed", "incomplete", "failed"]


# ---------------------------------------------------------------- containers


class ExpiresAfter(Model):
    anchor: Literal["last_active_at"] = "last_active_at"
    minutes: Annotated[int, Field(ge=1, le=10080)]


class NetworkPolicy(Model):
    """Accepted as asked; the sandbox has no network either way."""

    type: Literal["disabled", "allowlist"] = "disabled"
    allowed_domains: list[str] | None = None


class ContainerCreate(Model):
    """The body of POST /containers."""

    name: str
    file_ids: list[str] | None = None
    expires_after: ExpiresAfter | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: NetworkPolicy | None = None


class Container(Model):
    id: str = Field(default_factory=lambda: new_id("cntr_"))
    object: Literal["container"] = "container"
    name: str
    created_at: int = Field(default_factory=now)
    status: Literal["running", "expired"] = "running"
    last_active_at: int = Field(default_factory=now)
    expires_after: ExpiresAfter = Field(
        default_factory=lambda: ExpiresAfter(minutes=DEFAULT_EXPIRY_MINUTES)
    )
    memory_limit: MemoryLimit = DEFAULT_MEMORY_LIMIT
    network_policy: NetworkPolicy = Field(default_factory=NetworkPolicy)

    def expired_at(self, when: float) -> bool:
        return when >= self.last_active_at + 60 * self.expires_after.minutes


class ContainerFile(Model):
    id: str
    object: Literal["container.file"] = "container.file"
    container_id: str
    created_at: int
    bytes: int
    path: str
    source: Literal["user", "assistant"]


class ContainerFileRecord(Model):
    """A container file and where its bytes can be read when the workspace has lost them."""

    id: str = Field(default_factory=lambda: new_id("cfile_"))
    container_id: str
    created_at: int = Field(default_factory=now)
    bytes: int
    path: str
    source: Literal["user", "assistant"]
    #: The store's File holding a copy (an upload copied in, or a file the code produced).
    file_id: str | None = None
    #: A copy kept beside the store under this record's id (a multipart upload).
    stored_copy: bool = False
    #: False for images a cell showed: they never lived in /mnt/data.
    in_workspace: bool = True

    def public(self) -> ContainerFile:
        return ContainerFile(
            id=self.id,
            container_id=self.container_id,
            created_at=self.created_at,
            bytes=self.bytes,
            path=self.path,
            source=self.source,
        )

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class ContainerFileCreate(Model):
    """The JSON body of POST /containers/{id}/files (multipart `file` is the other form)."""

    file_id: str


# ---------------------------------------------------------------- requests


class ContainerAuto(Model):
    type: Literal["auto"] = "auto"
    file_ids: list[str] | None = Field(default=None, max_length=50)
    memory_limit: MemoryLimit | None = None
    network_policy: NetworkPolicy | None = None


class CodeInterpreterToolParam(Model):
    type: Literal["code_interpreter"]
    container: str | ContainerAuto


class InputText(Model):
    type: Literal["input_text", "output_text", "text"] = "input_text"
    text: str


class InputMessage(Model):
    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[InputText]

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)


class ResponseCreate(Model):
    """The body of POST /responses; keys this engine cannot honour are accepted and echoed."""

    model: str | None = None
    input: str | list[InputMessage] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    include: list[str] | None = None
    previous_response_id: str | None = None
    stream: bool | None = None
    background: bool | None = None
    store: bool | None = None
    metadata: MetadataInput | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_output_tokens: PositiveInt | None = None
    max_tool_calls: PositiveInt | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    user: str | None = None
    reasoning: dict[str, Any] | None = None

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for tool in tools or []:
            if not isinstance(tool, dict) or tool.get("type") != "code_interpreter":
                kind = tool.get("type") if isinstance(tool, dict) else tool
                raise ValueError(f"only the code_interpreter tool is available here, not {kind!r}")
            CodeInterpreterToolParam.model_validate(tool)
        return tools

    def code_tool(self) -> CodeInterpreterToolParam | None:
        for tool in self.tools or []:
            return CodeInterpreterToolParam.model_validate(tool)
        return None


# ---------------------------------------------------------------- the Response


class OutputLogs(Model):
    type: Literal["logs"] = "logs"
    logs: str


class OutputImage(Model):
    type: Literal["image"] = "image"
    url: str


CallOutput = Annotated[OutputLogs | OutputImage, Field(discriminator="type")]


class CodeInterpreterCallItem(Model):
    type: Literal["code_interpreter_call"] = "code_interpreter_call"
    id: str
    status: CallStatus
    container_id: str
    code: str | None
    outputs: list[CallOutput] | None


class ContainerFileCitation(Model):
    type: Literal["container_file_citation"] = "container_file_citation"
    container_id: str
    file_id: str
    filename: str
    start_index: int
    end_index: int


class OutputText(Model):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[ContainerFileCitation] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class MessageItem(Model):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


OutputItem = Annotated[CodeInterpreterCallItem | MessageItem, Field(discriminator="type")]


class InputTokensDetails(Model):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(Model):
    reasoning_tokens: int = 0


class ResponseUsage(Model):
    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class ResponseError(Model):
    code: str
    message: str


class IncompleteDetails(Model):
    reason: str


class Response(Model):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    completed_at: int | None = None
    background: bool = False
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] = Field(default_factory=lambda: {"effort": None, "summary": None})
    service_tier: str = "default"
    store: bool = True
    temperature: float | None = 1.0
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: Any = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    top_p: float | None = 1.0
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: Metadata = Field(default_factory=dict)


class ResponseRecord(Model):
    """A response as stored: the run under it, and the request as the client sent it."""

    id: str = Field(default_factory=lambda: new_id("resp_"))
    created_at: int = Field(default_factory=now)
    thread_id: str
    run_id: str
    assistant_id: str
    container_id: str | None = None
    #: The user messages this call added to the thread (its input items).
    input_message_ids: list[str] = Field(default_factory=list)
    request: ResponseCreate


class InputItemContent(Model):
    type: Literal["input_text"] = "input_text"
    text: str


class InputItem(Model):
    """An item of GET /responses/{id}/input_items."""

    type: Literal["message"] = "message"
    id: str
    role: Literal["user", "assistant", "system", "developer"]
    status: Literal["completed"] = "completed"
    content: list[InputItemContent]
