"""Drawing a run as it happens, from its events (the Assistants stream's).

On a terminal, one `rich.live.Live` region at a time: a spinner while the model thinks, the
cell's code (syntax highlighted) growing as its deltas arrive with a spinner while it is written
and run, the answer's Markdown growing as its text arrives. When a region is done its last frame
stays, and the cell's output is printed under it. Without a terminal (a pipe, TERM=dumb) the same
things are printed once each, when they are complete.

Everything that came from the sandbox or the model (code, output, answers, file names, error
messages) goes through `terminal_safe` before it is drawn: a cell that prints an escape sequence
must not set the analyst's clipboard (OSC 52), plant hyperlinks (OSC 8), retitle the window or
move the cursor over earlier lines. Rich markup is never parsed in such text (it is always
a `Text` or a markup-free print).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.syntax import Syntax
from rich.text import Text

from ..assist.coach import REPEATED_FAILURE
from ..events import RunEvent

#: Seconds without a new code delta after which the cell is taken to be running.
_WRITING_PAUSE = 0.5
_TRACEBACK = "Traceback (most recent call last)"
TERMINAL_EVENTS = frozenset(
    {
        "thread.run.completed",
        "thread.run.failed",
        "thread.run.cancelled",
        "thread.run.expired",
        "thread.run.incomplete",
    }
)


def _visible(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


#: C0 controls but newline and tab, DEL, C1 controls (0x9b is a one-byte CSI to some
#: terminals), and the bidirectional overrides that reorder what is shown ("Trojan Source").
_UNSAFE = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_SAFE_TABLE = {code: _visible(code) for code in _UNSAFE}
#: For a name or a path: a newline in it would fake a line of output.
_ONE_LINE_TABLE = {**_SAFE_TABLE, 0x09: _visible(0x09), 0x0A: _visible(0x0A)}


def terminal_safe(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character shown as an escape (`\\x1b`), newlines and tabs
    kept (unless `one_line`: file names, paths); a Windows line end is a newline."""
    if one_line:
        return text.translate(_ONE_LINE_TABLE)
    return text.replace("\r\n", "\n").translate(_SAFE_TABLE)


def safe_text(text: str, style: str = "", *, one_line: bool = False) -> Text:
    """A rich Text of untrusted text: control characters visible, no markup parsed."""
    return Text(terminal_safe(text, one_line=one_line), style=style)


def cell_failed(logs: str) -> bool:
    """The kernel puts a failed cell's traceback in its logs, the loop its note of a failed
    cell sent again; a run step has no other sign."""
    return _TRACEBACK in logs or REPEATED_FAILURE in logs


def shorten_logs(logs: str, head: int = 12, tail: int = 28) -> str:
    """A long output's first and last lines (tracebacks through libraries run long); the
    notebook export and --json keep all of it."""
    lines = logs.rstrip("\n").splitlines()
    if len(lines) <= head + tail + 5:
        return "\n".join(lines)
    skipped = len(lines) - head - tail
    return "\n".join([*lines[:head], f"… ({skipped} lines not shown)", *lines[-tail:]])


@dataclass
class Cell:
    step_id: str
    number: int
    #: 0 for a first attempt, n for the n-th cell written after a failed one.
    retry: int
    code: str = ""
    logs: str = ""
    image_ids: list[str] = field(default_factory=list)
    last_delta: float = field(default_factory=time.monotonic)

    @property
    def failed(self) -> bool:
        return cell_failed(self.logs)

    def title(self) -> str:
        label = f"In [{self.number}]"
        return f"{label} · retry {self.retry}" if self.retry else label


class _CellStatus:
    """The spinner under a cell being written or run; which one depends on the time since the
    last code delta (the stream has no event for "the cell started")."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.spinner = Spinner("dots", style="cyan")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        quiet = time.monotonic() - self.cell.last_delta
        self.spinner.text = Text(
            "writing code…" if quiet < _WRITING_PAUSE else f"running… {quiet:.0f}s", style="dim"
        )
        yield self.spinner


def code_panel(cell: Cell, *, done: bool) -> Panel:
    style = "red" if done and cell.failed else "green" if done else "cyan"
    return Panel(
        Syntax(
            terminal_safe(cell.code.rstrip()) or " ", "python", theme="ansi_dark", word_wrap=True
        ),
        title=cell.title(),
        title_align="left",
        border_style=style,
    )


class RunView:
    """Feed it every event of one run (`handle`); it draws them on `console`.

    `save_image(file_id)` is called for each image a cell shows; what it returns (a path, or
    None) is printed with it.
    """

    def __init__(
        self,
        console: Console,
        *,
        save_image: Callable[[str], Path | None] | None = None,
        first_cell: int = 1,
    ) -> None:
        self.console = console
        self.live_ok = console.is_terminal and not console.is_dumb_terminal
        self.save_image = save_image
        self.next_cell = first_cell
        self.retries = 0
        self.last_failed = False
        self.cell: Cell | None = None
        self.message_text = ""
        self.message_images: list[str] = []
        self.in_message = False
        self.cancelling = False
        self.run: dict[str, Any] | None = None
        self._live: Live | None = None
        self._spinner_text = "thinking…"
        self.images: dict[str, Path | None] = {}

    # ------------------------------------------------------------ live regions

    def _show(self, renderable: RenderableType) -> None:
        if not self.live_ok:
            return
        if self._live is None:
            self._live = Live(
                renderable,
                console=self.console,
                refresh_per_second=8,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        else:
            self._live.update(renderable)

    def _end_live(self, final: RenderableType | None) -> None:
        """Stop the region; `final` is its last frame (None: erase it), else print `final`."""
        if self._live is not None:
            live, self._live = self._live, None
            if final is None:
                live.transient = True
            else:
                live.update(final)
            live.stop()
        elif final is not None:
            self.console.print(final)

    def _thinking(self) -> None:
        text = "cancelling…" if self.cancelling else self._spinner_text
        self._show(Spinner("dots", text=Text(text, style="dim"), style="cyan"))

    # ------------------------------------------------------------ events

    def handle(self, event: RunEvent) -> None:
        name, data = event.event, event.data
        if name in ("thread.run.created", "thread.run.in_progress"):
            self.run = data
            self._thinking()
        elif name == "thread.run.cancelling":
            self.mark_cancelling()
        elif name == "thread.run.step.created":
            self._end_live(None)
            if data.get("type") == "tool_calls":
                self._start_cell(data["id"])
            else:
                self._start_message()
        elif name == "thread.run.step.delta":
            self._step_delta(data)
        elif name == "thread.message.delta":
            self._message_delta(data)
        elif name in ("thread.message.completed", "thread.message.incomplete"):
            self._end_message(data)
        elif name.startswith("thread.run.step.") and name.rsplit(".", 1)[1] in (
            "completed",
            "cancelled",
            "expired",
            "failed",
        ):
            if data.get("type") == "tool_calls" and self.cell is not None:
                self._end_cell(data)
            if name.endswith("completed"):
                self._thinking()
        elif name in TERMINAL_EVENTS:
            self.run = data
            self._end_live(None)
            self._end_of_run(data)
        elif name == "error":
            self._end_live(None)
            message = data.get("error", {}).get("message", "unknown error")
            self.console.print(safe_text(f"error: {message}", "bold red"))

    def mark_cancelling(self) -> None:
        if self.cancelling:
            return
        self.cancelling = True
        if self._live is None or self.cell is None:
            self._thinking()
        if not self.live_ok:
            self.console.print(Text("cancelling the run…", style="yellow"))

    def close(self) -> None:
        """Stop whatever region is still live (an interrupted stream)."""
        self._end_live(None)

    # ------------------------------------------------------------ cells

    def _start_cell(self, step_id: str) -> None:
        retry = 0
        if self.last_failed:
            self.retries += 1
            retry = self.retries
        self.cell = Cell(step_id, self.next_cell, retry)
        self.next_cell += 1
        if not self.live_ok:
            self.console.print(
                Text(
                    f"{self.cell.title()}: the model writes a cell, the sandbox runs it…",
                    style="dim",
                ),
                highlight=False,
            )
        self._show_cell()

    def _show_cell(self) -> None:
        if self.cell is not None:
            self._show(Group(code_panel(self.cell, done=False), _CellStatus(self.cell)))

    def _step_delta(self, data: dict[str, Any]) -> None:
        cell = self.cell
        if cell is None or data.get("id") != cell.step_id:
            return
        for call in data.get("delta", {}).get("step_details", {}).get("tool_calls", []):
            details = call.get("code_interpreter") or {}
            if details.get("input"):
                cell.code += details["input"]
                cell.last_delta = time.monotonic()
                self._show_cell()
            for output in details.get("outputs", []):
                if output.get("type") == "logs":
                    cell.logs += output.get("logs", "")
                elif output.get("type") == "image":
                    cell.image_ids.append(output["image"]["file_id"])

    def _end_cell(self, step: dict[str, Any]) -> None:
        cell, self.cell = self.cell, None
        assert cell is not None
        self._end_live(code_panel(cell, done=True))
        if cell.logs:
            style = "red" if cell.failed else ""
            self.console.print(safe_text(shorten_logs(cell.logs), style), highlight=False)
        for file_id in cell.image_ids:
            self._print_image(file_id)
        status = step.get("status")
        if status in ("cancelled", "expired"):
            self.console.print(Text(f"(cell {status})", style="yellow"))
        self.last_failed = cell.failed

    def _print_image(self, file_id: str) -> None:
        if file_id in self.images:
            return
        path = self.save_image(file_id) if self.save_image is not None else None
        self.images[file_id] = path
        where = str(path) if path is not None else file_id
        self.console.print(
            safe_text(f"[image] {where}", "cyan", one_line=True), highlight=False, soft_wrap=True
        )

    # ------------------------------------------------------------ messages

    def _start_message(self) -> None:
        self.in_message = True
        self.message_text = ""
        self.message_images = []
        self._thinking()

    def _message_delta(self, data: dict[str, Any]) -> None:
        for block in data.get("delta", {}).get("content", []):
            if block.get("type") == "text":
                value = block.get("text", {}).get("value")
                if value:
                    self.message_text += value
                    self._show(Markdown(terminal_safe(self.message_text), hyperlinks=False))
            elif block.get("type") == "image_file":
                self.message_images.append(block["image_file"]["file_id"])

    def _end_message(self, message: dict[str, Any]) -> None:
        text = (
            "".join(
                block["text"]["value"]
                for block in message.get("content", [])
                if block.get("type") == "text"
            )
            or self.message_text
        )
        self._end_live(Markdown(terminal_safe(text), hyperlinks=False) if text.strip() else None)
        for file_id in self.message_images:
            self._print_image(file_id)
        if message.get("status") == "incomplete":
            reason = (message.get("incomplete_details") or {}).get("reason", "")
            self.console.print(safe_text(f"(message incomplete: {reason})", "yellow"))
        self.in_message = False

    # ------------------------------------------------------------ the end

    def _end_of_run(self, run: dict[str, Any]) -> None:
        status = run.get("status", "")
        if status == "completed":
            return
        detail = ""
        if run.get("last_error"):
            detail = f": {run['last_error'].get('message', '')}"
        elif run.get("incomplete_details"):
            detail = f": {run['incomplete_details'].get('reason', '')}"
        self.console.print(safe_text(f"run {status}{detail}", "bold yellow"))
