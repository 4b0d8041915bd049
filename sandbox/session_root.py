"""The host folder that sessions live under, and its clean-up before the first session.

Each session has a folder under the root (`<tmp>/airlock-<euid>` unless the config names one),
holding an `owner` file with the pid of the host process that made it. Before this process
starts its first session in a root, what sessions of dead host processes left there goes:
stray processes of dedicated uids first, then the folders.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

from .identity import end_orphans


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"airlock-{os.geteuid()}"


@functools.cache
def prepare_root(root: Path) -> None:
    """Create the sessions folder and remove what sessions of dead host processes left:
    first every process still running as a dedicated uid no live session holds (wherever its
    session folder was), then the folders."""
    end_orphans()
    root.mkdir(parents=True, exist_ok=True)
    # Traversable but not listable: a sandbox user reaches only its own session folder.
    os.chmod(root, 0o711)
    for session_dir in root.iterdir():
        owner = session_dir / "owner"
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(session_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
