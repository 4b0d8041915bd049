"""A sandboxed, persistent kernel session: one kernel and one workspace, alive across cells.

`AsyncSession` starts the kernel (in a folder under `session_root`), runs cells one at a time
(`cell.CellRun`), words the failures of its own making (`cell_errors`), watches the workspace
between cells and closes everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from . import cgroups
from .capture import OutputCallback, OutputCollector
from .cell import CellRun
from .cell_errors import name_memory_limit, restart_error, time_limit_error
from .cgroups import SessionCgroup
from .identity import SandboxUser, acquire_user
from .isolation import python_info
from .kernel import KernelProcess
from .limits import IsolationLevel, MiB, SandboxConfig
from .messages import Channel
from .probe import choose_level
from .quota import Quota
from .results import Execution, KernelRestart
from .session_root import default_root, prepare_root
from .workspace import Workspace

log = logging.getLogger(__name__)

#: How often the workspace is checked between cells, against background writers.
IDLE_CHECK_INTERVAL = 2.0


class AsyncSession:
    """One kernel + one workspace. Create with `await AsyncSession.start(...)`."""

    def __init__(
        self,
        config: SandboxConfig,
        level: IsolationLevel,
        user: SandboxUser,
        session_dir: Path,
        workspace: Workspace,
        kernel: KernelProcess,
        cgroup: SessionCgroup | None,
    ) -> None:
        self.config = config
        self.isolation = level
        self.user = user
        self.session_dir = session_dir
        self.workspace = workspace
        self.kernel = kernel
        self.cgroup = cgroup
        self.quota = Quota(config.limits, workspace, kernel)
        self.id = session_dir.name
        self.images_dir = session_dir / "images"
        self._lock = asyncio.Lock()
        self._closed = False
        self._idle_watch: asyncio.Task[None] | None = None
        #: What the idle watcher did, told with the next cell's result.
        self._pending_notices: list[str] = []
        #: Set by interrupt() while a cell runs; None between cells.
        self._cancel: asyncio.Event | None = None

    @classmethod
    async def start(
        cls, config: SandboxConfig | None = None, *, workspace: Path | None = None
    ) -> AsyncSession:
        config = config or SandboxConfig()
        # Probing runs subprocesses (once per process): keep it off the event loop.
        level = await asyncio.to_thread(choose_level, config)
        if level is IsolationLevel.NONE:
            log.warning(
                "Airlock: kernel NOT ISOLATED (isolation level 'none'): the code can reach "
                "the network and read whatever the sandbox user can read. Run 'airlock doctor'."
            )
        root = config.runtime_root or default_root()
        prepare_root(root)
        session_dir = root / uuid.uuid4().hex[:12]
        session_dir.mkdir(mode=0o700)
        (session_dir / "owner").write_text(str(os.getpid()))
        try:
            user = acquire_user()
        except BaseException:
            shutil.rmtree(session_dir, ignore_errors=True)
            raise
        cgroup: SessionCgroup | None = None
        try:
            if user.dedicated:
                os.chmod(session_dir, 0o711)
            if user.dedicated and cgroups.available() is None:
                limits = config.limits
                cgroup = SessionCgroup(
                    f"u{user.uid}",
                    memory_bytes=limits.memory_mb * MiB,
                    max_tasks=limits.max_processes,
                )
            space = Workspace(
                workspace or session_dir / "data", owner_uid=user.uid if user.dedicated else None
            )
            kernel = KernelProcess(
                limits=config.limits,
                level=level,
                python=python_info(config.python),
                user=user,
                session_dir=session_dir,
                workspace=space.root,
                cgroup=cgroup,
                extra_env=config.extra_env,
            )
            await kernel.start()
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            user.release()
            shutil.rmtree(session_dir, ignore_errors=True)
            raise
        session = cls(config, level, user, session_dir, space, kernel, cgroup)
        session._watch_while_idle()
        return session

    # -- between cells ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        """One operation on the kernel at a time; the idle watcher steps aside meanwhile."""
        async with self._lock:
            if self._idle_watch is not None:
                self._idle_watch.cancel()
                # It may also have ended on its own: a kernel killed under it closes its sockets.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._idle_watch
                self._idle_watch = None
            try:
                yield
            finally:
                if not self._closed:
                    self._watch_while_idle()

    def _watch_while_idle(self) -> None:
        self._idle_watch = asyncio.ensure_future(self._idle_loop())

    async def _idle_loop(self) -> None:
        """Drain IOPub (background output would otherwise pile up in zmq's queues) and hold
        processes a cell left running to the workspace quota."""
        client = self.kernel.client
        if client is None:
            return
        iopub = Channel(client.get_iopub_msg)
        next_check = time.monotonic() + IDLE_CHECK_INTERVAL
        while True:
            with contextlib.suppress(queue.Empty):
                await iopub.next(timeout=max(0.0, next_check - time.monotonic()))
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + IDLE_CHECK_INTERVAL
                if await asyncio.to_thread(self.quota.over):
                    notice = await asyncio.to_thread(self.quota.enforce_while_idle)
                    self._pending_notices.append(notice)

    # -- files -------------------------------------------------------------------------
    def put_file(self, name: str, content: bytes | Path) -> str:
        """Put a file into /mnt/data before a cell; returns the path the code sees."""
        return self.workspace.put(name, content)

    def read_file(self, name: str) -> bytes:
        return self.workspace.read(name)

    def copy_file_out(self, name: str, target: Path) -> None:
        """Copy a workspace file to the host without following links the code planted."""
        self.workspace.copy_out(name, target)

    def copy_file_out_under(self, name: str, folder: Path) -> Path:
        """Copy a workspace file to its own relative path under a host folder, at any depth;
        returns where it went. WorkspaceError or OSError for this file alone."""
        return self.workspace.copy_out_under(name, folder)

    # -- cells -------------------------------------------------------------------------
    def interrupt(self) -> bool:
        """Ask the running cell to stop, as a timeout would but reported as cancelled.

        Call it on the session's event loop thread. The kernel is interrupted at once
        (the cell's error is the KeyboardInterrupt it raises, its state is kept); a cell
        that does not stop within `limits.interrupt_grace` seconds is killed with its
        kernel, which is restarted. Returns False, doing nothing, when no cell is running.
        """
        if self._cancel is None:
            return False
        self._cancel.set()
        return True

    async def execute(
        self, code: str, *, timeout: float | None = None, on_output: OutputCallback | None = None
    ) -> Execution:
        """Run one cell. Never raises for anything the code does: failures are in the result.

        `on_output` sees each output as it arrives (on the event loop: keep it quick); the
        Execution returned is the authoritative, capped record."""
        if self._closed:
            raise RuntimeError("the session is closed")
        async with self._busy():
            execution = Execution(code=code)
            execution.notices.extend(self._pending_notices)
            self._pending_notices.clear()
            if not self.kernel.is_alive():
                # Died between cells (killed from outside, a background thread crashed it).
                reason = self.kernel.death_reason()
                await self._restart(execution, reason, report=False)
                execution.notices.append(
                    f"[airlock] the kernel had died ({reason}) and was restarted before this "
                    "cell: variables from earlier cells are gone"
                )
            started = time.monotonic()
            try:
                await self._run(execution, timeout or self.config.limits.timeout, on_output)
            finally:
                execution.duration = time.monotonic() - started
            # Walks the workspace and the process tree: off the shared event loop.
            await asyncio.to_thread(self._after_cell, execution)
            return execution

    async def _run(
        self, execution: Execution, timeout: float, on_output: OutputCallback | None = None
    ) -> None:
        limits = self.config.limits
        collector = OutputCollector(
            execution,
            max_output_bytes=limits.max_output_bytes,
            max_display_bytes=limits.max_display_bytes,
            max_displays=limits.max_displays,
            images_dir=self.images_dir,
            on_output=on_output,
        )
        cancel = self._cancel = asyncio.Event()
        run = CellRun(
            self.kernel,
            execution,
            collector,
            limits=limits,
            timeout=timeout,
            cancel=cancel,
            over_quota=lambda: asyncio.to_thread(self.quota.over),
        )
        try:
            end = await run.run()
        finally:
            self._cancel = None
            collector.finish()
        if end.how == "exited":
            await self._restart(execution, self.kernel.death_reason(), report=True)
            return
        if end.how == "stuck":
            await self._give_up(execution, timeout, end.over_quota)
            return
        if execution.timed_out:
            execution.error = time_limit_error(execution.error, timeout)
        if end.over_quota:
            self.quota.error(execution)
        if execution.error is not None:
            execution.error = name_memory_limit(execution.error, limits.memory_mb)

    async def _give_up(self, execution: Execution, timeout: float, over_quota: bool) -> None:
        """The interrupt did not stop the cell: kill and restart the kernel."""
        if over_quota:
            reason = "the cell kept writing past the workspace limit"
        elif execution.timed_out or not execution.cancelled:
            reason = (
                f"the cell exceeded its time limit of {timeout:g} s and did not stop "
                f"when interrupted"
            )
        else:
            reason = "the cell was cancelled and did not stop when interrupted"
        await self._restart(execution, reason, report=True)
        if over_quota:
            self.quota.error(execution)

    async def _restart(self, execution: Execution, reason: str, *, report: bool = True) -> None:
        """Replace a dead or stuck kernel; the cell's result says that state was lost."""
        await self.kernel.kill()
        await self.kernel.start()
        execution.restart = KernelRestart(reason)
        if report:
            execution.error = restart_error(reason)

    def _after_cell(self, execution: Execution) -> None:
        limits = self.config.limits
        execution.files = self.quota.after_cell(execution, self.workspace.changes())
        if self.kernel.task_count() >= limits.max_processes * 0.9:
            killed = self.kernel.kill_strays()
            if killed:
                execution.notices.append(
                    f"[airlock] process limit of {limits.max_processes} reached: "
                    f"{killed} background process(es) were killed"
                )

    # -- lifecycle ---------------------------------------------------------------------
    async def restart(self) -> None:
        """Restart the kernel on purpose: variables are lost, files kept."""
        async with self._busy():
            await self.kernel.kill()
            await self.kernel.start()

    async def run_silent(self, code: str, *, timeout: float = 60.0) -> None:
        """Run set-up code that leaves no trace: no execution count, no outputs."""
        client = self.kernel.client
        assert client is not None
        async with self._busy():
            shell = Channel(client.get_shell_msg)
            msg_id = client.execute(code, silent=True, store_history=False)
            deadline = time.monotonic() + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                reply = await shell.next(timeout=remaining)
                if reply is not None and reply.parent_id == msg_id:
                    return

    async def close(self) -> None:
        """End the kernel and everything it started, and remove the session's folders."""
        if self._closed:
            return
        self._closed = True
        async with self._busy():
            await self.kernel.shutdown()
            if self.cgroup is not None:
                self.cgroup.remove()
            self.user.release()
            # A workspace the caller gave stays; everything under the session folder goes.
            shutil.rmtree(self.session_dir, ignore_errors=True)

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
