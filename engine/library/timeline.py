"""A thread as it happened, for export: the timeline of its messages, code calls and notes,
read from the store, and the pieces of text both export formats make of it.

User messages come first, then for each run (in creation order) its code_interpreter calls and
the assistant messages its steps created. Images come from the store's file contents; one
deleted since has no bytes (each format says so), never an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..schemas import (
    CodeInterpreterCall,
    CodeInterpreterToolCall,
    File,
    ImageFileContent,
    ImageURLContent,
    Message,
    RefusalContent,
    Run,
    TextContent,
    ToolCallsStepDetails,
    all_pages,
)
from ..schemas.filetypes import mime_type
from ..store import NotFoundError, Store

PAGE = 100
_ENDED_BADLY = frozenset({"failed", "cancelled", "expired", "incomplete"})


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


def timeline(store: Store, thread_id: str) -> list[Entry]:
    """The thread as it happened: messages outside runs placed between the runs they fell
    between, each run's own user messages, code calls and answers in step order."""
    messages = store.all_messages(thread_id)
    runs = all_pages(lambda after: store.list_runs(thread_id, order="asc", limit=PAGE, after=after))
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
    steps = store.all_run_steps(run.thread_id, run.id)
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


def attached_names(store: Store, message: Message) -> list[str]:
    names: list[str] = []
    for attachment in message.attachments or []:
        try:
            names.append(store.get_file(attachment.file_id).filename)
        except NotFoundError:
            names.append(attachment.file_id)
    return names


def heading(store: Store, message: Message) -> str:
    """`**User:**` plus the message, with the names of attached files."""
    text = f"**{message.role.capitalize()}:**\n\n{message_text(message)}".rstrip()
    names = attached_names(store, message)
    if names:
        text += "\n\n*Attached:* " + ", ".join(f"`{name}`" for name in names)
    return text


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", Path(name.replace("\\", "/")).name) or "image"


def images_in(message: Message) -> list[str]:
    return [b.image_file.file_id for b in message.content if isinstance(b, ImageFileContent)]
