"""A pipe that tells a starting sandbox whether the host process that launched it still lives.

Each wrapper (bubblewrap, setpriv) arms PR_SET_PDEATHSIG once it runs; a host killed between
spawning it and that moment leaves a sandbox nobody will ever end (its parent is init, it is in
no session cgroup yet). The host holds the write end of this pipe for its whole life and never
writes; every sandbox inherits the read end. The launcher, which runs after every wrapper has
armed its death signal, reads it without blocking: end of file means the host died before the
signals were armed, and it exits; otherwise the host was alive after they were armed, so its
death will end the sandbox.
"""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_pipe: tuple[int, int] | None = None
_owner: int | None = None


def read_end() -> int:
    """This process's lifeline read end (made on first use, and anew in a forked child: the
    parent's write end there must not stand for the child's life). Not inheritable: pass it
    to the sandbox's wrapper explicitly (pass_fds)."""
    global _pipe, _owner
    with _lock:
        if _pipe is None or _owner != os.getpid():
            _pipe = os.pipe()  # both ends close-on-exec: no other child keeps the writer open
            _owner = os.getpid()
        return _pipe[0]
