"""Dangerous operations: signals, ptrace, privileges, kernel attack surface."""

from __future__ import annotations

from .model import _SYSCALLS, DO, AttackCase, _not_root_none


def _ptrace(pid: str) -> str:
    return f"sys_call('ptrace(PTRACE_ATTACH, {pid})', 101, 16, {pid}, 0, 0)\n"


CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "kill-server",
        DO,
        "SIGKILL the server process",
        "attempt('kill server', lambda: os.kill($server_pid, 9))",
        applies=_not_root_none,
    ),
    AttackCase(
        "kill-runner",
        DO,
        "SIGKILL the process that runs the sandbox (Airlock itself)",
        "attempt('kill runner', lambda: os.kill($runner_pid, 9))",
        applies=_not_root_none,
    ),
    AttackCase(
        "kill-parent",
        DO,
        "SIGKILL the kernel's parent process",
        "attempt('kill ppid', lambda: os.kill(os.getppid(), 9))",
        applies=_not_root_none,
    ),
    AttackCase(
        "kill-pid-1",
        DO,
        "SIGKILL pid 1",
        "attempt('kill 1', lambda: os.kill(1, 9))",
        applies=_not_root_none,
    ),
    AttackCase(
        "kill-everything",
        DO,
        "kill(-1, SIGKILL): every process the uid may signal",
        "os.kill(-1, 9)",
        fresh=True,
        applies=_not_root_none,
    ),
    AttackCase(
        "signal-victim-kernel",
        DO,
        "SIGKILL another session's kernel",
        "attempt('kill victim', lambda: os.kill($victim_kernel_pid, 9))",
        applies=_not_root_none,
    ),
    AttackCase("ptrace-server", DO, "ptrace-attach to the server", _ptrace("$server_pid")),
    AttackCase(
        "ptrace-victim",
        DO,
        "ptrace-attach to another session's kernel",
        _ptrace("$victim_kernel_pid"),
    ),
    AttackCase(
        "setuid-root",
        DO,
        "become root",
        "attempt('setuid(0)', lambda: os.setuid(0))\n"
        "attempt('setgid(0)', lambda: os.setgid(0))\n"
        "caps = [line for line in open('/proc/self/status')\n"
        "        if line.startswith(('CapEff', 'CapPrm'))]\n"
        "print(caps)\n"
        "if any(int(line.split()[1], 16) for line in caps):\n"
        "    print('BREACH capabilities', caps)",
    ),
    AttackCase(
        "user-namespace",
        DO,
        "create a user namespace (root inside it: kernel attack surface)",
        _SYSCALLS["unshare_user"]
        + "\n"
        + _SYSCALLS["unshare_mount"]
        + "\nimport subprocess\nr = subprocess.run(['unshare', '-Ur', 'id', '-u'], "
        "capture_output=True, text=True)\nif r.returncode == 0:\n"
        "    print('BREACH unshare -Ur', r.stdout.strip())",
        fresh=True,
    ),
    AttackCase("setns", DO, "join another namespace", _SYSCALLS["setns"]),
    AttackCase("bpf", DO, "create a BPF map", _SYSCALLS["bpf"]),
    AttackCase("keyctl", DO, "add a key to the kernel keyring", _SYSCALLS["keyctl"]),
    AttackCase(
        "perf-event-open", DO, "open a perf event (kernel attack surface)", _SYSCALLS["perf"]
    ),
    AttackCase("io-uring", DO, "set up an io_uring (kernel attack surface)", _SYSCALLS["io_uring"]),
    AttackCase(
        "userfaultfd",
        DO,
        "create a userfaultfd (kernel exploit primitive)",
        _SYSCALLS["userfaultfd"],
    ),
    AttackCase("reboot", DO, "reboot the machine", _SYSCALLS["reboot"]),
    AttackCase("load-kernel-module", DO, "load a kernel module", _SYSCALLS["init_module"]),
    AttackCase(
        "sysrq-trigger",
        DO,
        "write to /proc/sysrq-trigger",
        "attempt('sysrq', lambda: open('/proc/sysrq-trigger', 'w').write('h'))",
    ),
)
