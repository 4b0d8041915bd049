"""Turning a cell's IOPub messages into an Execution, within the output cap.

The kernel caps its own output (see _kernel_startup.py); this is the second wall, for code that
undoes the first: Airlock keeps at most the cap's worth of text, as head and tail, and at most a
budget of rich outputs, by bytes and by count (each image becomes a file on the host). Messages
arrive validated (sandbox/messages.py); their fields are read without trusting their types.
"""

from __future__ import annotations

import base64
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from . import messages
from .messages import KernelMessage
from .results import (
    IMAGE_EXTENSIONS,
    RICH_MIME_TYPES,
    CellError,
    DisplayOutput,
    Execution,
    StreamChunk,
    strip_ansi,
)

#: What the kernel-side cap writes where it cut output out.
KERNEL_CUT_MARKER = "characters of output cut by Airlock"

#: Called with each output as it arrives (text as the kernel sent it, rich outputs once kept).
OutputCallback = Callable[[StreamChunk | DisplayOutput], None]


class OutputCollector:
    """Accumulates one cell's outputs; `handle` returns True once the kernel is idle again."""

    def __init__(
        self,
        execution: Execution,
        *,
        max_output_bytes: int,
        max_display_bytes: int,
        max_displays: int,
        images_dir: Path,
        on_output: OutputCallback | None = None,
    ) -> None:
        self.execution = execution
        self.images_dir = images_dir
        self.on_output = on_output
        #: Text passed on live, at most twice the cap (the result keeps head and tail).
        self._live_budget = 2 * max_output_bytes
        #: Rich outputs (images, html, reprs) kept per cell; beyond it they are dropped.
        self._display_budget = max_display_bytes
        #: Rich outputs received (kept or not): clear_output must not give the budget back.
        self._displays_left = max_displays
        self._budget_words = f"{max_displays} outputs, {max_display_bytes // (1024 * 1024)} MB"
        self._displays_dropped = 0
        self._head_budget = max_output_bytes // 2
        self._tail_budget = max_output_bytes - self._head_budget
        self._head_used = 0
        self._tail: deque[StreamChunk] = deque()
        self._tail_size = 0
        self._cut = 0

    def handle(self, message: KernelMessage) -> bool:
        kind, content = message.msg_type, message.content
        if kind == "status":
            return messages.text(content, "execution_state") == "idle"
        if kind == "stream":
            name = "stderr" if content.get("name") == "stderr" else "stdout"
            self._stream(name, messages.text(content, "text"))
        elif kind in ("display_data", "update_display_data", "execute_result"):
            self._display(messages.mime_bundle(content), is_result=kind == "execute_result")
            if kind == "execute_result":
                self.execution.execution_count = messages.integer(content, "execution_count")
        elif kind == "execute_input":
            self.execution.execution_count = messages.integer(content, "execution_count")
        elif kind == "error":
            limit = self._head_budget + self._tail_budget
            traceback = strip_ansi("\n".join(messages.text_lines(content, "traceback")))
            if len(traceback) > limit:  # the end of a traceback matters most
                traceback = "[... traceback cut by Airlock ...]\n" + traceback[-limit:]
            self.execution.error = CellError(
                name=messages.text(content, "ename", "Error")[:200] or "Error",
                value=messages.text(content, "evalue")[:limit],
                traceback=traceback,
            )
        elif kind == "clear_output":
            self.execution.streams.clear()
            self.execution.displays.clear()
            self._tail.clear()
            self._head_used = self._tail_size = 0
        return False

    def _stream(self, name: str, text: str) -> None:
        stream_name: Literal["stdout", "stderr"] = "stderr" if name == "stderr" else "stdout"
        if KERNEL_CUT_MARKER in text:
            self.execution.output_truncated = True
        if self.on_output is not None and self._live_budget > 0 and text:
            live = text[: self._live_budget]
            self._live_budget -= len(live)
            self.on_output(StreamChunk(stream_name, live))
        room = self._head_budget - self._head_used
        if room > 0:
            head, text = text[:room], text[room:]
            self._head_used += len(head)
            self._append(self.execution.streams, StreamChunk(stream_name, head))
        if not text:
            return
        self._tail.append(StreamChunk(stream_name, text))
        self._tail_size += len(text)
        while self._tail and self._tail_size - len(self._tail[0].text) >= self._tail_budget:
            dropped = self._tail.popleft()
            self._tail_size -= len(dropped.text)
            self._cut += len(dropped.text)

    @staticmethod
    def _append(streams: list[StreamChunk], chunk: StreamChunk) -> None:
        if streams and streams[-1].name == chunk.name:
            streams[-1] = StreamChunk(chunk.name, streams[-1].text + chunk.text)
        else:
            streams.append(chunk)

    def _display(self, bundle: dict[str, str], *, is_result: bool) -> None:
        data = {k: v for k, v in bundle.items() if k in RICH_MIME_TYPES}
        if not data:
            return
        size = sum(len(v) for v in data.values())
        if size > self._display_budget or self._displays_left <= 0:
            self._displays_dropped += 1
            return
        self._display_budget -= size
        self._displays_left -= 1
        image_path = self._save_image(data)
        output = DisplayOutput(data, is_result, image_path)
        self.execution.displays.append(output)
        if self.on_output is not None:
            self.on_output(output)

    def _save_image(self, data: dict[str, str]) -> Path | None:
        for mime, extension in IMAGE_EXTENSIONS.items():
            payload = data.get(mime)
            if payload is None:
                continue
            if mime == "image/svg+xml":
                raw = payload.encode()
            else:
                try:
                    raw = base64.b64decode(payload, validate=False)
                except ValueError:
                    continue
            self.images_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Unique names: execution counts start again after a kernel restart.
            path = self.images_dir / f"image-{uuid.uuid4().hex[:16]}.{extension}"
            path.write_bytes(raw)
            return path
        return None

    def finish(self) -> None:
        """Append the kept tail, after a marker when something was cut."""
        tail = list(self._tail)
        excess = self._tail_size - self._tail_budget
        if excess > 0 and tail:
            first = tail[0]
            tail[0] = StreamChunk(first.name, first.text[excess:])
            self._cut += excess
        if self._displays_dropped:
            self.execution.output_truncated = True
            self.execution.notices.append(
                f"[airlock] {self._displays_dropped} rich output(s) dropped: the cell's display "
                f"budget ({self._budget_words}) was used up"
            )
        if self._cut:
            self.execution.output_truncated = True
            marker = f"\n[... {self._cut} characters of output cut by Airlock ...]\n"
            self._append(self.execution.streams, StreamChunk("stdout", marker))
        for chunk in tail:
            self._append(self.execution.streams, chunk)
        self._tail.clear()
        self._tail_size = 0
