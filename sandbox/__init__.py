"""Sandboxed persistent kernel sessions: launch, limits, isolation, workspace, output capture.

    async with await AsyncSession.start() as session:
        result = await session.execute("print(1 + 1)")

`Session` is the synchronous twin; `KernelPool` hands out pre-started sessions.
"""

from .capture import OutputCallback
from .limits import IsolationLevel, Limits, SandboxConfig
from .pool import KernelPool
from .probe import IsolationReport, IsolationUnavailable, choose_level, probe
from .results import CellError, DisplayOutput, Execution, FileChange, KernelRestart, StreamChunk
from .session import AsyncSession
from .sync import Session, run_sync
from .workspace import MOUNT_POINT, WorkspaceError

__all__ = [
    "MOUNT_POINT",
    "AsyncSession",
    "CellError",
    "DisplayOutput",
    "Execution",
    "FileChange",
    "IsolationLevel",
    "IsolationReport",
    "IsolationUnavailable",
    "KernelPool",
    "KernelRestart",
    "Limits",
    "OutputCallback",
    "SandboxConfig",
    "Session",
    "StreamChunk",
    "WorkspaceError",
    "choose_level",
    "probe",
    "run_sync",
]
