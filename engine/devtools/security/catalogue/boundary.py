"""The boundary between the kernel and the host: code that runs at the kernel's start, the
connection, the messages the kernel sends (malformed, forged, a flood), what the host shows and
copies of it (terminal views, copy-out), space hidden from the quota, and what the kernel holds
(capabilities, socket families)."""

from __future__ import annotations

from collections.abc import Callable

from .boundary_requests import (
    after_restart,
    copy_out_paths,
    display_flood,
    held_quota,
    in_thread,
    kernel_messages,
    terminal_views,
)
from .model import CI, DO, NET, RES, AttackCase, Evidence, Verdict, standard

#: The kernel object, the request it is answering, and where its shell replies go.
_KERNEL = """\
k = get_ipython().kernel
parent = k.get_parent()
shell = (k.shell_channel_thread.manager.get_subshell_to_shell_channel_socket(None)
         if k._supports_kernel_subshells else k.shell_stream)
"""

#: A planted ipykernel_launcher.py: marks that it ran, links the ipc socket paths to a host
#: socket the sandbox cannot see, then starts the real kernel so that nothing looks wrong.
_PLANT_LAUNCHER = '''\
launcher = """
import json, os, sys, time
open('/mnt/data/$marker-started', 'w').write('ipykernel_launcher.py')
info = json.load(open(sys.argv[sys.argv.index('-f') + 1]))
for port in ('shell_port', 'iopub_port', 'control_port', 'stdin_port', 'hb_port'):
    try:
        os.symlink('$unix_socket', '%s-%s' % (info['ip'], info[port]))
    except OSError:
        pass
time.sleep(1.5)
sys.path[:] = [p for p in sys.path if p not in ('', os.getcwd(), '/mnt/data')]
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""
open('/mnt/data/ipykernel_launcher.py', 'w').write(launcher)
mark = "open('/mnt/data/$marker-started', 'w').write(__name__)\\n"
for name in ('zmq.py', 'traitlets.py', 'sitecustomize.py', 'ipython_kernel_config.py'):
    open('/mnt/data/' + name, 'w').write(mark)
os.kill(os.getpid(), 9)
'''

#: An IPython startup file in the kernel's home, which the next start would run.
_PLANT_PROFILE = """\
folder = os.path.expanduser('~/.ipython/profile_default/startup')
os.makedirs(folder, exist_ok=True)
open(folder + '/00-airlock.py', 'w').write(
    "open('/mnt/data/$marker-started', 'w').write('profile startup')\\n")
os.kill(os.getpid(), 9)
"""

_MALFORMED = (
    _KERNEL
    + """\
for content in ({'ename': 'Forged', 'evalue': 'v', 'traceback': 5},
                {'ename': 7, 'evalue': ['x'], 'traceback': [1, None]}):
    k.session.send(k.iopub_socket, 'error', content, parent=parent)
k.session.send(k.iopub_socket, 'stream', {'name': ['stdout'], 'text': 42}, parent=parent)
k.session.send(k.iopub_socket, 'display_data', {'data': ['image/png']}, parent=parent)
k.session.send(k.iopub_socket, 'execute_input', {'execution_count': 'many'}, parent=parent)
k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': '\\udcff'}, parent=parent)
k.iopub_socket.send_multipart([b'x', b'<IDS|MSG>', b'garbage'])
k.iopub_socket.send_multipart([b'x', b'<IDS|MSG>', b'0' * 64, b'[]', b'{}', b'{}', b'{}'])
print('after')
"""
)

_FAKE_IDLE = (
    _KERNEL
    + """\
k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent=parent)
import time
time.sleep(60)
print('BREACH the cell outlived its time limit')
"""
)

_FAKE_REPLY_AND_IDLE = (
    _KERNEL
    + """\
k.session.send(shell, 'execute_reply', {'status': 'ok', 'execution_count': 1,
               'user_expressions': {}}, parent, ident=k._parent_ident['shell'])
k.session.send(k.iopub_socket, 'status', {'execution_state': 'idle'}, parent=parent)
import time
time.sleep(60)
print('BREACH the cell outlived its time limit')
"""
)

_UNSIGNED = (
    _KERNEL
    + """\
import json
frames = [json.dumps(part, default=str).encode() for part in (
    {'msg_id': 'forged', 'msg_type': 'error', 'username': 'u', 'session': 's',
     'date': '2024-01-01T00:00:00Z', 'version': '5.3'}, parent['header'], {},
    {'ename': 'ForgedError', 'evalue': 'unsigned', 'traceback': []})]
k.iopub_socket.send_multipart([b'kernel.x.error', b'<IDS|MSG>', b'', *frames])
print('sent')
"""
)

#: Three 40 MB files unlinked while open, kept in a global: no walk of /mnt/data sees them.
_UNLINKED_OPEN = """\
held = []
for i in range(3):
    f = open(f'/mnt/data/hidden{i}', 'wb')
    os.unlink(f'/mnt/data/hidden{i}')
    for _ in range(40):
        f.write(b'0' * 1024 * 1024)
        f.flush()
    held.append(f)
"""

#: The same through memory maps: the descriptors are closed, only the mappings hold the files.
_UNLINKED_MAPPED = """\
import mmap
maps = []
for i in range(3):
    with open(f'/mnt/data/mapped{i}', 'w+b') as f:
        os.unlink(f'/mnt/data/mapped{i}')
        for _ in range(40):
            f.write(b'0' * 1024 * 1024)
            f.flush()
        maps.append(mmap.mmap(f.fileno(), 0))
"""

_DISPLAY_FLOOD = """\
import base64
from IPython.display import Image, display
png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4'
                       '2mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==')
for _ in range(100_000):
    display(Image(data=png, format='png'))
"""

_SOCKET_FAMILIES = """\
import socket
families = {'AF_VSOCK': 40, 'AF_ALG': 38, 'AF_PACKET': 17, 'AF_KEY': 15, 'AF_BLUETOOTH': 31,
            'AF_TIPC': 30, 'AF_RDS': 21, 'AF_XDP': 44, 'AF_CAN': 29, 'AF_PPPOX': 24}
for name, family in families.items():
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET, socket.SOCK_RAW):
        try:
            socket.socket(family, kind).close()
        except OSError:
            continue
        print('BREACH created a socket of', name)
        break
    else:
        print('blocked', name)
sys_call('socket(AF_VSOCK | 1 << 32)', 41, ctypes.c_long(40 | (1 << 32)), 1, 0)
"""

_CAPABILITIES = """\
caps = {line.split(':')[0]: int(line.split()[1], 16) for line in open('/proc/self/status')
        if line.startswith('Cap')}
print(caps)
for name, value in caps.items():
    if value:
        print('BREACH', name, hex(value))
"""


def _timed_out(limit: float) -> Callable[[Evidence], Verdict]:
    """Standard, the cell stopped by its time limit, within `limit` seconds."""

    def check(evidence: Evidence) -> Verdict:
        verdict = standard(evidence)
        if not verdict.held:
            return verdict
        execution = evidence.executions[0]
        error = execution.error.name if execution.error else "no error"
        if error != "TimeoutError":
            return Verdict(
                False, f"the cell ended early ({error} after {execution.duration:.1f} s)"
            )
        if execution.duration > limit:
            return Verdict(False, f"the cell ran {execution.duration:.1f} s")
        return Verdict(True, f"TimeoutError after {execution.duration:.1f} s")

    return check


def _not_forged(evidence: Evidence) -> Verdict:
    verdict = standard(evidence)
    error = evidence.executions[0].error if evidence.executions else None
    if verdict.held and error is not None and error.name == "ForgedError":
        return Verdict(False, "an unsigned message was taken for the kernel's")
    return verdict


CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "startup-planted-in-workspace",
        CI,
        "plant ipykernel_launcher.py (linking the "
        "socket paths to a host socket), zmq.py, sitecustomize.py and an IPython config "
        "in /mnt/data, then crash the kernel so that it restarts",
        _PLANT_LAUNCHER,
        request=after_restart("$marker-started"),
        fresh=True,
        timeout=60,
    ),
    AttackCase(
        "startup-ipython-profile",
        CI,
        "plant an IPython startup file in the kernel's "
        "home, then crash the kernel so that it restarts",
        _PLANT_PROFILE,
        request=after_restart("$marker-started"),
        fresh=True,
        timeout=60,
    ),
    AttackCase(
        "terminal-escape-sequences",
        CI,
        "print OSC 52/8, title, cursor and C1 "
        "sequences on stdout, stderr, fd 1/2, from a child, in an exception and a file "
        "name: airlock exec, exec --json and run must not pass them to the terminal",
        request=in_thread(terminal_views),
        timeout=240,
    ),
    AttackCase(
        "copy-out-deep-paths",
        CI,
        "airlock exec --out on a path deeper than PATH_MAX, an NFD name and a name with a newline",
        request=in_thread(copy_out_paths),
        timeout=240,
    ),
    AttackCase(
        "malformed-kernel-messages",
        CI,
        "send malformed messages on IOPub (traceback "
        "not a list, content not a dict, garbage frames, bad signature) in a session "
        "and in an engine run",
        request=kernel_messages(_MALFORMED),
        timeout=120,
    ),
    AttackCase(
        "fake-idle-status",
        CI,
        "send status: idle for the running request, then keep running past the time limit",
        _FAKE_IDLE,
        check=_timed_out(3 + 2 + 8),
        fresh=True,
        timeout=3,
    ),
    AttackCase(
        "fake-reply-and-idle",
        CI,
        "send an execute_reply and status: idle for the "
        "running request, then keep running past the time limit",
        _FAKE_REPLY_AND_IDLE,
        check=_timed_out(3 + 2 + 8),
        fresh=True,
        timeout=3,
    ),
    AttackCase(
        "unsigned-forged-message",
        CI,
        "send an unsigned error message as the kernel's",
        _UNSIGNED,
        check=_not_forged,
    ),
    AttackCase(
        "quota-unlinked-open-files",
        RES,
        "hide 120 MB in unlinked files kept open (past the 64 MB quota)",
        request=held_quota(_UNLINKED_OPEN),
        fresh=True,
        timeout=90,
    ),
    AttackCase(
        "quota-unlinked-mapped-files",
        RES,
        "hide 120 MB in unlinked files kept only as memory maps",
        request=held_quota(_UNLINKED_MAPPED),
        fresh=True,
        timeout=90,
    ),
    AttackCase(
        "display-count-flood",
        RES,
        "show 100,000 tiny PNG images in one cell",
        request=display_flood(_DISPLAY_FLOOD, 8),
        fresh=True,
        timeout=90,
    ),
    AttackCase(
        "socket-families",
        NET,
        "create AF_VSOCK, AF_ALG, AF_PACKET, Bluetooth... sockets",
        _SOCKET_FAMILIES,
    ),
    AttackCase(
        "capabilities-left",
        DO,
        "look for any capability left to the kernel, inheritable and ambient included",
        _CAPABILITIES,
    ),
)
