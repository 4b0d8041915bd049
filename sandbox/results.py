"""The typed result of running one cell, modelled on the Jupyter message protocol."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

#: MIME types kept from display outputs, richest first.
RICH_MIME_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "text/html", "text/plain")
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class StreamChunk:
    """Text the cell wrote to stdout or stderr, in the order it arrived."""

    name: Literal["stdout", "stderr"]
    text: str


@dataclass(frozen=True)
class DisplayOutput:
    """A rich output (`display()` or the cell's value), as a MIME bundle."""

    data: dict[str, Any]
    #: True for the cell's execute_result (its last expression's value).
    is_result: bool = False
    #: Where an image in this output was saved on the host, if it holds one.
    image_path: Path | None = None

    @property
    def text(self) -> str | None:
        value = self.data.get("text/plain")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class CellError:
    """An exception raised by the cell, or a failure Airlock imposed on it."""

    name: str
    value: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


@dataclass(frozen=True)
class FileChange:
    """A workspace file the cell created or modified."""

    #: The path the code sees, under /mnt/data.
    path: str
    #: The file on the host.
    host_path: Path
    size: int
    status: Literal["created", "modified"]


@dataclass(frozen=True)
class KernelRestart:
    """Why the kernel had to be restarted during the cell: its variables are gone."""

    reason: str


@dataclass
class Execution:
    """Everything one cell produced."""

    code: str
    streams: list[StreamChunk] = field(default_factory=list)
    displays: list[DisplayOutput] = field(default_factory=list)
    error: CellError | None = None
    execution_count: int | None = None
    duration: float = 0.0
    files: list[FileChange] = field(default_factory=list)
    #: Files the cell created that were removed to bring the workspace back under its cap.
    removed_files: list[str] = field(default_factory=list)
    restart: KernelRestart | None = None
    timed_out: bool = False
    #: The cell was interrupted on request (AsyncSession.interrupt). Its error is the
    #: KeyboardInterrupt the kernel raised, or, if it did not stop and the kernel had to be
    #: killed, the restart (`restart` is set, variables are lost). `timed_out` is True as
    #: well only if the time limit had already interrupted the cell.
    cancelled: bool = False
    #: True when output beyond the cap was cut out.
    output_truncated: bool = False
    #: What Airlock itself did during the cell (limits enforced, processes killed), in words.
    notices: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def stdout(self) -> str:
        return "".join(c.text for c in self.streams if c.name == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(c.text for c in self.streams if c.name == "stderr")

    @property
    def logs(self) -> str:
        """stdout and stderr interleaved as they arrived, then the traceback if any: what the
        Assistants API reports as a `logs` output."""
        text = "".join(c.text for c in self.streams)
        result = next((d.text for d in self.displays if d.is_result and d.text), None)
        if result is not None:
            text += result if not text or text.endswith("\n") else "\n" + result
        for line in [*self.notices, *([self.error.traceback] if self.error else [])]:
            if text and not text.endswith("\n"):
                text += "\n"
            text += line
        return text

    @property
    def images(self) -> list[Path]:
        return [d.image_path for d in self.displays if d.image_path is not None]

    @property
    def result(self) -> DisplayOutput | None:
        return next((d for d in self.displays if d.is_result), None)
