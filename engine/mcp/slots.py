"""One sandbox session per MCP session: started at its first tool call, ended with the MCP
session, or after an idle time without a call.

Which calls belong to one MCP session depends on the transport. Over stdio the client started
this process for itself, so the process is the session (whatever protocol era the client
speaks): `ProcessSlots` holds one slot, closed when the server stops. Over streamable HTTP a
session is the SDK's `Connection` behind an `Mcp-Session-Id`: `ConnectionSlots` keeps the slot
in the connection's `state` and closes it from the connection's `exit_stack`, which the SDK
unwinds when the client ends the session (DELETE), the session goes idle past the SDK's
timeout, or the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from mcp.server.connection import Connection
from mcp.server.mcpserver import Context

from sandbox import AsyncSession, SandboxConfig

#: Receives one line per lifecycle event (a kernel started or ended), for the server's log.
EventSink = Callable[[str], None]

_STATE_KEY = "airlock.kernel_slot"


class KernelSlot:
    """An MCP session's sandbox: a kernel and its /mnt/data, started on first use.

    The idle clock runs only while no tool call holds the slot; past `idle_seconds` the kernel
    is ended (variables and files gone), and the next call starts a fresh one and is told so.
    """

    def __init__(self, config: SandboxConfig, idle_seconds: float, events: EventSink) -> None:
        self.id = secrets.token_hex(8)
        self.config = config
        self.idle_seconds = idle_seconds
        self.events = events
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()  # starting and ending the sandbox session
        self._turn = asyncio.Lock()  # one tool call at a time
        self._users = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self._notice: str | None = None
        self._closed = False

    @property
    def session(self) -> AsyncSession | None:
        """The running sandbox session, None before the first call and after an end."""
        return self._session

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[AsyncSession]:
        """The sandbox session for one tool call, started if there is none. Calls take turns:
        a file put in or listed never races a running cell's view of the workspace."""
        if self._closed:
            raise RuntimeError("this MCP session has ended")
        self._users += 1
        self._stop_idle_clock()
        try:
            async with self._turn:
                async with self._lock:
                    if self._session is None:
                        self._session = await AsyncSession.start(self.config)
                        self.events(
                            f"session {self.id}: kernel started "
                            f"(isolation {self._session.isolation})"
                        )
                    session = self._session
                yield session
        finally:
            self._users -= 1
            if self._users == 0 and not self._closed:
                self._start_idle_clock()

    def take_notice(self) -> str | None:
        """What happened to the kernel since the last call (an idle end), once."""
        notice, self._notice = self._notice, None
        return notice

    async def close(self, reason: str) -> None:
        """End the kernel for good: the MCP session is over."""
        if self._closed:
            return
        self._closed = True
        self._stop_idle_clock()
        await self._end(reason)

    async def _end(self, reason: str) -> None:
        session = self._session
        if session is not None:
            session.interrupt()  # a running cell stops now rather than at its time limit
        async with self._lock:
            session, self._session = self._session, None
            if session is None:
                return
            try:
                await session.close()
            except Exception as exc:  # its folders may remain; the kernel dies with us anyway
                self.events(f"session {self.id}: kernel ended ({reason}), not cleanly: {exc!r}")
            else:
                self.events(f"session {self.id}: kernel ended ({reason})")

    # -- the idle clock ------------------------------------------------------------------
    def _start_idle_clock(self) -> None:
        self._stop_idle_clock()
        if self._session is not None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self.idle_seconds, self._idle_expired)

    def _stop_idle_clock(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        self._idle_task = asyncio.ensure_future(self._end_idle())

    async def _end_idle(self) -> None:
        if self._users or self._closed or self._session is None:
            return
        self._notice = (
            f"[airlock] the previous kernel was ended after {self.idle_seconds:g} s "
            "without a call: its variables and the files in /mnt/data are gone; "
            "this is a fresh kernel"
        )
        await self._end(f"idle for {self.idle_seconds:g} s")


class Slots(Protocol):
    """Finds the slot of the MCP session a tool call belongs to."""

    def slot_for(self, ctx: Context[Any, Any]) -> KernelSlot: ...

    async def close_all(self, reason: str) -> None: ...


class ProcessSlots:
    """stdio: the process serves one client, so one slot serves every call."""

    def __init__(self, config: SandboxConfig, idle_seconds: float, events: EventSink) -> None:
        self.slot = KernelSlot(config, idle_seconds, events)

    def slot_for(self, ctx: Context[Any, Any]) -> KernelSlot:
        return self.slot

    async def close_all(self, reason: str) -> None:
        await self.slot.close(reason)


class ConnectionSlots:
    """Streamable HTTP: a slot per SDK connection (one per `Mcp-Session-Id`)."""

    def __init__(self, config: SandboxConfig, idle_seconds: float, events: EventSink) -> None:
        self.config = config
        self.idle_seconds = idle_seconds
        self.events = events
        self.live: set[KernelSlot] = set()
        self.closing: set[asyncio.Task[None]] = set()

    def slot_for(self, ctx: Context[Any, Any]) -> KernelSlot:
        connection = connection_of(ctx)
        slot = connection.state.get(_STATE_KEY)
        if isinstance(slot, KernelSlot):
            return slot
        if connection.session_id is None:
            # A 2026-07-28 request or stateless HTTP: each request is a connection of its own,
            # so a kernel would die with the call. The server refuses those before this.
            raise RuntimeError("no MCP session: connect with the initialize handshake")
        slot = KernelSlot(self.config, self.idle_seconds, self.events)
        connection.state[_STATE_KEY] = slot
        self.live.add(slot)

        async def ended() -> None:
            # On a task of its own: the SDK gives its teardown a few seconds, and a cell that
            # ignores the interrupt takes longer to kill. The server's stop waits for it.
            self.live.discard(slot)
            task = asyncio.ensure_future(slot.close("the MCP session ended"))
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)

        connection.exit_stack.push_async_callback(ended)
        return slot

    async def close_all(self, reason: str) -> None:
        for slot in list(self.live):
            self.live.discard(slot)
            await slot.close(reason)
        await asyncio.gather(*self.closing, return_exceptions=True)


def connection_of(ctx: Context[Any, Any]) -> Connection:
    """The SDK connection a tool call arrived on.

    mcp 2.x hands tools the per-request `ServerSession`, whose connection (per-connection
    `state` and `exit_stack`, the SDK's own place for per-session resources) is not yet a
    public attribute; the SDK's coming `Context.connection` will be. Checked, so that an SDK
    that moves it fails here, loudly, rather than sharing kernels between sessions.
    """
    connection = getattr(ctx.request_context.session, "_connection", None)
    if not isinstance(connection, Connection):
        raise RuntimeError("the mcp SDK did not expose the call's connection")
    return connection
