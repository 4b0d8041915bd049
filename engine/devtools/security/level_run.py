"""One isolation level's run of the attack catalogue: the victim and attacker sessions, each
case run against them, and the checks after it that a case's own check does not make (the
victim still answers and its files are untouched, the attacked session works, no process of
the attack outlived its session)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from string import Template
from typing import Any

import psutil

from sandbox import AsyncSession, IsolationLevel, Limits, SandboxConfig
from sandbox.isolation import LAUNCHER

from .arena import Arena
from .catalogue import PRELUDE, AttackCase, CaseContext, Evidence
from .report import CaseResult, Outcome

log = logging.getLogger(__name__)

VICTIM_FILE = "victim.txt"
#: Errors that mean the attack's own code is wrong, not that the sandbox stopped it.
_BROKEN_CODE = {"SyntaxError", "IndentationError", "NameError", "UnboundLocalError"}


class LevelRun:
    """The sessions and engine of one level's run."""

    def __init__(self, level: IsolationLevel, arena: Arena, limits: Limits) -> None:
        self.level = level
        self.arena = arena
        self.limits = limits
        self.config = SandboxConfig(limits=limits, isolation=level)
        self.victim: AsyncSession | None = None
        self.attacker: AsyncSession | None = None
        self.victim_content = f"the victim's data {arena.canary}\n".encode()

    async def __aenter__(self) -> LevelRun:
        await self._start_victim()
        self.attacker = await AsyncSession.start(self.config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in (self.attacker, self.victim):
            if session is not None:
                with contextlib.suppress(Exception):
                    await session.close()

    async def _start_victim(self) -> None:
        if self.victim is not None:
            with contextlib.suppress(Exception):
                await self.victim.close()
        self.victim = await AsyncSession.start(self.config)
        self.victim.put_file(VICTIM_FILE, self.victim_content)
        warm = await self.victim.execute("1+1")
        assert warm.result is not None and warm.result.text == "2", warm

    def values(self) -> dict[str, str]:
        assert self.victim is not None
        victim = self.victim
        return {
            **self.arena.values(),
            "victim_workspace": str(victim.workspace.root),
            "victim_run_dir": str(victim.kernel.run_dir),
            "victim_connection_file": str(victim.kernel.run_dir / "kernel.json"),
            "victim_kernel_pid": str(victim.kernel.kernel_pid() or 0),
            "sessions_root": str(victim.session_dir.parent),
            "launcher": str(LAUNCHER),
            "level": str(self.level),
            "memory_mb": str(self.limits.memory_mb),
        }

    @contextlib.asynccontextmanager
    async def engine(self, items: list[dict[str, str]]) -> AsyncIterator[Any]:
        from engine.core import Engine, EngineSettings
        from models.scripted import ScriptedBackend

        opened = await Engine.open(
            ScriptedBackend(items),
            self.arena.data_dir,
            settings=EngineSettings(sandbox=self.config),
        )
        try:
            yield opened
        finally:
            await opened.aclose()

    # -- one case ----------------------------------------------------------------------
    async def run(self, case: AttackCase) -> CaseResult:
        started = time.monotonic()

        output = ""

        def result(outcome: Outcome, detail: str) -> CaseResult:
            return CaseResult(
                case.id,
                str(case.category),
                self.level,
                outcome,
                detail,
                time.monotonic() - started,
                output[-1500:],
            )

        reason = case.applies(self.level) if case.applies is not None else None
        if reason is not None:
            return result(Outcome.NOT_APPLICABLE, reason)
        self.arena.reset()
        try:
            evidence, problems = await asyncio.wait_for(self._attack(case), case.timeout + 180)
            problems += await self._health()
        except Exception as exc:  # the runner's own failure, not the sandbox's
            await self._recover()
            return result(Outcome.ERROR, f"{type(exc).__name__}: {exc}")
        output = evidence.output.strip()
        broken = [
            e.error
            for e in (*evidence.executions, *evidence.followups)
            if e.error is not None and e.error.name in _BROKEN_CODE
        ]
        if broken:  # the attack never ran: its outcome says nothing about the sandbox
            return result(Outcome.ERROR, f"the attack code is broken: {broken[0]}")
        verdict = case.check(evidence)
        if not verdict.held:
            problems.insert(0, verdict.detail)
        if problems:
            return result(Outcome.BREACHED, "; ".join(problems))
        return result(Outcome.HELD, verdict.detail)

    async def _attacker(self) -> AsyncSession:
        if self.attacker is None:
            self.attacker = await AsyncSession.start(self.config)
        return self.attacker

    async def _recover(self) -> None:
        """After a runner error: fresh attacker and victim, so later cases start clean."""
        for name in ("attacker",):
            session = getattr(self, name)
            if session is not None:
                with contextlib.suppress(Exception):
                    await session.close()
                setattr(self, name, None)
        with contextlib.suppress(Exception):
            await self._start_victim()

    async def _attack(self, case: AttackCase) -> tuple[Evidence, list[str]]:
        values = self.values()
        problems: list[str] = []
        session: AsyncSession | None = None
        fresh = case.fresh and (case.code is not None or case.request is not None)
        if case.code is not None or (case.request is not None and case.fresh):
            session = await AsyncSession.start(self.config) if fresh else await self._attacker()
        elif case.request is not None:
            session = await self._attacker()
        executions = []
        try:
            if case.code is not None and session is not None:
                code = _for_level(PRELUDE + Template(case.code).substitute(values), session)
                executions.append(await session.execute(code, timeout=case.timeout))
            evidence: Evidence | None = None
            if case.request is not None:
                context = CaseContext(
                    self.arena, self.level, session, self.limits, values, self.engine
                )
                evidence = await case.request(context)
            evidence = evidence or Evidence(self.arena, self.level)
            evidence.executions[:0] = executions
            if session is not None:
                problems += await self._still_works(session, "the attacked session")
        finally:
            if fresh and session is not None:
                await session.close()
        if case.followup is not None:
            async with await AsyncSession.start(self.config) as following:
                code = _for_level(PRELUDE + Template(case.followup).substitute(values), following)
                evidence.followups.append(await following.execute(code, timeout=case.timeout))
        arena = self.arena
        if not await asyncio.to_thread(arena.settle):
            log.warning("%s: the listeners were still reading when the evidence was taken", case.id)
        evidence.received = arena.listener.take()
        evidence.dropped = arena.dropped()
        evidence.leftovers = arena.shared_leftovers()
        evidence.server_alive = arena.server_alive()
        evidence.secret_intact = arena.secret_intact()
        strays = _kill_marked(f"{arena.marker}-daemon")
        if strays:
            evidence.host_breaches.append(f"{strays} process(es) outlived the session")
        return evidence, problems

    async def _still_works(self, session: AsyncSession, what: str) -> list[str]:
        if session is self.attacker and session._closed:
            self.attacker = None
            return []
        check = await session.execute("1+1", timeout=30)
        if check.result is not None and check.result.text == "2":
            return []
        if session is self.attacker:
            with contextlib.suppress(Exception):
                await session.close()
            self.attacker = None
        return [f"{what} no longer works ({check.error or check.notices})"]

    async def _health(self) -> list[str]:
        problems: list[str] = []
        victim = self.victim
        assert victim is not None
        check = await victim.execute("1+1", timeout=30)
        if check.restart is not None or check.result is None or check.result.text != "2":
            problems.append(f"another session was harmed: {check.restart or check.error}")
        try:
            names = sorted(os.listdir(victim.workspace.root))
            content = victim.read_file(VICTIM_FILE)
        except Exception as exc:
            names, content = [f"unreadable: {exc}"], b""
        if names != [VICTIM_FILE] or content != self.victim_content:
            problems.append(f"another session's files changed: {names}")
        if problems:
            await self._start_victim()
        return problems


def _for_level(code: str, session: AsyncSession) -> str:
    """Attack code names the workspace /mnt/data; at level none there is no such mount and
    the kernel sees the workspace at its host path."""
    if session.isolation is IsolationLevel.NONE:
        return code.replace("/mnt/data", str(session.workspace.root))
    return code


def _kill_marked(token: str) -> int:
    found = 0
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if token in (process.info["cmdline"] or []):
                os.kill(process.pid, signal.SIGKILL)
                found += 1
    return found
