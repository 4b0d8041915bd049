"""Per-session limits and the isolation levels a session can run at."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


class IsolationLevel(enum.StrEnum):
    """How strongly a kernel is walled off from the host, strongest first."""

    BUBBLEWRAP = "bubblewrap"
    NAMESPACES = "namespaces"
    NONE = "none"

    @property
    def rank(self) -> int:
        return list(IsolationLevel).index(self)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one session. Every field has a default fit for analysis work."""

    #: Wall-clock seconds a cell may run before it is interrupted.
    timeout: float = 120.0
    #: Seconds an interrupted cell gets to stop before the kernel is killed and restarted.
    interrupt_grace: float = 3.0
    #: Memory of the kernel and everything it starts, in MiB.
    memory_mb: int = 2048
    #: Processes and threads (tasks) the session may have at once.
    max_processes: int = 256
    #: Largest single file the code may write, in MiB.
    max_file_mb: int = 512
    #: Total size of the workspace, in MiB.
    max_workspace_mb: int = 2048
    #: Most files the workspace may hold.
    max_workspace_files: int = 10_000
    #: Bytes of stdout+stderr kept per cell; beyond it the middle is cut out.
    max_output_bytes: int = 1 * MiB
    #: Bytes of rich outputs (images, HTML, reprs) kept per cell.
    max_display_bytes: int = 32 * MiB
    #: Rich outputs kept per cell, by count: each image becomes a file on the host.
    max_displays: int = 200
    #: Size of the private /tmp inside the sandbox, in MiB.
    tmp_mb: int = 512
    #: Open file descriptors per process.
    max_open_files: int = 1024
    #: CPU seconds over the kernel's whole life: a backstop against a runaway that evades
    #: interrupts while nobody is waiting on it (0 disables).
    cpu_seconds: int = 0


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that decides how a session's kernel is started."""

    limits: Limits = field(default_factory=Limits)
    #: The level to run at; None means the strongest this machine allows.
    isolation: IsolationLevel | None = None
    #: Refuse to start rather than fall back below this level (strict mode when set to
    #: BUBBLEWRAP or NAMESPACES; NONE accepts anything and warns).
    minimum_isolation: IsolationLevel = IsolationLevel.NONE
    #: Python interpreter of the kernel: the current one by default, or that of an analyst's own
    #: environment that has ipykernel installed.
    python: Path | None = None
    #: Where run folders (connection files, sockets) live; a private 0700 folder per session.
    runtime_root: Path | None = None
    #: Modules imported into pooled kernels before they are handed out.
    preload: tuple[str, ...] = ("numpy", "pandas", "matplotlib", "matplotlib.pyplot")
    #: Extra environment variables for the kernel (the host's environment never reaches it).
    extra_env: dict[str, str] = field(default_factory=dict)
