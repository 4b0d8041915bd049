"""One sandboxed kernel process: start it, talk to it, interrupt it, kill it, say why it died."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import psutil
import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient

from . import isolation, lifeline
from .cgroups import SessionCgroup
from .connection import KernelStartError, RunFolder
from .identity import SandboxUser, kill_processes_of
from .limits import IsolationLevel, Limits, MiB

#: How long a starting kernel may take to answer, generous for a loaded machine.
START_TIMEOUT = 60.0
#: The most bytes one IOPub message may carry before Airlock drops it unread.
MAX_MESSAGE_BYTES = 32 * MiB
#: The most IOPub messages queued unread.
MAX_QUEUED_MESSAGES = 128

_SIGNAL_NAMES = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGABRT: "aborted",
    signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "floating-point exception",
}


def _kernel_env(
    limits: Limits,
    level: IsolationLevel,
    home: str,
    extra: dict[str, str],
    python_bin: Path,
    workspace: str,
) -> dict[str, str]:
    """An explicit allowlist: nothing of the host's environment reaches the kernel."""
    env = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home if level is IsolationLevel.NONE else "/tmp",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "IPYTHONDIR": f"{home}/.ipython",
        # Arenas and BLAS threads multiply virtual memory, which RLIMIT_AS counts.
        "MALLOC_ARENA_MAX": "2",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        # pyarrow (which pandas imports when it is installed) would otherwise allocate through
        # jemalloc/mimalloc, whose reservations take ~130 MB of address space at the first use.
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "AIRLOCK_OUTPUT_CAP": str(limits.max_output_bytes),
        # The kernel starts in a neutral folder; the startup file enters this one (and makes
        # it importable) when the first cell runs.
        "AIRLOCK_WORKSPACE": workspace,
    }
    env.update(extra)
    return env


def _rlimits(limits: Limits, user: SandboxUser) -> dict[str, int]:
    tasks = limits.max_processes
    if not user.dedicated:
        # RLIMIT_NPROC counts every task of the uid: leave room for what the user already runs.
        tasks += sum(
            p.info["num_threads"] or 0
            for p in psutil.process_iter(["uids", "num_threads"])
            if p.info["uids"] and p.info["uids"].real == user.uid
        )
    found = {
        "RLIMIT_CORE": 0,
        "RLIMIT_NPROC": tasks,
        "RLIMIT_FSIZE": limits.max_file_mb * MiB,
        "RLIMIT_NOFILE": limits.max_open_files,
    }
    if limits.memory_mb > 0:
        found["RLIMIT_AS"] = limits.memory_mb * MiB
    if limits.cpu_seconds > 0:
        found["RLIMIT_CPU"] = limits.cpu_seconds
    return found


def describe_exit(returncode: int | None, level: IsolationLevel) -> str:
    """Turn an exit status into words. bwrap reports a child killed by signal N as 128+N."""
    if returncode is None:
        return "the kernel stopped answering"
    signum = -returncode if returncode < 0 else 0
    if level is not IsolationLevel.NONE and returncode > 128:
        signum = returncode - 128
    if signum:
        try:
            sig = signal.Signals(signum)
        except ValueError:
            return f"the kernel was killed by signal {signum}"
        if sig in _SIGNAL_NAMES:
            return _SIGNAL_NAMES[sig]
        if sig is signal.SIGXCPU:
            return "CPU time limit exceeded"
        return f"the kernel was killed by {sig.name}"
    return f"the kernel exited with status {returncode}"


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


async def _wait_gone(pids: list[int], *, timeout: float) -> None:
    """Until none of `pids` runs any more (zombies are gone enough), at most `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while any(_running(pid) for pid in pids):
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.01)


class KernelProcess:
    """A kernel started inside the sandbox, with a client connected over private IPC sockets."""

    def __init__(
        self,
        *,
        limits: Limits,
        level: IsolationLevel,
        python: isolation.PythonInfo,
        user: SandboxUser,
        session_dir: Path,
        workspace: Path,
        cgroup: SessionCgroup | None,
        extra_env: dict[str, str],
    ) -> None:
        self.limits = limits
        self.level = level
        self.python = python
        self.user = user
        self.session_dir = session_dir
        self.workspace = workspace
        self.cgroup = cgroup
        self.extra_env = extra_env
        self._run = RunFolder(session_dir, user, home=level is IsolationLevel.NONE)
        self.run_dir = self._run.run_dir
        self.client: AsyncKernelClient | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._kernel_pid: int | None = None
        self._log_path = session_dir / "kernel.log"

    # -- start -------------------------------------------------------------------------
    def _plan(self, connection_file: Path) -> isolation.LaunchPlan:
        level = self.level
        # bubblewrap and namespaces give the kernel a private /tmp; level none has no such thing.
        home = str(self._run.home) if self._run.home is not None else "/tmp"
        workspace = str(self.workspace) if level is IsolationLevel.NONE else "/mnt/data"
        # -P (safe path): the kernel's folder is not put on sys.path, and IPython then leaves
        # out '' as well: nothing the code wrote can be imported while the kernel starts.
        safe_path = ["-P"] if self.python.version >= (3, 11) else []
        argv = [
            str(self.python.executable),
            *safe_path,
            "-m",
            "ipykernel_launcher",
            "-f",
            str(connection_file),
            "--HistoryManager.enabled=False",
            f"--IPKernelApp.exec_files={isolation.kernel_startup_path(level)}",
        ]
        return isolation.LaunchPlan(
            level=level,
            python=self.python,
            run_dir=self.run_dir,
            workspace=self.workspace,
            argv=argv,
            env=_kernel_env(
                self.limits, level, home, self.extra_env, self.python.executable.parent, workspace
            ),
            rlimits=_rlimits(self.limits, self.user),
            uid=self.user.uid,
            gid=self.user.gid,
            tmp_bytes=self.limits.tmp_mb * MiB,
            lifeline_fd=lifeline.read_end(),
        )

    async def start(self) -> None:
        """Start the kernel and wait until it answers; on any failure leave nothing behind."""
        try:
            await self._start()
        except BaseException:
            await asyncio.shield(self.kill())
            raise

    async def _start(self) -> None:
        info = self._run.prepare()
        plan = self._plan(self._run.connection_file)
        plan.write()
        with self._log_path.open("wb") as log:
            # Started as ourselves: the launcher inside drops to the session's uid.
            self.process = await asyncio.create_subprocess_exec(
                *plan.command(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=str(self.workspace),
                env={"PATH": "/usr/bin:/bin"},
                start_new_session=True,
                pass_fds=() if plan.lifeline_fd is None else (plan.lifeline_fd,),
            )
        if self.cgroup is not None:
            self.cgroup.add(self.process.pid)
        try:
            info = await self._run.connectable(info, self.is_alive, START_TIMEOUT)
        except KernelStartError as exc:
            raise KernelStartError(f"{exc}:\n{self._log_tail()}") from None
        # Our own context, destroyed with linger 0 on kill: a context collected with sockets
        # still open would block the garbage collector forever.
        context = zmq.asyncio.Context()
        # Defaults for the sockets created next: a message over the size is dropped unread, and
        # at most RCVHWM messages wait unread (nobody reads IOPub between cells).
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        context.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        client = AsyncKernelClient(context=context)
        self.client = client
        client.load_connection_info(info)
        # No heartbeat channel: a dead kernel is noticed through its process exiting, and the
        # heartbeat thread's shutdown would block the event loop.
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        await self._wait_ready()
        self.kernel_pid()  # resolve now, before any user code could run a look-alike
        if self.cgroup is not None:
            # Processes forked before the first move stayed outside: move the whole tree now.
            for pid in self._tree_pids():
                self.cgroup.add(pid)

    def _log_tail(self) -> str:
        return self._log_path.read_text(errors="replace")[-4000:]

    async def _wait_ready(self) -> None:
        assert self.client is not None and self.process is not None
        ready = asyncio.ensure_future(self.client.wait_for_ready(timeout=START_TIMEOUT))
        died = asyncio.ensure_future(self.process.wait())
        try:
            done, _ = await asyncio.wait({ready, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (ready, died):
                if not task.done():
                    task.cancel()
        if died in done or ready.exception() is not None:
            reason = describe_exit(self.process.returncode, self.level)
            raise KernelStartError(f"the kernel did not start ({reason}):\n{self._log_tail()}")

    # -- process tree ------------------------------------------------------------------
    def _tree_pids(self) -> list[int]:
        if self.process is None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root.pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.Error:
            return []

    def kernel_pid(self) -> int | None:
        """The host pid of the ipykernel process itself (inside bwrap it is a grandchild)."""
        if self._kernel_pid is not None:
            return self._kernel_pid
        if self.process is None:
            return None
        if self.level is IsolationLevel.NONE:
            self._kernel_pid = self.process.pid
            return self._kernel_pid
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if "ipykernel_launcher" in child.cmdline():
                        pid: int = child.pid
                        self._kernel_pid = pid
                        return pid
        return None

    def stray_pids(self) -> list[int]:
        """Processes of the session other than the kernel and the sandbox's own wrappers."""
        kernel = self.kernel_pid()
        if kernel is None or self.process is None:
            return []
        strays = []
        for pid in self._tree_pids():
            if pid in (kernel, self.process.pid):
                continue
            with contextlib.suppress(psutil.Error):
                command = " ".join(psutil.Process(pid).cmdline()[:2])
                if "bwrap" in command or "launcher.py" in command or "_launcher.py" in command:
                    continue
                strays.append(pid)
        return strays

    def session_pids(self) -> set[int]:
        """Every process of the session: the cgroup's when there is one (cheap to read, and
        it holds what left the tree), else the tree under the sandbox."""
        if self.cgroup is not None:
            return self.cgroup.pids()
        return set(self._tree_pids())

    def task_count(self) -> int:
        if self.cgroup is not None:
            return len(self.cgroup.pids())
        count = 0
        for pid in self._tree_pids():
            with contextlib.suppress(psutil.Error):
                count += psutil.Process(pid).num_threads()
        return count

    # -- control -----------------------------------------------------------------------
    def is_alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def interrupt(self) -> None:
        """SIGINT to the kernel itself: signalling bwrap's process group would kill the sandbox."""
        pid = self.kernel_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)

    def kill_strays(self) -> int:
        strays = self.stray_pids()
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(strays)

    async def wait_exit(self) -> int | None:
        if self.process is None:
            return None
        returncode: int = await self.process.wait()
        return returncode

    async def kill(self) -> None:
        """End the kernel and every process it started, daemons included."""
        if self.client is not None:
            # Destroying our context closes the client's sockets at once (linger 0);
            # stop_channels() would first create the channels we never opened.
            self.client.context.destroy(linger=0)
            self.client = None
        tree = self._tree_pids()
        for pid in reversed(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.user.dedicated:
            kill_processes_of(self.user.uid)
        if self.process is not None and self.process.returncode is None:
            # Signal the pid ourselves: Process.kill() polls, reaping the child behind
            # asyncio's watcher, which then reports a bogus status 255.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=10)
        # bwrap is reaped at once, but a SIGKILLed kernel takes a while to release its memory:
        # until it has, it still counts (towards memory, and towards a cap on live kernels).
        await _wait_gone(tree, timeout=5)
        self._kernel_pid = None

    def death_reason(self) -> str:
        """Why the kernel died, as a user would want to read it."""
        if self.cgroup is not None and self.cgroup.new_oom_kills():
            return f"memory limit of {self.limits.memory_mb} MB exceeded"
        returncode = self.process.returncode if self.process else None
        reason = describe_exit(returncode, self.level)
        if returncode is not None and reason.endswith("SIGKILL") and self.cgroup is None:
            reason += " (possibly out of memory)"
        return reason

    async def shutdown(self) -> None:
        await self.kill()
        with contextlib.suppress(OSError):
            self._log_path.unlink()
