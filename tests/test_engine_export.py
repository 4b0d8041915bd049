"""Exporting a thread from a real store: notebook cells, outputs, order, and the Markdown report."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from engine.export import (
    split_logs,
    thread_markdown,
    thread_notebook,
    write_markdown,
    write_notebook,
)
from engine.schemas import (
    AssistantCreate,
    Attachment,
    AttachmentTool,
    CodeInterpreterCall,
    CodeInterpreterTool,
    CodeInterpreterToolCall,
    ImageFile,
    ImageFileContent,
    ImageOutput,
    ImageOutputFile,
    LastError,
    LogsOutput,
    Message,
    MessageCreate,
    MessageCreationRef,
    MessageCreationStepDetails,
    Run,
    RunCreate,
    RunStep,
    Text,
    TextContent,
    ThreadCreate,
    ToolCallsStepDetails,
)
from engine.store import NotFoundError, Store

TRACEBACK = (
    "---------------------------------------------------------------------------\n"
    "ZeroDivisionError                         Traceback (most recent call last)\n"
    "Cell In[2], line 1\n----> 1 1/0\n\nZeroDivisionError: division by zero"
)


def image_bytes(fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@dataclass
class Built:
    store: Store
    thread_id: str
    assistant_id: str
    run: Run
    png: bytes
    png_id: str


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "data") as opened:
        yield opened


def code_call(code: str, *outputs: LogsOutput | ImageOutput) -> CodeInterpreterToolCall:
    return CodeInterpreterToolCall(
        code_interpreter=CodeInterpreterCall(input=code, outputs=list(outputs))
    )


def add_tool_step(store: Store, run: Run, *calls: CodeInterpreterToolCall) -> None:
    store.add_run_step(
        RunStep(
            run_id=run.id,
            assistant_id=run.assistant_id,
            thread_id=run.thread_id,
            type="tool_calls",
            status="completed",
            step_details=ToolCallsStepDetails(tool_calls=list(calls)),
        )
    )


def add_answer(store: Store, run: Run, text: str, image_id: str | None = None) -> Message:
    content: list[TextContent | ImageFileContent] = [TextContent(text=Text(value=text))]
    if image_id is not None:
        content.append(ImageFileContent(image_file=ImageFile(file_id=image_id)))
    message = store.add_message(
        Message(
            thread_id=run.thread_id,
            role="assistant",
            content=list(content),
            run_id=run.id,
            assistant_id=run.assistant_id,
        )
    )
    store.add_run_step(
        RunStep(
            run_id=run.id,
            assistant_id=run.assistant_id,
            thread_id=run.thread_id,
            type="message_creation",
            status="completed",
            step_details=MessageCreationStepDetails(
                message_creation=MessageCreationRef(message_id=message.id)
            ),
        )
    )
    return message


def finish(store: Store, run: Run, **changes: object) -> Run:
    return store.save_run(run.model_copy(update={"status": "completed", **changes}))


@pytest.fixture
def built(store: Store) -> Built:
    """A thread with one finished run: logs, a traceback, a plot, and an answer."""
    assistant = store.create_assistant(AssistantCreate(model="m", tools=[CodeInterpreterTool()]))
    data = store.create_file(b"a,b\n1,2\n", "data.csv", "assistants")
    attached = Attachment(file_id=data.id, tools=[AttachmentTool(type="code_interpreter")])
    thread = store.create_thread(
        ThreadCreate(
            messages=[MessageCreate(role="user", content="Plot the data", attachments=[attached])]
        )
    )
    run = store.create_run(thread.id, RunCreate(assistant_id=assistant.id))
    png = image_bytes()
    plot = store.create_file(png, "plot.png", "assistants_output")
    add_tool_step(store, run, code_call("print('hello')", LogsOutput(logs="hello\n")))
    add_tool_step(
        store,
        run,
        code_call("1/0", LogsOutput(logs="before\n" + TRACEBACK)),
        code_call("plt.plot([1, 2])", ImageOutput(image=ImageOutputFile(file_id=plot.id))),
    )
    add_answer(store, run, "Here is the plot.", plot.id)
    run = finish(store, run)
    return Built(store, thread.id, assistant.id, run, png, plot.id)


def test_notebook_cells_follow_the_thread(built: Built) -> None:
    notebook = thread_notebook(built.store, built.thread_id)
    nbformat.validate(notebook)
    kinds = [(cell.cell_type, cell.source.splitlines()[0]) for cell in notebook.cells]
    assert kinds == [
        ("markdown", "**User:**"),
        ("code", "print('hello')"),
        ("code", "1/0"),
        ("code", "plt.plot([1, 2])"),
        ("markdown", "**Assistant:**"),
    ]
    assert "Plot the data" in notebook.cells[0].source
    assert "`data.csv`" in notebook.cells[0].source
    assert [c.execution_count for c in notebook.cells if c.cell_type == "code"] == [1, 2, 3]
    assert notebook.metadata["airlock"]["thread_id"] == built.thread_id
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.nbformat == 4


def test_outputs_are_streams_errors_and_embedded_images(built: Built) -> None:
    cells = [
        c for c in thread_notebook(built.store, built.thread_id).cells if c.cell_type == "code"
    ]
    assert [dict(o) for o in cells[0].outputs] == [
        {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    ]
    stdout, error = cells[1].outputs
    assert (stdout.output_type, stdout.text) == ("stream", "before\n")
    assert error.output_type == "error"
    assert (error.ename, error.evalue) == ("ZeroDivisionError", "division by zero")
    assert error.traceback[-1] == "ZeroDivisionError: division by zero"
    (image,) = cells[2].outputs
    assert image.output_type == "display_data"
    assert base64.b64decode(image.data["image/png"]) == built.png


def test_answer_images_travel_as_cell_attachments(built: Built) -> None:
    answer = thread_notebook(built.store, built.thread_id).cells[-1]
    assert "Here is the plot." in answer.source
    (name,) = answer.attachments
    assert f"![{name}](attachment:{name})" in answer.source
    assert base64.b64decode(answer.attachments[name]["image/png"]) == built.png


def test_a_deleted_image_becomes_a_note(built: Built) -> None:
    built.store.delete_file(built.png_id)
    notebook = thread_notebook(built.store, built.thread_id)
    nbformat.validate(notebook)
    (note,) = notebook.cells[3].outputs
    assert note.output_type == "stream" and "no longer in the store" in note.text
    assert "no longer in the store" in notebook.cells[4].source
    assert "no longer in the store" in thread_markdown(built.store, built.thread_id)


def test_jpeg_and_svg_images_keep_their_types(built: Built) -> None:
    store = built.store
    jpeg = store.create_file(image_bytes("JPEG"), "photo.jpg", "assistants_output")
    svg_text = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
    svg = store.create_file(svg_text.encode(), "chart.svg", "assistants_output")
    store.create_message(built.thread_id, MessageCreate(role="user", content="More"))
    run = store.create_run(built.thread_id, RunCreate(assistant_id=built.assistant_id))
    add_tool_step(
        store,
        run,
        code_call(
            "show()", *(ImageOutput(image=ImageOutputFile(file_id=f.id)) for f in (jpeg, svg))
        ),
    )
    notebook = thread_notebook(store, built.thread_id)
    nbformat.validate(notebook)
    first, second = notebook.cells[-1].outputs
    assert base64.b64decode(first.data["image/jpeg"]) == image_bytes("JPEG")
    assert second.data["image/svg+xml"] == svg_text


def test_two_runs_keep_the_second_question_between_them(built: Built) -> None:
    store = built.store
    store.create_message(built.thread_id, MessageCreate(role="user", content="Now the mean"))
    second = store.create_run(built.thread_id, RunCreate(assistant_id=built.assistant_id))
    add_tool_step(store, second, code_call("df.mean()", LogsOutput(logs="1.5\n")))
    add_answer(store, second, "The mean is 1.5.")
    finish(store, second)
    sources = [c.source for c in thread_notebook(store, built.thread_id).cells]
    assert sources.index("**User:**\n\nNow the mean") == 5
    assert sources[4].startswith("**Assistant:**\n\nHere is the plot.")
    assert sources[6:] == ["df.mean()", "**Assistant:**\n\nThe mean is 1.5."]


def test_a_run_without_answer_still_comes_before_a_later_question(built: Built) -> None:
    """A failed run leaves no assistant message; its earlier creation time places it."""
    store = built.store
    failed = store.create_run(built.thread_id, RunCreate(assistant_id=built.assistant_id))
    add_tool_step(store, failed, code_call("boom()", LogsOutput(logs="NameError: boom\n")))
    store.save_run(
        failed.model_copy(
            update={
                "status": "failed",
                "last_error": LastError(code="server_error", message="model went away"),
            }
        )
    )
    store.add_message(
        Message(
            thread_id=built.thread_id,
            role="user",
            created_at=failed.created_at + 3,
            content=[TextContent(text=Text(value="Again?"))],
        )
    )
    cells = thread_notebook(store, built.thread_id).cells
    assert [c.source for c in cells[5:]] == [
        "boom()",
        f"*Run {failed.id} failed: model went away*",
        "**User:**\n\nAgain?",
    ]
    assert cells[5].outputs[0].output_type == "error"
    assert cells[5].execution_count == 4


def test_additional_messages_come_before_their_run(built: Built) -> None:
    store = built.store
    run = store.create_run(
        built.thread_id,
        RunCreate(
            assistant_id=built.assistant_id,
            additional_messages=[MessageCreate(role="user", content="Extra")],
        ),
    )
    add_tool_step(store, run, code_call("x = 1"))
    sources = [c.source for c in thread_notebook(store, built.thread_id).cells]
    assert sources[5:] == ["**User:**\n\nExtra", "x = 1"]


def test_long_threads_are_paged_through(store: Store) -> None:
    thread = store.create_thread()
    for index in range(105):
        store.create_message(thread.id, MessageCreate(role="user", content=f"m{index}"))
    cells = thread_notebook(store, thread.id).cells
    assert [c.source for c in cells] == [f"**User:**\n\nm{i}" for i in range(105)]


def test_write_notebook_round_trips(built: Built, tmp_path: Path) -> None:
    path = write_notebook(built.store, built.thread_id, tmp_path / "out" / "deep" / "t.ipynb")
    assert path.is_file()
    notebook = nbformat.reads(path.read_text(), as_version=4)
    nbformat.validate(notebook)
    assert len(notebook.cells) == 5


def test_unknown_thread_raises(store: Store) -> None:
    with pytest.raises(NotFoundError):
        thread_notebook(store, "thread_nope")


def test_markdown_report(built: Built, tmp_path: Path) -> None:
    path = write_markdown(built.store, built.thread_id, tmp_path / "report" / "thread.md")
    text = path.read_text()
    assert text.startswith(f"# Thread {built.thread_id}")
    assert "```python\nprint('hello')\n```" in text
    assert "```text\nhello\n```" in text
    assert "ZeroDivisionError: division by zero" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["thread_files/01_plot.png"] * 2  # the output, then the answer's image
    assert (path.parent / links[0]).read_bytes() == built.png
    order = [
        text.index(s)
        for s in ("Plot the data", "print('hello')", "1/0", "plt.plot", "Here is the plot.")
    ]
    assert order == sorted(order)


def test_markdown_cuts_long_output_and_survives_backticks(built: Built) -> None:
    store = built.store
    store.create_message(built.thread_id, MessageCreate(role="user", content="Long"))
    run = store.create_run(built.thread_id, RunCreate(assistant_id=built.assistant_id))
    long_logs = "".join(f"line {i}\n" for i in range(2000))
    add_tool_step(store, run, code_call("s = '```'", LogsOutput(logs=long_logs)))
    text = thread_markdown(store, built.thread_id)
    assert "characters cut" in text and "line 0\n" in text and "line 1999" in text
    assert "````python\ns = '```'\n````" in text
    assert "*[image plot.png]*" in text  # no images_dir: named, not saved


@pytest.mark.parametrize(
    ("logs", "expected"),
    [
        ("plain\n", ("plain\n", None)),
        (
            'x\nTraceback (most recent call last):\n  File "a"\nValueError: bad\n',
            (
                "x\n",
                (
                    "ValueError",
                    "bad",
                    'Traceback (most recent call last):\n  File "a"\nValueError: bad',
                ),
            ),
        ),
        (
            "  Cell In[1]\n    1/\n      ^\nSyntaxError: invalid syntax",
            (
                "",
                (
                    "SyntaxError",
                    "invalid syntax",
                    "  Cell In[1]\n    1/\n      ^\nSyntaxError: invalid syntax",
                ),
            ),
        ),
        ("note: ValueError: is fine here\n", ("note: ValueError: is fine here\n", None)),
    ],
)
def test_split_logs(logs: str, expected: tuple[str, object]) -> None:
    assert split_logs(logs) == expected
