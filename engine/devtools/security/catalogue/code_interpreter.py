"""Code interpreter specific: downloads and uploads through the engine, persistence across
sessions, the REST server, another session's kernel."""

from __future__ import annotations

from .api_server import _api_server
from .model import CI, AttackCase, _not_root_none
from .requests import _engine_download, _exec_out, _upload

_INJECT = """\
from jupyter_client import BlockingKernelClient
client = BlockingKernelClient()
try:
    client.load_connection_file('$victim_connection_file')
    client.start_channels()
    reply = client.execute_interactive(
        "open('/mnt/data/injected.txt', 'w').write('pwned')", timeout=5)
    print('BREACH ran code in the victim', reply['content']['status'])
except Exception as exc:
    print('blocked', type(exc).__name__, str(exc)[:100])
"""

CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "engine-symlink-download",
        CI,
        "a run's answer links /mnt/data/report.csv, a symlink to a host file",
        request=_engine_download("os.symlink('$secret_path', 'report.csv')", "report.csv"),
    ),
    AttackCase(
        "engine-hardlink-download",
        CI,
        "a run's answer links a hard link to a host file",
        request=_engine_download(
            "attempt('link', lambda: os.link('$secret_path', 'report.csv'))", "report.csv"
        ),
    ),
    AttackCase(
        "engine-victim-link-download",
        CI,
        "a run's answer links a symlink to another session's workspace file",
        request=_engine_download("os.symlink('$victim_workspace/victim.txt', 'v.txt')", "v.txt"),
    ),
    AttackCase(
        "engine-store-link-download",
        CI,
        "a run's answer links a symlink to another user's file in the store",
        request=_engine_download("os.symlink('$store_file', 's.csv')", "s.csv"),
    ),
    AttackCase(
        "exec-out-links",
        CI,
        "airlock exec --out on cells that plant links to host files",
        request=_exec_out(
            "open('ok.txt', 'w').write('fine')\n"
            "os.symlink('$secret_path', 'link.txt')\n"
            "attempt('link', lambda: os.link('$secret_path', 'hard.txt'))\n"
            "os.makedirs('d')\nos.symlink('$drop_dir', 'd/up')"
        ),
    ),
    AttackCase(
        "upload-name-traversal",
        CI,
        "upload named ../../<host folder>/evil.csv",
        request=_upload("../../../../../../$drop_dir/evil.csv"),
    ),
    AttackCase(
        "upload-name-absolute",
        CI,
        "upload named /etc/cron.d/evil",
        request=_upload("/etc/cron.d/evil"),
    ),
    AttackCase(
        "upload-name-backslashes",
        CI,
        "upload named ..\\..\\evil.csv",
        request=_upload("..\\..\\..\\evil.csv"),
    ),
    AttackCase("upload-name-dots", CI, "upload named ..", request=_upload("..")),
    AttackCase(
        "upload-name-control",
        CI,
        "upload named with a newline and an escape code",
        request=_upload("evil\n\x1b[31m.csv"),
    ),
    AttackCase(
        "upload-name-long", CI, "upload with a 300-byte name", request=_upload("a" * 300 + ".csv")
    ),
    AttackCase(
        "upload-name-internal",
        CI,
        "upload named like Airlock's own temporary files",
        request=_upload(".airlock-upload-0123456789abcdef"),
    ),
    AttackCase(
        "upload-over-planted-link",
        CI,
        "the code plants data.csv -> host folder; then an upload named data.csv is staged",
        "os.symlink('$drop_dir/planted.csv', '/mnt/data/data.csv')",
        request=_upload("data.csv"),
    ),
    AttackCase(
        "persist-tmp",
        CI,
        "leave a file in /tmp for the next session",
        "open('/tmp/$marker-persist', 'w').write('x')",
        followup="print('BREACH found' if os.path.exists('/tmp/$marker-persist') else 'gone')",
        fresh=True,
    ),
    AttackCase(
        "persist-dev-shm",
        CI,
        "leave a file in /dev/shm for the next session",
        "open('/dev/shm/$marker-persist', 'w').write('x')",
        followup="print('BREACH found' if os.path.exists('/dev/shm/$marker-persist') else 'gone')",
        fresh=True,
    ),
    AttackCase(
        "persist-ipython-startup",
        CI,
        "install an IPython startup file",
        "d = os.path.expanduser('~/.ipython/profile_default/startup')\n"
        "os.makedirs(d, exist_ok=True)\n"
        "open(d + '/00-pwn.py', 'w').write('airlock_pwned = True')\n"
        "for d in ('/etc/ipython', '/usr/local/etc/ipython', sys.prefix + '/etc/ipython'):\n"
        "    attempt('write ' + d, lambda: (os.makedirs(d + '/startup', exist_ok=True), "
        "open(d + '/ipython_config.py', 'w').write('x'))[1])",
        followup="print('BREACH startup ran' if 'airlock_pwned' in globals() else 'clean')",
        fresh=True,
    ),
    AttackCase(
        "persist-sitecustomize",
        CI,
        "plant sitecustomize/usercustomize and .pth files on sys.path",
        'import site\nsrc = \'import os; os.environ["AIRLOCK_PWNED"] = "1"\\n\'\n'
        "targets = [p for p in sys.path if p and os.path.isdir(p)]\n"
        "targets.append(site.getusersitepackages())\n"
        "for folder in targets:\n"
        "    for name, body in (('sitecustomize.py', src), ('usercustomize.py', src),"
        " ('$marker.pth', 'import os; os.environ[\"AIRLOCK_PWNED\"] = \"1\"\\n')):\n"
        "        try:\n            os.makedirs(folder, exist_ok=True)\n"
        "            open(os.path.join(folder, name), 'w').write(body)\n"
        "            print('planted', folder, name)\n"
        "        except OSError:\n            pass",
        followup="import subprocess\nr = subprocess.run([sys.executable, '-c', "
        "'import os; print(os.environ.get(\"AIRLOCK_PWNED\"))'], "
        "capture_output=True, text=True)\n"
        "print('BREACH customize ran' if os.environ.get('AIRLOCK_PWNED') or "
        "'1' in r.stdout else 'clean')",
        fresh=True,
    ),
    AttackCase(
        "api-server-kill-and-snoop",
        CI,
        "through the REST server (uvicorn, its own "
        "process): a run kills every server-looking process, its parent and pid 1, and "
        "reads their environments; an upload is named ../../<host folder>/evil.csv",
        request=_api_server,
        timeout=120,
        applies=_not_root_none,
    ),
    AttackCase(
        "victim-kernel-injection",
        CI,
        "connect to another session's kernel with its connection file and run code there",
        _INJECT,
    ),
)
