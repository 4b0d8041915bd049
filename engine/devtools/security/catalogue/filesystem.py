"""Filesystem manipulation: writes outside the workspace, planted links, hostile archives."""

from __future__ import annotations

from .model import _SYSCALLS, FS, AttackCase
from .requests import _host_reads_case, _upload_through_link

_TAR_SYMLINK = """\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    link = tarfile.TarInfo('escape'); link.type = tarfile.SYMTYPE; link.linkname = '$drop_dir'
    tar.addfile(link)
    data = b'written through a link member'
    member = tarfile.TarInfo('escape/tar-symlink-$marker'); member.size = len(data)
    tar.addfile(member, io.BytesIO(data))
buffer.seek(0)
os.makedirs('/mnt/data/tarout', exist_ok=True)
with tarfile.open(fileobj=buffer) as tar:
    for member in tar.getmembers():
        try:
            tar.extract(member, '/mnt/data/tarout', filter='fully_trusted')
        except Exception as exc:
            print('blocked', member.name, type(exc).__name__, exc)
if os.path.exists('$drop_dir/tar-symlink-$marker'):
    print('BREACH landed on the host')
"""

_TAR_ABSOLUTE = """\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    for name in ('$drop_dir/tar-absolute-$marker', '../../../../../../$drop_dir/tar-dotdot-$marker',
                 '/tmp/$marker-tar'):
        data = b'escaped'
        member = tarfile.TarInfo(name); member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
buffer.seek(0)
os.makedirs('/mnt/data/tarout', exist_ok=True)
with tarfile.open(fileobj=buffer) as tar:
    for member in tar.getmembers():
        # A naive extractor: joins the member's name to the folder as it is.
        target = os.path.normpath(os.path.join('/mnt/data/tarout', member.name))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'wb') as out:
                out.write(tar.extractfile(member).read())
            print('wrote', target)
        except OSError as exc:
            print('blocked', target, type(exc).__name__)
"""

_TAR_HARDLINK = """\
import io, tarfile
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode='w') as tar:
    link = tarfile.TarInfo('copy.txt'); link.type = tarfile.LNKTYPE; link.linkname = '$secret_path'
    tar.addfile(link)
buffer.seek(0)
with tarfile.open(fileobj=buffer) as tar:
    try:
        tar.extractall('/mnt/data/hardout', filter='fully_trusted')
        print(open('/mnt/data/hardout/copy.txt').read())
    except Exception as exc:
        print('blocked', type(exc).__name__, exc)
"""

_ZIP_SLIP = """\
import io, zipfile
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, 'w') as z:
    z.writestr('../../../../../../$drop_dir/zip-slip-$marker', 'escaped')
    z.writestr('$drop_dir/zip-absolute-$marker', 'escaped')
    z.writestr('../../../../../../tmp/$marker-zip', 'escaped')
os.makedirs('/mnt/data/zipout', exist_ok=True)
with zipfile.ZipFile(buffer) as z:
    z.extractall('/mnt/data/zipout')  # zipfile's own extraction
    for name in z.namelist():  # and a naive one
        target = os.path.normpath(os.path.join('/mnt/data/zipout', name))
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, 'w').write('escaped')
            print('wrote', target)
        except OSError as exc:
            print('blocked', target, type(exc).__name__)
"""

CASES: tuple[AttackCase, ...] = (
    AttackCase(
        "write-usr",
        FS,
        "write into /usr",
        "attempt('write /usr', lambda: open('/usr/$marker', 'w').write('x'))",
    ),
    AttackCase(
        "write-etc",
        FS,
        "write into /etc",
        "attempt('write /etc', lambda: open('/etc/$marker', 'w').write('x'))",
    ),
    AttackCase(
        "write-python-env",
        FS,
        "write into the kernel's Python environment",
        "import sysconfig\nfor key in ('purelib', 'stdlib'):\n"
        "    path = sysconfig.get_paths()[key]\n"
        "    attempt('write ' + path, lambda: open(path + '/$marker.py', 'w').write('x'))",
    ),
    AttackCase(
        "overwrite-launcher",
        FS,
        "overwrite Airlock's sandbox launcher",
        "for path in ('$launcher', '/opt/airlock/launcher.py'):\n"
        "    attempt('overwrite ' + path, lambda: open(path, 'a').write('#'))",
    ),
    AttackCase(
        "write-host-shared-folder",
        FS,
        "write into a world-writable host folder",
        "attempt('write drop', lambda: open('$drop_dir/$marker', 'w').write('x'))",
    ),
    AttackCase(
        "write-host-tmp",
        FS,
        "write into the host's /tmp and /var/tmp",
        "for folder in ('/tmp', '/var/tmp'):\n    open(f'{folder}/$marker-write', 'w').write('x')",
    ),
    AttackCase(
        "write-host-dev-shm",
        FS,
        "write into the host's /dev/shm",
        "open('/dev/shm/$marker-write', 'w').write('x')",
    ),
    AttackCase(
        "write-run-folder",
        FS,
        "store files in the kernel's own run folder, outside the workspace quota",
        "run = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
        "attempt('write run folder', lambda: open(run + '/junk', 'w').write('x'))",
    ),
    AttackCase(
        "mknod-device",
        FS,
        "create a block device node for the host's disk",
        "import stat\nattempt('mknod', lambda: os.mknod('/mnt/data/disk', "
        "stat.S_IFBLK | 0o600, os.makedev(8, 0)))",
    ),
    AttackCase("mount-tmpfs", FS, "mount a file system", _SYSCALLS["mount"]),
    AttackCase("chroot", FS, "chroot into the workspace", _SYSCALLS["chroot"]),
    AttackCase(
        "symlink-download",
        FS,
        "plant a symlink to a host file in /mnt/data; the host reads and copies it out",
        "os.symlink('$secret_path', '/mnt/data/link.txt')",
        request=_host_reads_case("link.txt"),
    ),
    AttackCase(
        "hardlink-download",
        FS,
        "plant a hard link to a host file in /mnt/data; the host reads and copies it out",
        "attempt('hard link', lambda: os.link('$secret_path', '/mnt/data/hard.txt'))",
        request=_host_reads_case("hard.txt"),
    ),
    AttackCase(
        "proc-link-download",
        FS,
        "plant a symlink to the server's /proc environ",
        "os.symlink('/proc/$server_pid/environ', '/mnt/data/environ.txt')",
        request=_host_reads_case("environ.txt"),
    ),
    AttackCase(
        "fifo-download",
        FS,
        "plant a FIFO where the host will read a file (hang it)",
        "os.mkfifo('/mnt/data/out.csv')",
        request=_host_reads_case("out.csv"),
    ),
    AttackCase(
        "upload-through-folder-link",
        FS,
        "swap a workspace folder for a link to a host folder, then have the host upload into it",
        "os.symlink('$drop_dir', '/mnt/data/sub')",
        request=_upload_through_link,
    ),
    AttackCase(
        "zip-slip", FS, "extract a zip whose members escape with ../ and absolute names", _ZIP_SLIP
    ),
    AttackCase(
        "tar-absolute-and-dotdot", FS, "extract a tar with absolute and ../ members", _TAR_ABSOLUTE
    ),
    AttackCase(
        "tar-symlink-member",
        FS,
        "extract a tar whose symlink member points at a host folder, then a file through it",
        _TAR_SYMLINK,
    ),
    AttackCase(
        "tar-hardlink-member",
        FS,
        "extract a tar whose hard-link member names a host file, then read it",
        _TAR_HARDLINK,
    ),
)
