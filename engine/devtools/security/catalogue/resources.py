"""Resource exhaustion: processes, memory, disk, descriptors, output, time."""

from __future__ import annotations

from .model import RES, AttackCase, error_named, output_capped

_FORK_BOMB = """\
import os, time
children = 0
deadline = time.time() + 4
while time.time() < deadline:
    try:
        if os.fork() == 0:
            time.sleep(6)
            os._exit(0)
        children += 1
    except OSError as exc:
        print('fork refused after', children, type(exc).__name__)
        break
"""

_THREAD_BOMB = """\
import threading, time
event = threading.Event()
threads = []
try:
    for _ in range(100000):
        t = threading.Thread(target=event.wait); t.start(); threads.append(t)
except RuntimeError as exc:
    print('thread refused after', len(threads), exc)
event.set()
"""

_MEMORY_CHILDREN = """\
import os, time
pids = []
for _ in range(4):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # each child stays under its own RLIMIT_AS, together far past the session's
        got, blocks = 0, []
        try:
            while got < 500:
                block = bytearray(50 * 1024 * 1024)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                blocks.append(block)
                got += 50
        except MemoryError:
            pass
        time.sleep(3)  # all four hold their memory at once now; then say how much, if alive
        os.write(write, b'.' * (got // 50))
        os._exit(0)
    os.close(write)
    pids.append((pid, read))
total, statuses = 0, []
for pid, read in pids:
    statuses.append(os.waitpid(pid, 0)[1])
    while chunk := os.read(read, 4096):
        total += 50 * len(chunk)
print('children held', total, 'MB at once; statuses', statuses)
if total > 1.25 * $memory_mb:
    print('BREACH the session held', total, 'MB')
"""

_TMP_FILL = """\
written = 0
try:
    for i in range(20):
        with open(f'/tmp/$marker-fill-{i}', 'wb') as out:
            for _ in range(16):
                out.write(b'0' * (1024 * 1024))
                written += 1024 * 1024
except OSError as exc:
    print('stopped', type(exc).__name__, exc)
print('wrote MB', written // 2**20)
if written > 200 * 2**20:
    print('BREACH wrote', written // 2**20, 'MB into /tmp')
"""

_SHM_FILL = """\
written = 0
try:
    with open('/dev/shm/$marker-fill', 'wb') as out:
        for _ in range(1200):
            out.write(b'0' * (1024 * 1024))
            written += 1024 * 1024
except OSError as exc:
    print('stopped', type(exc).__name__, exc)
print('wrote MB', written // 2**20)
if written >= 1200 * 2**20:
    print('BREACH wrote', written // 2**20, 'MB into /dev/shm')
"""

_FD_BOMB = """\
handles = []
try:
    while True:
        handles.append(open('/dev/null'))
except OSError as exc:
    print('refused after', len(handles), exc.strerror)
"""

_DAEMON = """\
import subprocess, sys, os
if os.fork() == 0:
    os.setsid()
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '$marker-daemon'],
                     start_new_session=True)
    os._exit(0)
os.wait()
import time; time.sleep(0.5)
print('spawned')
"""

CASES: tuple[AttackCase, ...] = (
    AttackCase("fork-bomb", RES, "fork until refused", _FORK_BOMB, fresh=True, timeout=20),
    AttackCase(
        "thread-bomb", RES, "start threads until refused", _THREAD_BOMB, fresh=True, timeout=20
    ),
    AttackCase(
        "memory-bomb",
        RES,
        "allocate 16 GiB at once",
        "x = bytearray(16 * 1024**3)",
        check=error_named("MemoryError"),
    ),
    AttackCase(
        "memory-bomb-children",
        RES,
        "four children each fill 600 MB (past the session's memory)",
        _MEMORY_CHILDREN,
        fresh=True,
        timeout=30,
    ),
    AttackCase(
        "disk-bomb-workspace",
        RES,
        "write 200 MB into /mnt/data (past the quota)",
        "for i in range(25):\n    open(f'/mnt/data/fill{i}', 'wb').write(b'0' * 8 * 1024**2)",
        check=error_named("WorkspaceFull"),
        fresh=True,
    ),
    AttackCase(
        "sparse-file",
        RES,
        "create a 100 GB sparse file",
        "attempt('sparse', lambda: os.truncate(open('/mnt/data/sparse', 'wb').name, "
        "100 * 1024**3))",
    ),
    AttackCase(
        "inode-bomb",
        RES,
        "create 20,000 empty files",
        "for i in range(20000):\n    open(f'/mnt/data/e{i}', 'w').close()",
        check=error_named("WorkspaceFull", "OSError"),
        fresh=True,
    ),
    AttackCase(
        "zip-bomb",
        RES,
        "extract a highly compressed archive into /mnt/data",
        "import zipfile, io\nb = io.BytesIO()\n"
        "with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:\n"
        "    for i in range(6):\n        z.writestr(f'zero{i}', b'\\0' * 48 * 1024**2)\n"
        "print('archive', len(b.getvalue()))\n"
        "zipfile.ZipFile(b).extractall('/mnt/data/bomb')",
        check=error_named("WorkspaceFull", "OSError"),
        fresh=True,
        timeout=30,
    ),
    AttackCase("tmp-fill", RES, "fill /tmp with 320 MB", _TMP_FILL, fresh=True, timeout=30),
    AttackCase("dev-shm-fill", RES, "fill /dev/shm with 1.2 GB", _SHM_FILL, fresh=True, timeout=30),
    AttackCase("fd-bomb", RES, "open files until refused, and keep them", _FD_BOMB, fresh=True),
    AttackCase(
        "output-bomb",
        RES,
        "print 64 MB",
        "import sys\nfor _ in range(64):\n    sys.stdout.write('x' * 1024**2)",
        check=output_capped,
        timeout=30,
    ),
    AttackCase(
        "runaway-ignoring-sigint",
        RES,
        "loop forever, ignoring SIGINT",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
        timeout=3,
        check=error_named("TimeoutError"),
    ),
    AttackCase(
        "segfault-crash",
        RES,
        "crash the kernel with a segmentation fault",
        "ctypes.string_at(0)",
        check=error_named("KernelRestarted"),
    ),
    AttackCase(
        "daemon-outlives-session",
        RES,
        "leave a setsid daemon behind the session",
        _DAEMON,
        fresh=True,
    ),
)
