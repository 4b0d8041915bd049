"""The errors a session words itself for a cell: its time limit, a kernel it had to restart, and
a MemoryError under the session's memory limit. Each is a `CellError`, as the code's own are,
so a caller reads every failure in one place (`Execution.error`)."""

from __future__ import annotations

from .results import CellError


def time_limit_error(error: CellError | None, timeout: float) -> CellError:
    """The interrupted cell's error (its traceback kept) as the time limit's TimeoutError."""
    message = (
        f"the cell exceeded its time limit of {timeout:g} s and was "
        "interrupted; the kernel's state is kept"
    )
    traceback = error.traceback if error else ""
    return CellError("TimeoutError", message, f"{traceback}\nTimeoutError: {message}".lstrip())


def restart_error(reason: str) -> CellError:
    """A kernel restarted under a cell: its variables are gone, its files kept."""
    name = "TimeoutError" if "time limit" in reason else "KernelRestarted"
    message = (
        f"{reason}; the kernel was restarted and all variables were lost "
        "(files in /mnt/data are kept)"
    )
    return CellError(name, message, f"{name}: {message}")


def name_memory_limit(error: CellError, memory_mb: int) -> CellError:
    """A failed allocation raises a MemoryError with no message; under RLIMIT_AS that is the
    session's memory limit: say so, as a kernel killed by the cgroup's limit is told."""
    if error.name != "MemoryError" or error.value.strip():
        return error
    if memory_mb > 0:
        message = (
            f"memory limit of {memory_mb} MB exceeded: an allocation would have taken "
            f"the kernel's address space (RLIMIT_AS) past it; the kernel and its "
            f"variables are kept"
        )
    else:
        message = "out of memory: an allocation failed"
    lines = error.traceback.rstrip("\n").split("\n")
    if lines and lines[-1].rstrip(": ") == "MemoryError":
        lines[-1] = f"MemoryError: {message}"
    else:
        lines.append(f"MemoryError: {message}")
    return CellError("MemoryError", message, "\n".join(lines))
