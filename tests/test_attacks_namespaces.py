"""A selection of the catalogue at the `namespaces` level (unshare, when bubblewrap is
missing): the walls it does build (network, pids, IPC, seccomp, limits, uid separation,
host-side link handling) hold there too. Its known gaps (the host's files readable, host
/dev/shm and world-writable folders shared) are shown by `airlock bench security`, not
asserted here."""

from __future__ import annotations

import pytest

from engine.devtools.security.catalogue import AttackCase, cases_by_id
from sandbox import IsolationLevel
from tests.attack_fixtures import assert_held, params

pytestmark = pytest.mark.timeout(900)

SELECTED = (
    "proc-server-environ",
    "proc-host-processes",
    "victim-workspace",
    "victim-connection-file",
    "tcp-host-loopback",
    "udp-host-loopback",
    "tcp-internet",
    "unix-socket-abstract",
    "kill-server",
    "signal-victim-kernel",
    "ptrace-server",
    "user-namespace",
    "io-uring",
    "keyctl",
    "write-usr",
    "symlink-download",
    "engine-symlink-download",
    "fork-bomb",
    "memory-bomb-children",
    "persist-tmp",
)
_CASES = tuple(cases_by_id()[i] for i in SELECTED)


@pytest.mark.parametrize("case", params(_CASES))
def test_attack_holds_at_namespaces(case: AttackCase) -> None:
    assert_held(IsolationLevel.NAMESPACES, case, SELECTED)
