"""Sensitive information exposure: host secrets, other sessions, the store."""

from __future__ import annotations

from .model import SI, AttackCase, _read

_PROC_SCAN = """\
import glob
found = []
for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):
    try:
        data = open(path, 'rb').read()
    except OSError:
        continue
    if b'AIRLOCK-CANARY' in data:
        found.append(path)
        print('BREACH', path, data.replace(b'\\0', b' ')[:300])
print('scanned, found', len(found))
"""

_VICTIM_SOCKETS = """\
import glob, json, socket
for path in glob.glob('$victim_run_dir/*') + glob.glob('$victim_run_dir/sock/*'):
    print('visible', path)
for port in [f'sock/k-{n}' for n in range(1, 6)] + [f'k-{n}' for n in range(1, 6)]:
    path = '$victim_run_dir/' + port
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        print('BREACH connected to', path)
    except OSError as exc:
        print('blocked', path, type(exc).__name__)
attempt('read the connection file', lambda: json.load(open('$victim_connection_file'))['key'])
"""

CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "read-host-secret",
        SI,
        "read a world-readable host file outside the sandbox",
        _read("host secret", "$secret_path"),
    ),
    AttackCase(
        "read-root-only-file",
        SI,
        "read a host file readable by its owner only",
        _read("root-only file", "$root_only_path"),
    ),
    AttackCase("read-etc-shadow", SI, "read /etc/shadow", _read("/etc/shadow", "/etc/shadow")),
    AttackCase(
        "kernel-environment",
        SI,
        "look for the host's secrets in the kernel's own "
        "environment (the runner exports the canary)",
        "print(sorted(os.environ.items()))\nprint(open('/proc/self/environ', 'rb').read())",
    ),
    AttackCase(
        "proc-server-environ",
        SI,
        "read the server process's environment via /proc",
        _read("server environ", "/proc/$server_pid/environ"),
    ),
    AttackCase(
        "proc-server-cmdline",
        SI,
        "read the server process's command line via /proc",
        _read("server cmdline", "/proc/$server_pid/cmdline"),
    ),
    AttackCase(
        "proc-scan-secrets", SI, "scan every /proc/*/environ and cmdline for secrets", _PROC_SCAN
    ),
    AttackCase(
        "proc-host-processes",
        SI,
        "see host processes in /proc (the server's pid)",
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "print(len(pids), 'pids')\n"
        "if '$server_pid' in pids or '$runner_pid' in pids:\n"
        "    print('BREACH the host server is visible, pid $server_pid')",
    ),
    AttackCase(
        "store-database",
        SI,
        "read the engine store's SQLite database",
        _read("store database", "$store_db"),
    ),
    AttackCase(
        "store-file-content",
        SI,
        "read another user's uploaded file in the store",
        _read("store file", "$store_file"),
    ),
    AttackCase(
        "store-listing",
        SI,
        "list the engine's data folder",
        "attempt('list the data folder', lambda: os.listdir('$data_dir'))",
    ),
    AttackCase(
        "victim-workspace",
        SI,
        "read another session's /mnt/data file",
        _read("victim file", "$victim_workspace/victim.txt")
        + "attempt('list victim', lambda: os.listdir('$victim_workspace'))",
    ),
    AttackCase(
        "victim-connection-file",
        SI,
        "read another session's kernel connection file (its HMAC key) and reach its sockets",
        _VICTIM_SOCKETS,
    ),
    AttackCase(
        "sessions-root-listing",
        SI,
        "list every session's folder",
        "own = sys.argv[sys.argv.index('-f') + 1].split('/')\n"
        "try:\n    names = os.listdir('$sessions_root')\nexcept OSError as exc:\n"
        "    names = []\n    print('blocked', exc)\n"
        "others = [n for n in names if n not in own]\nprint(names)\n"
        "if others:\n    print('BREACH other sessions listed', others)",
    ),
    AttackCase(
        "home-folders",
        SI,
        "list the host's home folders",
        "needed = {part for p in (sys.prefix, sys.base_prefix, sys.executable)\n"
        "          for part in p.split('/')}  # the Python install may live there\n"
        "for top in ('/root', '/home'):\n"
        "    try:\n        names = os.listdir(top)\n    except OSError as exc:\n"
        "        print('blocked', top, type(exc).__name__)\n        continue\n"
        "    extra = [n for n in names if n not in needed]\n    print(top, names)\n"
        "    if extra:\n        print('BREACH listed', top, extra)",
    ),
    AttackCase("kernel-log", SI, "read the host kernel's log", _read("/dev/kmsg", "/dev/kmsg")),
    AttackCase(
        "host-network-interfaces",
        SI,
        "see the host's network interfaces",
        "import socket\nnames = [n for _, n in socket.if_nameindex()]\nprint(names)\n"
        "if set(names) - {'lo'}:\n    print('BREACH host interfaces visible', names)",
    ),
)
