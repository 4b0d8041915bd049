"""Export a thread's work: a Jupyter notebook to re-run it, a Markdown report to read it.

Both walk one timeline built from the store: user messages, then for each run (in creation
order) its code_interpreter calls and the assistant messages its steps created. Images come
from the store's file contents; one deleted since becomes a note, never an error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import nbformat
from nbformat import v4
from nbformat.notebooknode import NotebookNode
from pydantic import BaseModel

from .filetypes import mime_type
from .schemas import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    File,
    ImageFileContent,
    ImageOutput,
    ImageURLContent,
    ListPage,
    LogsOutput,
    Message,
    RefusalContent,
    Run,
    TextContent,
    ToolCallsStepDetails,
)
from .store import NotFoundError, Store

T = TypeVar("T", bound=BaseModel)
PAGE = 100
#: How much of one output the Markdown report shows; the notebook keeps it all.
MAX_OUTPUT_CHARS = 4000
_ENDED_BADLY = frozenset({"failed", "cancelled", "expired", "incomplete"})
_TRACEBACK = "Traceback (most recent call last)"
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)): ?(.*)$")
_NAMED_LINE = re.compile(r"^([A-Za-z_][\w.]*): ?(.*)$")

# nbformat's builders are untyped; these typed names keep strict mypy checking the callers.
_new_notebook: Callable[..., NotebookNode] = v4.new_notebook
_new_code_cell: Callable[..., NotebookNode] = v4.new_code_cell
_new_markdown_cell: Callable[..., NotebookNode] = v4.new_markdown_cell
_new_output: Callable[..., NotebookNode] = v4.new_output
_write: Callable[[NotebookNode, str], Any] = nbformat.write


@dataclass(frozen=True)
class Note:
    """A line the timeline adds itself (a run that ended badly)."""

    text: str


Entry = Message | CodeInterpreterCall | Note


@dataclass(frozen=True)
class Image:
    """An image's bytes and what they are; `data` is None once the file left the store."""

    file_id: str
    name: str
    mime: str
    data: bytes | None


# ---------------------------------------------------------------- the timeline


def _all(fetch: Callable[[str | None], ListPage[T]]) -> list[T]:
    """Every item of a cursor-paged listing, so long threads export whole."""
    items: list[T] = []
    after: str | None = None
    while True:
        page = fetch(after)
        items.extend(page.data)
        if not page.has_more or page.last_id is None:
            return items
        after = page.last_id


def timeline(store: Store, thread_id: str) -> list[Entry]:
    """The thread as it happened: messages outside runs placed between the runs they fell
    between, each run's own user messages, code calls and answers in step order."""
    messages = _all(
        lambda after: store.list_messages(thread_id, order="asc", limit=PAGE, after=after)
    )
    runs = _all(lambda after: store.list_runs(thread_id, order="asc", limit=PAGE, after=after))
    groups: list[list[Entry]] = [[] for _ in range(len(runs) + 1)]
    for message, place in _places(messages, runs):
        groups[place].append(message)
    entries: list[Entry] = []
    for run, group in zip(runs, groups, strict=False):
        entries += group
        entries += _run_entries(store, run, [m for m in messages if m.run_id == run.id])
    entries += groups[-1]
    return entries


def _places(messages: list[Message], runs: list[Run]) -> list[tuple[Message, int]]:
    """For each message not tied to a run, how many runs came before it.

    Tables keep separate insertion orders, so a run counts as earlier when one of its
    assistant messages precedes the message, or it was created in an earlier second (a user
    message cannot be added while a run is active). On a tie the message goes first: that is
    how `additional_messages` and the usual add-message-then-run flow happen.
    """
    run_ids = {run.id for run in runs}
    anchor: dict[str, int] = {}
    for index, message in enumerate(messages):
        if message.run_id in run_ids and message.role == "assistant":
            anchor.setdefault(message.run_id, index)
    places: list[tuple[Message, int]] = []
    floor = 0
    for index, message in enumerate(messages):
        if message.run_id in run_ids:
            continue
        earlier = [
            k + 1
            for k, run in enumerate(runs)
            if anchor.get(run.id, len(messages)) < index or run.created_at < message.created_at
        ]
        floor = max([floor, *earlier])
        places.append((message, floor))
    return places


def _run_entries(store: Store, run: Run, own: list[Message]) -> list[Entry]:
    """A run's user messages, then its steps in order; answers no step names come last."""
    steps = _all(
        lambda after: store.list_run_steps(
            run.thread_id, run.id, order="asc", limit=PAGE, after=after
        )
    )
    by_id = {message.id: message for message in own}
    entries: list[Entry] = [m for m in own if m.role == "user"]
    shown: set[str] = set()
    for step in steps:
        details = step.step_details
        if isinstance(details, ToolCallsStepDetails):
            entries += [
                call.code_interpreter
                for call in details.tool_calls
                if isinstance(call, CodeInterpreterToolCall)
            ]
        elif (message := by_id.get(details.message_creation.message_id)) is not None:
            entries.append(message)
            shown.add(message.id)
    entries += [m for m in own if m.role == "assistant" and m.id not in shown]
    if run.status in _ENDED_BADLY:
        reason = (
            run.last_error.message
            if run.last_error
            else (run.incomplete_details.reason if run.incomplete_details else "")
        )
        entries.append(Note(f"Run {run.id} {run.status}" + (f": {reason}" if reason else "")))
    return entries


# ---------------------------------------------------------------- pieces both formats use


def load_image(store: Store, file_id: str) -> Image:
    """The image's bytes and MIME type (sniffed, else from its name); no bytes if deleted."""
    try:
        file: File | None = store.get_file(file_id)
        with store.open_file_content(file_id) as handle:
            data: bytes | None = handle.read()
    except (NotFoundError, OSError):
        file, data = None, None
    name = file.filename if file is not None else file_id
    return Image(file_id, name, _sniff(data) or mime_type(name), data)


def _sniff(data: bytes | None) -> str | None:
    if not data:
        return None
    head = data[:256].lstrip()
    for magic, mime in (
        (b"\x89PNG", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
    ):
        if head.startswith(magic):
            return mime
    return "image/svg+xml" if b"<svg" in head else None


def split_logs(logs: str) -> tuple[str, tuple[str, str, str] | None]:
    """(stdout, (ename, evalue, traceback) or None): a traceback at the end of the logs is
    the cell's error, so the notebook shows it as one rather than as printed text."""
    lines = logs.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _TRACEBACK in line), None)
    if start is None and not _ERROR_LINE.match(lines[-1]):
        return logs, None
    if start is None:  # a SyntaxError has no "Traceback" line: the whole log is the error
        start = 0
    elif start and set(lines[start - 1].strip()) == {"-"}:  # IPython's rule above it
        start -= 1
    named = next((m for line in reversed(lines) if (m := _NAMED_LINE.match(line))), None)
    ename, evalue = (named.group(1), named.group(2)) if named else ("Error", lines[-1])
    stdout = "".join(line + "\n" for line in lines[:start])
    return stdout, (ename, evalue, "\n".join(lines[start:]))


def message_text(message: Message) -> str:
    """Text and refusals; images are the caller's (each format places them its own way)."""
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, TextContent):
            parts.append(block.text.value)
        elif isinstance(block, RefusalContent):
            parts.append(f"*Refused:* {block.refusal}")
        elif isinstance(block, ImageURLContent):
            parts.append(f"![image]({block.image_url.url})")
    return "\n\n".join(parts)


def _attached_names(store: Store, message: Message) -> list[str]:
    names: list[str] = []
    for attachment in message.attachments or []:
        try:
            names.append(store.get_file(attachment.file_id).filename)
        except NotFoundError:
            names.append(attachment.file_id)
    return names


def _heading(store: Store, message: Message) -> str:
    """`**User:**` plus the message, with the names of attached files."""
    text = f"**{message.role.capitalize()}:**\n\n{message_text(message)}".rstrip()
    names = _attached_names(store, message)
    if names:
        text += "\n\n*Attached:* " + ", ".join(f"`{name}`" for name in names)
    return text


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", Path(name.replace("\\", "/")).name) or "image"


def _images_in(message: Message) -> list[str]:
    return [b.image_file.file_id for b in message.content if isinstance(b, ImageFileContent)]


# ---------------------------------------------------------------- notebook


def thread_notebook(store: Store, thread_id: str) -> NotebookNode:
    """The thread as an nbformat v4 notebook: messages as Markdown cells, every
    code_interpreter call as a code cell with its outputs, numbered in order."""
    store.get_thread(thread_id)  # NotFoundError for an unknown thread, before any work
    cells: list[NotebookNode] = []
    count = 0
    for entry in timeline(store, thread_id):
        if isinstance(entry, CodeInterpreterCall):
            count += 1
            cells.append(
                _new_code_cell(
                    entry.input, execution_count=count, outputs=_cell_outputs(store, entry)
                )
            )
        elif isinstance(entry, Note):
            cells.append(_new_markdown_cell(f"*{entry.text}*"))
        else:
            cells.append(_message_cell(store, entry))
    notebook = _new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "airlock": {"thread_id": thread_id},
        },
    )
    nbformat.validate(notebook)
    return notebook


def _cell_outputs(store: Store, call: CodeInterpreterCall) -> list[NotebookNode]:
    outputs: list[NotebookNode] = []
    for output in call.outputs:
        if isinstance(output, LogsOutput):
            outputs += _logs_outputs(output.logs)
        elif isinstance(output, ImageOutput):
            outputs.append(_image_output(load_image(store, output.image.file_id)))
    return outputs


def _logs_outputs(logs: str) -> list[NotebookNode]:
    text, error = split_logs(logs)
    outputs = [_new_output("stream", name="stdout", text=text)] if text else []
    if error is not None:
        ename, evalue, traceback = error
        outputs.append(
            _new_output("error", ename=ename, evalue=evalue, traceback=traceback.splitlines())
        )
    return outputs


def _image_output(image: Image) -> NotebookNode:
    if image.data is None:
        return _new_output(
            "stream", name="stderr", text=f"[image {image.name} is no longer in the store]\n"
        )
    return _new_output(
        "display_data", data={image.mime: _encode(image), "text/plain": f"<image {image.name}>"}
    )


def _encode(image: Image) -> str:
    """SVG is text in a notebook; every other image is base64."""
    assert image.data is not None
    if image.mime == "image/svg+xml":
        return image.data.decode("utf-8", "replace")
    return base64.b64encode(image.data).decode("ascii")


def _message_cell(store: Store, message: Message) -> NotebookNode:
    """A Markdown cell; the message's images travel in the cell's `attachments`."""
    source = _heading(store, message)
    attachments: dict[str, dict[str, str]] = {}
    for file_id in _images_in(message):
        image = load_image(store, file_id)
        if image.data is None:
            source += f"\n\n*[image {image.name} is no longer in the store]*"
            continue
        name = _safe_name(image.name)
        while name in attachments:
            name = f"{len(attachments)}_{name}"
        attachments[name] = {image.mime: _encode(image)}
        source += f"\n\n![{name}](attachment:{name})"
    cell = _new_markdown_cell(source)
    if attachments:
        cell["attachments"] = attachments
    return cell


def write_notebook(store: Store, thread_id: str, path: Path) -> Path:
    """Save `thread_notebook` as an .ipynb at `path` (folders created); returns the path."""
    notebook = thread_notebook(store, thread_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(notebook, str(path))
    return path


# ---------------------------------------------------------------- markdown


@dataclass
class _Images:
    """Where the report's images go: each file saved once, numbered so equal names differ."""

    folder: Path | None
    links: dict[str, str] = field(default_factory=dict)

    def link(self, image: Image) -> str:
        if image.data is None:
            return f"*[image {image.name} is no longer in the store]*"
        if self.folder is None:
            return f"*[image {image.name}]*"
        if image.file_id not in self.links:
            name = f"{len(self.links) + 1:02d}_{_safe_name(image.name)}"
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / name).write_bytes(image.data)
            self.links[image.file_id] = quote(f"{self.folder.name}/{name}")
        return f"![{image.name}]({self.links[image.file_id]})"


def thread_markdown(store: Store, thread_id: str, images_dir: Path | None = None) -> str:
    """A readable report of the thread. Images are saved into `images_dir`, when given, and
    linked as `<images_dir name>/<file>`: relative to the folder the report is saved in."""
    store.get_thread(thread_id)
    images = _Images(Path(images_dir) if images_dir is not None else None)
    parts = [f"# Thread {thread_id}"]
    for entry in timeline(store, thread_id):
        if isinstance(entry, CodeInterpreterCall):
            parts += _markdown_call(store, entry, images)
        elif isinstance(entry, Note):
            parts.append(f"*{entry.text}*")
        else:
            parts.append(_heading(store, entry))
            parts += [images.link(load_image(store, f)) for f in _images_in(entry)]
    return "\n\n".join(parts) + "\n"


def _markdown_call(store: Store, call: CodeInterpreterCall, images: _Images) -> list[str]:
    parts = [_fence(call.input, "python")]
    for output in call.outputs:
        if isinstance(output, LogsOutput):
            parts.append(_fence(_cut(output.logs), "text"))
        elif isinstance(output, ImageOutput):
            parts.append(images.link(load_image(store, output.image.file_id)))
    return parts


def _cut(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Keep the head and the tail (where a traceback ends) of a long output."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def _fence(text: str, language: str) -> str:
    """A fenced block longer than any backtick run inside, so no content can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}"


def write_markdown(store: Store, thread_id: str, path: Path) -> Path:
    """Save the report at `path`, its images beside it in `<stem>_files/`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = thread_markdown(store, thread_id, path.parent / f"{path.stem}_files")
    path.write_text(text, encoding="utf-8")
    return path
