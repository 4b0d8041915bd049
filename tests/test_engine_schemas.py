"""The Assistants-shaped models: the spec's own examples round-trip, every required key is sent."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from engine.filetypes import SUPPORTED_MIME_TYPES, is_supported, mime_type
from engine.schemas import (
    Assistant,
    AssistantCreate,
    AssistantUpdate,
    CodeInterpreterToolCall,
    Deleted,
    File,
    FilePathAnnotation,
    ImageFileContent,
    ListPage,
    Message,
    MessageCreate,
    Run,
    RunStep,
    TextContent,
    Thread,
    ThreadCreate,
    ToolCallsStepDetails,
)

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "ASSISTANTS_API.md"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

# The examples of section 3 of the spec, copied so the tests run where `shared/` is absent.
FILE = {
    "id": "file-abc",
    "object": "file",
    "bytes": 120,
    "created_at": 1719000000,
    "filename": "data.csv",
    "purpose": "assistants",
    "status": "processed",
    "status_details": None,
    "expires_at": None,
}
ASSISTANT = {
    "id": "asst_1",
    "object": "assistant",
    "created_at": 1719000000,
    "name": "Data bot",
    "description": None,
    "model": "local-model",
    "instructions": "Analyse data with python.",
    "tools": [{"type": "code_interpreter"}],
    "tool_resources": {"code_interpreter": {"file_ids": ["file-abc"]}},
    "metadata": {},
    "temperature": 1.0,
    "top_p": 1.0,
    "response_format": "auto",
}
THREAD = {
    "id": "thread_1",
    "object": "thread",
    "created_at": 1719000000,
    "tool_resources": {"code_interpreter": {"file_ids": []}},
    "metadata": {},
}
MESSAGE = {
    "id": "msg_2",
    "object": "thread.message",
    "created_at": 1719000005,
    "thread_id": "thread_1",
    "status": "completed",
    "incomplete_details": None,
    "completed_at": 1719000009,
    "incomplete_at": None,
    "role": "assistant",
    "assistant_id": "asst_1",
    "run_id": "run_1",
    "attachments": [],
    "metadata": {},
    "content": [
        {"type": "image_file", "image_file": {"file_id": "file-plot", "detail": "auto"}},
        {
            "type": "text",
            "text": {
                "value": "Saved [csv](sandbox:/mnt/data/out.csv).",
                "annotations": [
                    {
                        "type": "file_path",
                        "text": "sandbox:/mnt/data/out.csv",
                        "start_index": 12,
                        "end_index": 37,
                        "file_path": {"file_id": "file-out"},
                    }
                ],
            },
        },
    ],
}
RUN = {
    "id": "run_1",
    "object": "thread.run",
    "created_at": 1719000001,
    "thread_id": "thread_1",
    "assistant_id": "asst_1",
    "status": "completed",
    "required_action": None,
    "last_error": None,
    "incomplete_details": None,
    "expires_at": None,
    "started_at": 1719000002,
    "cancelled_at": None,
    "failed_at": None,
    "completed_at": 1719000010,
    "model": "local-model",
    "instructions": "Analyse data with python.",
    "tools": [{"type": "code_interpreter"}],
    "metadata": {},
    "usage": {"prompt_tokens": 812, "completion_tokens": 230, "total_tokens": 1042},
    "temperature": 1.0,
    "top_p": 1.0,
    "max_prompt_tokens": None,
    "max_completion_tokens": None,
    "truncation_strategy": {"type": "auto", "last_messages": None},
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": "auto",
}
STEP = {
    "id": "step_1",
    "object": "thread.run.step",
    "created_at": 1719000003,
    "run_id": "run_1",
    "assistant_id": "asst_1",
    "thread_id": "thread_1",
    "type": "tool_calls",
    "status": "completed",
    "cancelled_at": None,
    "completed_at": 1719000006,
    "expired_at": None,
    "failed_at": None,
    "last_error": None,
    "metadata": None,
    "usage": {"prompt_tokens": 600, "completion_tokens": 80, "total_tokens": 680},
    "step_details": {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "code_interpreter",
                "code_interpreter": {
                    "input": "import pandas as pd\nprint(pd.read_csv('/mnt/data/file-abc').shape)",
                    "outputs": [
                        {"type": "logs", "logs": "(10, 2)\n"},
                        {"type": "image", "image": {"file_id": "file-plot"}},
                    ],
                },
            }
        ],
    },
}

EXAMPLES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (File, FILE),
    (Assistant, ASSISTANT),
    (Thread, THREAD),
    (Message, MESSAGE),
    (Run, RUN),
    (RunStep, STEP),
]


def contains(sent: Any, example: Any, path: str = "") -> None:
    """Every key of `example` is in `sent` with the same value; extra keys must be null (the
    SDK reads a missing key and a null alike) or one we add on purpose."""
    if isinstance(example, dict):
        assert isinstance(sent, dict), path
        for key, value in example.items():
            assert key in sent, f"{path}.{key} missing"
            contains(sent[key], value, f"{path}.{key}")
        for extra in set(sent) - set(example):
            assert sent[extra] is None or extra == "reasoning_effort", f"{path}.{extra}"
    elif isinstance(example, list):
        assert isinstance(sent, list) and len(sent) == len(example), path
        for i, (a, b) in enumerate(zip(sent, example, strict=True)):
            contains(a, b, f"{path}[{i}]")
    else:
        assert sent == example and type(sent) is type(example), f"{path}: {sent!r}"


@pytest.mark.parametrize(("model", "example"), EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_spec_examples_round_trip(model: type[BaseModel], example: dict[str, Any]) -> None:
    parsed = model.model_validate(example)
    contains(json.loads(parsed.model_dump_json()), example)
    again = model.model_validate_json(parsed.model_dump_json())
    assert again == parsed


def test_examples_match_the_spec_file() -> None:
    """The copies above are the spec's examples, where the spec is at hand."""
    if not SPEC.exists():
        pytest.skip("shared/spec is not beside this checkout")
    text = SPEC.read_text()
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        with contextlib.suppress(ValueError):  # section 5's blocks elide values with "…"
            found.append(decoder.raw_decode(block.strip())[0])
    # The thread's example is inline, with its timestamp elided.
    inline = re.search(r"\*\*Thread\*\*: `(\{.*?\})`", text)
    assert inline is not None
    found.append(json.loads(inline.group(1).replace("…", "1719000000")))
    by_object = {block.get("object"): block for block in found}
    for _, example in EXAMPLES:
        assert by_object[example["object"]] == example


@pytest.mark.parametrize(("model", "example"), EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_defaults_send_every_required_key(model: type[BaseModel], example: dict[str, Any]) -> None:
    """Built from the fewest fields, an object still sends every key of the spec's example."""
    minimal: dict[str, Any] = {
        File: {"bytes": 1, "filename": "a.csv", "purpose": "assistants"},
        Assistant: {"model": "m"},
        Thread: {},
        Message: {"thread_id": "thread_1", "role": "user"},
        Run: {"thread_id": "thread_1", "assistant_id": "asst_1", "model": "m"},
        RunStep: {
            "thread_id": "t",
            "run_id": "r",
            "assistant_id": "a",
            "type": "tool_calls",
            "step_details": {"type": "tool_calls"},
        },
    }[model]
    sent = json.loads(model.model_validate(minimal).model_dump_json())
    assert set(example) <= set(sent)
    prefix = {
        "file": "file-",
        "assistant": "asst_",
        "thread": "thread_",
        "thread.message": "msg_",
        "thread.run": "run_",
        "thread.run.step": "step_",
    }
    assert sent["id"].startswith(prefix[sent["object"]]) and len(sent["id"]) > len("step_") + 8
    assert isinstance(sent["created_at"], int) and sent["created_at"] > 1_700_000_000


def test_fresh_objects_have_the_spec_defaults() -> None:
    run = Run(thread_id="t", assistant_id="a", model="m")
    assert (run.status, run.usage, run.tool_choice, run.parallel_tool_calls) == (
        "queued",
        None,
        "auto",
        True,
    )
    assert run.is_active
    assert Message(thread_id="t", role="user").attachments == []
    call = CodeInterpreterToolCall.model_validate({"code_interpreter": {"input": "1+1"}})
    assert call.id.startswith("call_") and call.code_interpreter.outputs == []


def test_v1_file_ids_are_accepted_everywhere() -> None:
    created = AssistantCreate.model_validate(
        {
            "model": "m",
            "file_ids": ["file-a", "file-b"],
            "tool_resources": {"code_interpreter": {"file_ids": ["file-a"]}},
        }
    )
    assistant = created.to_assistant()
    assert assistant.tool_resources is not None
    assert assistant.tool_resources.code_interpreter_file_ids == ["file-a", "file-b"]
    assert "file_ids" not in assistant.model_dump()

    thread = ThreadCreate.model_validate({"file_ids": ["file-t"]}).to_thread()
    assert thread.tool_resources is not None
    assert thread.tool_resources.code_interpreter_file_ids == ["file-t"]

    message = MessageCreate.model_validate(
        {
            "role": "user",
            "content": "x",
            "file_ids": ["file-m"],
            "attachments": [{"file_id": "file-s", "tools": [{"type": "file_search"}]}],
        }
    ).to_message("thread_1")
    assert message.code_interpreter_file_ids == ["file-m"]
    assert [a.file_id for a in message.attachments or []] == ["file-s", "file-m"]


def test_message_create_content_forms() -> None:
    plain = MessageCreate(role="user", content="hello").to_message("thread_1")
    assert plain.model_dump()["content"] == [
        {"type": "text", "text": {"value": "hello", "annotations": []}}
    ]
    assert plain.text == "hello" and plain.status == "completed" and plain.completed_at

    parts = MessageCreate.model_validate(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_file", "image_file": {"file_id": "file-p"}},
            ],
        }
    ).content_blocks()
    assert isinstance(parts[0], TextContent) and parts[0].text.value == "look"
    assert isinstance(parts[1], ImageFileContent) and parts[1].image_file.detail == "auto"


def test_annotations_and_blocks_are_discriminated() -> None:
    message = Message.model_validate(MESSAGE)
    image, text = message.content
    assert isinstance(image, ImageFileContent)
    assert isinstance(text, TextContent)
    annotation = text.text.annotations[0]
    assert isinstance(annotation, FilePathAnnotation)
    value = text.text.value
    assert value[annotation.start_index : annotation.end_index] == annotation.text

    with pytest.raises(ValidationError):
        Message.model_validate({**MESSAGE, "content": [{"type": "video", "video": {}}]})
    with pytest.raises(ValidationError):
        Assistant.model_validate({**ASSISTANT, "tools": [{"type": "browser"}]})
    with pytest.raises(ValidationError):
        Run.model_validate({**RUN, "status": "paused"})


def test_step_details_forms() -> None:
    step = RunStep.model_validate(STEP)
    assert isinstance(step.step_details, ToolCallsStepDetails)
    outputs = step.step_details.tool_calls[0]
    assert isinstance(outputs, CodeInterpreterToolCall)
    assert [o.type for o in outputs.code_interpreter.outputs] == ["logs", "image"]
    creation = RunStep.model_validate(
        {
            **STEP,
            "type": "message_creation",
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": "msg_1"},
            },
        }
    )
    assert creation.model_dump()["step_details"] == {
        "type": "message_creation",
        "message_creation": {"message_id": "msg_1"},
    }


def test_update_body_knows_what_was_sent() -> None:
    update = AssistantUpdate.model_validate({"name": "new", "description": None})
    assert update.sent() == {"name": "new", "description": None}


def test_json_schema_response_format_keeps_its_schema_key() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assistant = Assistant.model_validate({**ASSISTANT, "response_format": fmt})
    sent = assistant.model_dump(mode="json")["response_format"]
    assert sent["json_schema"]["schema"] == {"type": "object"}


def test_list_and_delete_shapes() -> None:
    files = [File.model_validate(FILE), File.model_validate({**FILE, "id": "file-def"})]
    page = ListPage[File].of(files, has_more=True)
    sent = json.loads(page.model_dump_json())
    assert {k: v for k, v in sent.items() if k != "data"} == {
        "object": "list",
        "first_id": "file-abc",
        "last_id": "file-def",
        "has_more": True,
    }
    assert ListPage[File].of([], False).model_dump() == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    assert Deleted(id="asst_1", object="assistant.deleted").model_dump() == {
        "id": "asst_1",
        "object": "assistant.deleted",
        "deleted": True,
    }


SEED_EXTENSIONS = {
    ".c",
    ".cs",
    ".cpp",
    ".csv",
    ".doc",
    ".docx",
    ".html",
    ".java",
    ".json",
    ".md",
    ".pdf",
    ".php",
    ".pptx",
    ".py",
    ".rb",
    ".tex",
    ".txt",
    ".css",
    ".js",
    ".sh",
    ".ts",
    ".jpeg",
    ".jpg",
    ".gif",
    ".pkl",
    ".png",
    ".tar",
    ".xlsx",
    ".xml",
    ".zip",
}


def _seed_table_rows() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for seed in sorted(SEEDS.glob("*.txt")):
        rows += re.findall(r"\|(\.[a-z]+)\|\s*([^|]+?)\s*\|", seed.read_text())
    return rows


def test_every_seed_extension_has_its_mime_types() -> None:
    assert set(SUPPORTED_MIME_TYPES) == SEED_EXTENSIONS
    rows = _seed_table_rows() if SEEDS.exists() else []
    for ext, cell in rows:  # the tables themselves, when shared/ is at hand
        for mime in re.findall(r"[a-z]+/[\w.+-]+", cell):
            assert mime in SUPPORTED_MIME_TYPES[ext], (ext, mime)
    assert not SEEDS.exists() or {ext for ext, _ in rows} == SEED_EXTENSIONS


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("data.csv", "text/csv"),
        ("REPORT.PDF", "application/pdf"),
        ("a/b/script.py", "text/x-python"),
        ("deck.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("model.pkl", "application/octet-stream"),
        ("feed.xml", "application/xml"),
        ("page.htm", "text/html"),
        ("noext", "application/octet-stream"),
    ],
)
def test_mime_type(name: str, mime: str) -> None:
    assert mime_type(name) == mime


def test_is_supported() -> None:
    assert is_supported("x.XLSX") and not is_supported("x.exe") and not is_supported("README")


def test_objects_without_resources_show_an_empty_code_interpreter_list() -> None:
    """As the spec's thread example does: `{"code_interpreter": {"file_ids": []}}`."""
    for obj in (
        Thread(),
        ThreadCreate().to_thread(),
        Assistant(model="m"),
        AssistantCreate(model="m").to_assistant(),
    ):
        assert obj.model_dump()["tool_resources"]["code_interpreter"] == {"file_ids": []}
