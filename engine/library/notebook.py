"""Export a thread as a Jupyter notebook (nbformat v4) to re-run it: messages as Markdown
cells, every code_interpreter call as a code cell with its outputs; a traceback at the end of a
call's logs becomes the cell's error output."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from nbformat import v4
from nbformat.notebooknode import NotebookNode

from ..schemas import CodeInterpreterCall, ImageOutput, LogsOutput, Message
from ..store import Store
from .timeline import Image, Note, heading, images_in, load_image, safe_name, timeline

_TRACEBACK = "Traceback (most recent call last)"
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)): ?(.*)$")
_NAMED_LINE = re.compile(r"^([A-Za-z_][\w.]*): ?(.*)$")

# nbformat's builders are untyped; these typed names keep strict mypy checking the callers.
_new_notebook: Callable[..., NotebookNode] = v4.new_notebook
_new_code_cell: Callable[..., NotebookNode] = v4.new_code_cell
_new_markdown_cell: Callable[..., NotebookNode] = v4.new_markdown_cell
_new_output: Callable[..., NotebookNode] = v4.new_output
_write: Callable[[NotebookNode, str], Any] = nbformat.write


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
    source = heading(store, message)
    attachments: dict[str, dict[str, str]] = {}
    for file_id in images_in(message):
        image = load_image(store, file_id)
        if image.data is None:
            source += f"\n\n*[image {image.name} is no longer in the store]*"
            continue
        name = safe_name(image.name)
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
