"""Message content blocks and annotations, the Message and Thread objects, their request bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .assistants import AcceptsV1FileIds, ToolResources
from .base import Metadata, MetadataInput, Model, file_id_list, now
from .ids import new_id


class FileRef(Model):
    file_id: str


class FilePathAnnotation(Model):
    """A file the code created, linked as `sandbox:/mnt/data/NAME` at [start_index, end_index)."""

    type: Literal["file_path"] = "file_path"
    text: str
    start_index: int
    end_index: int
    file_path: FileRef


class FileCitationAnnotation(Model):
    type: Literal["file_citation"] = "file_citation"
    text: str
    start_index: int
    end_index: int
    file_citation: FileRef


Annotation = Annotated[FilePathAnnotation | FileCitationAnnotation, Field(discriminator="type")]


class Text(Model):
    value: str
    annotations: list[Annotation] = Field(default_factory=list)


class TextContent(Model):
    type: Literal["text"] = "text"
    text: Text


ImageDetail = Literal["auto", "low", "high"]


class ImageFile(Model):
    file_id: str
    detail: ImageDetail | None = "auto"


class ImageFileContent(Model):
    type: Literal["image_file"] = "image_file"
    image_file: ImageFile


class ImageURL(Model):
    url: str
    detail: ImageDetail | None = "auto"


class ImageURLContent(Model):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


class RefusalContent(Model):
    type: Literal["refusal"] = "refusal"
    refusal: str


MessageContent = Annotated[
    TextContent | ImageFileContent | ImageURLContent | RefusalContent, Field(discriminator="type")
]


class TextInput(Model):
    """A text part of a create body: `{"type": "text", "text": "..."}` (a string, not a Text)."""

    type: Literal["text"] = "text"
    text: str


MessageContentInput = Annotated[
    TextInput | ImageFileContent | ImageURLContent, Field(discriminator="type")
]


class AttachmentTool(Model):
    type: Literal["code_interpreter", "file_search"]


class Attachment(Model):
    file_id: str
    tools: list[AttachmentTool] = Field(default_factory=list)

    @property
    def for_code_interpreter(self) -> bool:
        return any(tool.type == "code_interpreter" for tool in self.tools)


class MessageIncompleteDetails(Model):
    reason: Literal["content_filter", "max_tokens", "run_cancelled", "run_expired", "run_failed"]


MessageStatus = Literal["in_progress", "incomplete", "completed"]
Role = Literal["user", "assistant"]


class Message(Model):
    id: str = Field(default_factory=lambda: new_id("msg_"))
    object: Literal["thread.message"] = "thread.message"
    created_at: int = Field(default_factory=now)
    thread_id: str
    status: MessageStatus = "completed"
    incomplete_details: MessageIncompleteDetails | None = None
    completed_at: int | None = None
    incomplete_at: int | None = None
    role: Role
    content: list[MessageContent] = Field(default_factory=list)
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[Attachment] | None = Field(default_factory=list)
    metadata: Metadata | None = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The text blocks' values, joined: what a model sees of this message."""
        return "\n".join(
            block.text.value for block in self.content if isinstance(block, TextContent)
        )

    @property
    def code_interpreter_file_ids(self) -> list[str]:
        return [att.file_id for att in self.attachments or [] if att.for_code_interpreter]


class MessageCreate(Model):
    role: Role
    content: str | list[MessageContentInput]
    attachments: list[Attachment] | None = None
    metadata: MetadataInput | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold_file_ids(cls, data: Any) -> Any:
        """The v1 `file_ids` of a message (Azure's guide) become code_interpreter attachments."""
        if not isinstance(data, dict) or data.get("file_ids") is None:
            return data
        data = dict(data)
        attachments = list(data.get("attachments") or [])
        attachments += [
            {"file_id": file_id, "tools": [{"type": "code_interpreter"}]}
            for file_id in file_id_list(data.pop("file_ids"))
        ]
        data["attachments"] = attachments
        return data

    def content_blocks(self) -> list[MessageContent]:
        """The stored form: a string becomes one text block with no annotations."""
        if isinstance(self.content, str):
            return [TextContent(text=Text(value=self.content))]
        return [
            TextContent(text=Text(value=part.text)) if isinstance(part, TextInput) else part
            for part in self.content
        ]

    def to_message(
        self, thread_id: str, *, run_id: str | None = None, assistant_id: str | None = None
    ) -> Message:
        created = now()
        return Message(
            thread_id=thread_id,
            created_at=created,
            completed_at=created,
            role=self.role,
            content=self.content_blocks(),
            attachments=self.attachments or [],
            run_id=run_id,
            assistant_id=assistant_id,
            metadata=self.metadata if self.metadata is not None else {},
        )


class MessageUpdate(Model):
    metadata: MetadataInput | None = None


class Thread(AcceptsV1FileIds):
    id: str = Field(default_factory=lambda: new_id("thread_"))
    object: Literal["thread"] = "thread"
    created_at: int = Field(default_factory=now)
    tool_resources: ToolResources | None = Field(default_factory=ToolResources.empty)
    metadata: Metadata | None = Field(default_factory=dict)


class ThreadUpdate(AcceptsV1FileIds):
    tool_resources: ToolResources | None = None
    metadata: MetadataInput | None = None


class ThreadCreate(ThreadUpdate):
    messages: list[MessageCreate] = Field(default_factory=list)

    def to_thread(self) -> Thread:
        return Thread(
            tool_resources=self.tool_resources or ToolResources.empty(),
            metadata=self.metadata if self.metadata is not None else {},
        )
