"""The attack catalogue as data (ids, categories, templates) and the report's printers, plus
the seccomp layer it relies on. Fast: no case is run here except through tiny fakes."""

from __future__ import annotations

import ast
from collections import Counter
from string import Template

import pytest

from engine.devtools.security import CASES, CaseResult, Category, Outcome, SecurityReport
from engine.devtools.security.arena import Arena
from engine.devtools.security.catalogue import PRELUDE, AttackCase, cases_by_id
from sandbox import AsyncSession, IsolationLevel, SandboxConfig, seccomp
from tests.conftest import TEST_LIMITS

TEMPLATE_NAMES = {
    "secret_path",
    "root_only_path",
    "drop_dir",
    "arena",
    "data_dir",
    "store_db",
    "store_file",
    "tcp_port",
    "udp_port",
    "unix_socket",
    "abstract_name",
    "server_pid",
    "runner_pid",
    "marker",
    "victim_workspace",
    "victim_run_dir",
    "victim_connection_file",
    "victim_kernel_pid",
    "sessions_root",
    "launcher",
    "level",
    "memory_mb",
}


def test_at_least_sixty_cases_with_unique_ids_in_every_category() -> None:
    assert len(CASES) >= 60
    assert len(cases_by_id()) == len(CASES)
    per_category = Counter(case.category for case in CASES)
    assert set(per_category) == set(Category)
    assert all(count >= 5 for count in per_category.values()), per_category


def test_every_case_has_an_attack_and_a_description() -> None:
    for case in CASES:
        assert case.code is not None or case.request is not None, case.id
        assert case.description, case.id
        assert case.id == case.id.lower() and " " not in case.id


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attack_code_is_valid_python_once_filled_in(case: AttackCase) -> None:
    values = {
        name: "1" if name.endswith(("_pid", "_port", "_mb")) else f"/x/{name}"
        for name in TEMPLATE_NAMES
    }
    for code in (case.code, case.followup):
        if code is not None:
            ast.parse(PRELUDE + Template(code).substitute(values))


def test_arena_values_are_the_documented_names() -> None:
    with Arena() as arena:
        values = arena.values()
        assert arena.canary not in "".join(values.values())
        assert arena.server_alive() and arena.secret_intact()
    assert set(values) <= TEMPLATE_NAMES
    assert not arena.root.exists()


def test_report_prints_a_matrix_by_level() -> None:
    levels = [IsolationLevel.BUBBLEWRAP, IsolationLevel.NONE]
    report = SecurityReport(levels, CASES[:2])
    report.add(CaseResult(CASES[0].id, str(CASES[0].category), levels[0], Outcome.HELD, "ok"))
    report.add(
        CaseResult(CASES[0].id, str(CASES[0].category), levels[1], Outcome.BREACHED, "read it")
    )
    text = report.markdown()
    assert "| case | category | bubblewrap | none |" in text
    assert f"| {CASES[0].id} |" in text and "**BREACHED**" in text
    assert "read it" in text
    assert report.counts(levels[1])[Outcome.BREACHED] == 1
    from rich.console import Console

    console = Console(record=True, width=160)
    report.print(console)
    assert CASES[0].id in console.export_text()


def test_seccomp_program_compiles() -> None:
    if seccomp.unavailable():
        pytest.skip(f"no seccomp here: {seccomp.unavailable()}")
    program = seccomp.program()
    assert program is not None and len(program) % 8 == 0


async def test_kernel_runs_under_the_seccomp_filter() -> None:
    if seccomp.unavailable():
        pytest.skip(f"no seccomp here: {seccomp.unavailable()}")
    async with await AsyncSession.start(SandboxConfig(limits=TEST_LIMITS)) as session:
        result = await session.execute(
            "import subprocess, multiprocessing as mp\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')])\n"
            "print(subprocess.run(['unshare', '-U', 'true']).returncode != 0)\n"
            "print(subprocess.run(['sh', '-c', 'echo child']).returncode)\n"
            "with mp.Pool(2) as pool:\n    print(pool.map(abs, [-3]))"
        )
    assert result.ok, result.error
    assert result.stdout.split("\n")[:4] == ["['2']", "True", "child", "0"]


def test_arena_settles_once_its_listeners_have_read_everything() -> None:
    """What reached a listener is recorded when `settle()` returns: no sleep to guess it."""
    import socket

    with Arena() as arena:
        assert arena.settle()
        with socket.create_connection(("127.0.0.1", arena.tcp_port)) as conn:
            conn.sendall(b"exfiltrated")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"datagram", ("127.0.0.1", arena.udp_port))
        assert arena.settle()
        received = arena.listener.take()
    assert ("tcp", b"exfiltrated") in received and ("udp", b"datagram") in received
