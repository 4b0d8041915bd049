"""What the model is sent: instructions, the thread's messages, this run's code calls and their
outputs, cut to fit a token budget.

Outputs are cut when they are recorded (head and tail of the logs; the end of a traceback, where
the error is); when the whole still does not fit, the oldest outputs of the run are shortened
further and then the oldest thread messages are dropped. The newest user message, the system
prompt and the latest output are always sent whole (as cut).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from models import ChatMessage
from models.tokens import approx_tokens
from sandbox import Execution

from ..schemas import ImageFileContent, Message, Run
from .sessions import StagedFile
from .sizes import human_size

SYSTEM_PROMPT = """\
You are a data analyst with a Python tool: a Jupyter kernel that keeps variables and imports \
between calls. It has no internet access. The user's files are in /mnt/data.
How to work:
1. Run code to compute what is asked: never guess a number you can compute. Use the column \
names exactly as they are in the data. print() every value you need to see.
2. Read the output. If there is an error, fix the line it names and run the code again.
3. When the output holds the answer, reply in plain text without code: the final answer, in \
the format the user asked for.
Save files you make in /mnt/data and link them as [name](sandbox:/mnt/data/name); plots shown \
with plt.show() reach the user."""

_SHORTENED = "[... {n} characters cut ...]"
#: Opens the note that ends a user message with files attached.
ATTACHED_NOTE = "\n\n[attached: "


def cut_middle(text: str, limit: int, *, head_share: float = 0.4) -> str:
    """`text` if it fits, else its head and tail with a note of what was cut between."""
    if len(text) <= limit:
        return text
    note_room = len(_SHORTENED) + 10
    head = max(0, int((limit - note_room) * head_share))
    tail = max(0, limit - note_room - head)
    cut = len(text) - head - tail
    return f"{text[:head]}\n{_SHORTENED.format(n=cut)}\n{text[len(text) - tail :]}"


def describe_execution(
    execution: Execution,
    *,
    max_chars: int,
    image_count: int = 0,
    error_text: str | None = None,
    reminder: str = "",
) -> str:
    """One cell's outcome in words, for the model: output, error, what Airlock did.
    `error_text` replaces the traceback (a digest the model can act on); `reminder` ends
    the description of a cell that ran clean."""
    parts: list[str] = []
    output = "".join(chunk.text for chunk in execution.streams)
    result = execution.result
    if result is not None and result.text:
        output += ("" if not output or output.endswith("\n") else "\n") + result.text
    error = execution.error
    if error is not None:
        reminder = ""
    max_chars = max(200, max_chars - len(reminder) - 2)  # the reminder is part of the budget
    # The error gets the larger share: its last lines say what went wrong.
    output_room = max_chars // 2 if error is not None else max_chars
    if output:
        parts.append(cut_middle(output.rstrip("\n"), output_room))
    if image_count:
        parts.append(f"[{image_count} image(s) shown to the user]")
    if execution.files:
        listing = ", ".join(
            f"{change.path} ({human_size(change.size)})" for change in execution.files[:20]
        )
        more = len(execution.files) - 20
        parts.append(f"[files written: {listing}{f' and {more} more' if more > 0 else ''}]")
    parts.extend(execution.notices)
    if execution.restart is not None:
        parts.append(
            f"[the kernel was restarted ({execution.restart.reason}): every variable "
            "and import is gone; files in /mnt/data are kept. Re-run what you need.]"
        )
    if error is not None:
        parts.append(
            cut_middle(
                error_text or error.traceback or str(error),
                max_chars - output_room,
                head_share=0.15,
            )
        )
    text = "\n".join(parts) if parts else "[the code ran without output]"
    if reminder:
        text += "\n\n" + reminder
    return text


def message_to_chat(message: Message, files: dict[str, StagedFile]) -> ChatMessage:
    text = message.text
    images = sum(isinstance(block, ImageFileContent) for block in message.content)
    if images and message.role == "assistant":
        text = f"[{images} image(s) shown]\n{text}".strip()
    attached = [files[f].path for f in message.code_interpreter_file_ids if f in files]
    if attached:
        text += ATTACHED_NOTE + ", ".join(attached) + "]"
    if message.role == "assistant":
        return ChatMessage.assistant(text)
    return ChatMessage.user(text)


def system_message(
    run: Run,
    files: Sequence[StagedFile],
    code_enabled: bool,
    previews: dict[str, str] | None = None,
) -> ChatMessage:
    """The instructions, then the files in /mnt/data: each described by `previews` (what it
    holds, computed in the sandbox) when there is one, else by its size."""
    parts = [SYSTEM_PROMPT] if code_enabled else []
    if run.instructions:
        parts.append(run.instructions)
    if files and code_enabled:
        previews = previews or {}
        entries = []
        for f in files:
            named = (
                "" if PurePosixPath(f.path).name == f.filename else f" (uploaded as {f.filename!r})"
            )
            preview = previews.get(f.path)
            entries.append(
                f"- {f.path}{named}: {preview}"
                if preview
                else f"- {f.path}{named} ({human_size(f.bytes)})"
            )
        parts.append("Files in /mnt/data:\n" + "\n".join(entries))
    return ChatMessage.system("\n\n".join(parts) or "You are a helpful assistant.")


def fit_to_budget(
    system: ChatMessage, history: list[ChatMessage], turns: list[ChatMessage], budget: int
) -> list[ChatMessage]:
    """`[system, *history, *turns]`, shortened until its estimated size fits `budget`."""
    turns = list(turns)

    def size() -> int:
        return sum(_tokens(m) for m in [system, *history, *turns])

    # 1. Shorten this run's older tool outputs, oldest first (the latest stays as cut).
    tool_indexes = [i for i, m in enumerate(turns) if m.role == "tool"][:-1]
    for i in tool_indexes:
        if size() <= budget:
            break
        old = turns[i]
        turns[i] = ChatMessage.tool(old.call_id or "", cut_middle(old.content, 600))
    # 2. Drop the oldest thread messages, keeping the newest (the question being answered).
    history = list(history)
    while size() > budget and len(history) > 1:
        history.pop(0)
    return [system, *history, *turns]


def _tokens(message: ChatMessage) -> int:
    code = message.code_call.code if message.code_call else ""
    return approx_tokens(message.content) + approx_tokens(code) + 4


def visible_messages(messages: list[Message], run: Run) -> list[Message]:
    """The thread's messages the run takes into account: its truncation strategy applied."""
    messages = [m for m in messages if m.run_id != run.id or m.role == "user"]
    strategy = run.truncation_strategy
    if strategy is not None and strategy.type == "last_messages" and strategy.last_messages:
        messages = messages[-strategy.last_messages :]
    return messages
