"""Tools, tool resources, response formats and the Assistant object with its request bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from .base import Metadata, MetadataInput, Model, Temperature, TopP, file_id_list, now
from .ids import new_id


class CodeInterpreterTool(Model):
    type: Literal["code_interpreter"] = "code_interpreter"


class FileSearchTool(Model):
    type: Literal["file_search"] = "file_search"
    file_search: dict[str, Any] | None = None


class FunctionDefinition(Model):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(Model):
    type: Literal["function"] = "function"
    function: FunctionDefinition


Tool = Annotated[CodeInterpreterTool | FileSearchTool | FunctionTool, Field(discriminator="type")]


class CodeInterpreterResources(Model):
    file_ids: list[str] = Field(default_factory=list, max_length=20)


class FileSearchResources(Model):
    vector_store_ids: list[str] = Field(default_factory=list, max_length=1)


class ToolResources(Model):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None

    @property
    def code_interpreter_file_ids(self) -> list[str]:
        return list(self.code_interpreter.file_ids) if self.code_interpreter else []

    @classmethod
    def empty(cls) -> ToolResources:
        """What objects show when no resources were given, as in the spec's thread example."""
        return cls(code_interpreter=CodeInterpreterResources())


class AcceptsV1FileIds(Model):
    """Takes the v1 `file_ids` (Azure's guide) as `tool_resources.code_interpreter.file_ids`."""

    @model_validator(mode="before")
    @classmethod
    def _fold_file_ids(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("file_ids") is None:
            return data
        data = dict(data)
        file_ids = file_id_list(data.pop("file_ids"))
        resources = data.get("tool_resources")
        if isinstance(resources, ToolResources):
            resources = resources.model_dump()
        resources = dict(resources) if isinstance(resources, dict) else {}
        ci = dict(resources.get("code_interpreter") or {})
        ci["file_ids"] = list(dict.fromkeys([*(ci.get("file_ids") or []), *file_ids]))
        resources["code_interpreter"] = ci
        data["tool_resources"] = resources
        return data


class ResponseFormatText(Model):
    type: Literal["text"] = "text"


class ResponseFormatJsonObject(Model):
    type: Literal["json_object"] = "json_object"


class JsonSchemaFormat(Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)

    name: str
    description: str | None = None
    # `schema` would shadow BaseModel.schema.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormatJsonSchema(Model):
    type: Literal["json_schema"] = "json_schema"
    json_schema: JsonSchemaFormat


ResponseFormat = (
    Literal["auto"]
    | Annotated[
        ResponseFormatText | ResponseFormatJsonObject | ResponseFormatJsonSchema,
        Field(discriminator="type"),
    ]
)


class Assistant(AcceptsV1FileIds):
    id: str = Field(default_factory=lambda: new_id("asst_"))
    object: Literal["assistant"] = "assistant"
    created_at: int = Field(default_factory=now)
    name: str | None = None
    description: str | None = None
    model: str
    instructions: str | None = None
    tools: list[Tool] = Field(default_factory=list, max_length=128)
    tool_resources: ToolResources | None = Field(default_factory=ToolResources.empty)
    metadata: Metadata | None = Field(default_factory=dict)
    temperature: Temperature | None = 1.0
    top_p: TopP | None = 1.0
    response_format: ResponseFormat | None = "auto"
    # Beyond the keys the spec shows (the SDK keeps extra keys); runs inherit it.
    reasoning_effort: str | None = None

    @property
    def has_code_interpreter(self) -> bool:
        return any(isinstance(tool, CodeInterpreterTool) for tool in self.tools)


class AssistantUpdate(AcceptsV1FileIds):
    """The update body; only the keys the client sent are applied (see `sent`)."""

    model: str | None = None
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_resources: ToolResources | None = None
    metadata: MetadataInput | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None

    def sent(self) -> dict[str, Any]:
        """The fields the client sent (an explicit null included), by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class AssistantCreate(AssistantUpdate):
    model: str

    def to_assistant(self) -> Assistant:
        # Keys not sent keep the object's defaults (metadata {}, temperature 1.0, ...).
        return Assistant(
            **{
                key: value
                for key, value in self.sent().items()
                if not (value is None and key in ("tools", "tool_resources"))
            }
        )
