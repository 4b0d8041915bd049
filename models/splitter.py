"""Splitting a streamed reply into prose and a fenced python code call, as it arrives.

The convention shared by the llama.cpp grammar and text-mode HTTP: a code call is a Markdown fence
opened by a line ```` ```python ```` (also ``py``/``python3``, any case) and closed by a line
starting with ```` ``` ````. Text before the opening line is prose. Once the closing fence
arrives the call is complete and the producer should stop generating (``done``): whatever a model
writes after its own code is a guess at the output. Pieces that could still turn out to be a fence
are held back, so the deltas emitted add up exactly to the final prose and code; the newline
before the closing fence is not part of the code.
"""

from __future__ import annotations

import re

from .base import CodeDelta, TextDelta

_HEADER = re.compile(r"```[ \t]*(?:python3?|py3?)[ \t]*\n", re.IGNORECASE)
_HEADER_WORDS = ("python3", "py3")
FENCE = "```"


def _could_be_header(line: str) -> bool:
    """Whether ``line`` (no newline yet) may still grow into an opening fence."""
    if len(line) <= 3:
        return FENCE.startswith(line)
    if not line.startswith(FENCE):
        return False
    word = line[3:].lstrip(" \t").rstrip(" \t").lower()
    if line[3:].lstrip(" \t") != line[3:].lstrip(" \t").rstrip(" \t"):  # trailing blanks
        return word in ("python", "python3", "py", "py3")
    return any(w.startswith(word) for w in _HEADER_WORDS)


class ReplySplitter:
    def __init__(self, detect_code: bool = True) -> None:
        self.detect_code = detect_code
        self.prose: list[str] = []
        self.code: list[str] | None = None
        self.done = False  # the code call is complete
        self._pending = ""  # held back: may be the start of a fence

    def feed(self, piece: str) -> list[TextDelta | CodeDelta]:
        if self.done or not piece:
            return []
        if not self.detect_code:
            self.prose.append(piece)
            return [TextDelta(piece)]
        out: list[TextDelta | CodeDelta] = []
        # Held-back text starts at a line start; a fresh piece does when the prose emitted so far
        # is empty or ends a line.
        at_line_start = bool(self._pending) or not self.prose or self.prose[-1].endswith("\n")
        self._pending += piece
        if self.code is None:
            self._feed_text(out, at_line_start)
        if self.code is not None and not self.done:
            self._feed_code(out)
        return out

    def _feed_text(self, out: list[TextDelta | CodeDelta], at_line_start: bool) -> None:
        buf = self._pending
        line_start = 0
        while (nl := buf.find("\n", line_start)) >= 0:
            if (line_start > 0 or at_line_start) and _HEADER.fullmatch(buf[line_start : nl + 1]):
                self._emit_text(buf[:line_start], out)
                self._pending = buf[nl + 1 :]
                self.code = []
                return
            line_start = nl + 1
        tail = buf[line_start:]
        keep = len(tail) if (line_start > 0 or at_line_start) and _could_be_header(tail) else 0
        self._emit_text(buf[: len(buf) - keep], out)
        self._pending = buf[len(buf) - keep :]

    def _emit_text(self, text: str, out: list[TextDelta | CodeDelta]) -> None:
        if text:
            self.prose.append(text)
            out.append(TextDelta(text))

    def _feed_code(self, out: list[TextDelta | CodeDelta]) -> None:
        # A closing fence is FENCE at the start of a line. Nothing emitted yet means the buffer
        # starts right after the opening line, i.e. at a line start: probe with a newline there.
        assert self.code is not None
        buf = self._pending
        lead = "" if self.code else "\n"
        probe = lead + buf
        close = probe.find("\n" + FENCE)
        if close >= 0:
            self._emit_code(buf[: max(close - len(lead), 0)], out)
            self._pending = ""
            self.done = True
            return
        last = probe.rfind("\n")
        keep = len(probe) - last if last >= 0 and FENCE.startswith(probe[last + 1 :]) else 0
        keep = min(keep, len(buf))
        self._emit_code(buf[: len(buf) - keep], out)
        self._pending = buf[len(buf) - keep :]

    def _emit_code(self, code: str, out: list[TextDelta | CodeDelta]) -> None:
        assert self.code is not None
        if code:
            self.code.append(code)
            out.append(CodeDelta(code))

    def finish(self) -> list[TextDelta | CodeDelta]:
        """Flush at the end of generation (complete or not): a partial fence is dropped from
        code; held-back text is text after all."""
        out: list[TextDelta | CodeDelta] = []
        if self.done or not self._pending:
            self._pending = ""
            return out
        if self.code is None:
            self._emit_text(self._pending, out)
        else:
            self._emit_code(re.sub(r"\n?`{0,3}\Z", "", self._pending), out)
        self._pending = ""
        return out

    @property
    def text(self) -> str:
        return "".join(self.prose)

    @property
    def code_text(self) -> str | None:
        return None if self.code is None else "".join(self.code)
