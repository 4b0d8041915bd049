"""Running one cell against the kernel: the deadline, interrupts, the quota watch, and knowing
when the cell really ended.

The code runs inside the kernel and can send any message, a `status: idle` or an
`execute_reply` for its own request included. So a cell ends only when three things came: the
idle status and the execute reply for the request, and the reply to a `kernel_info_request`
sent right behind it. The kernel handles shell requests one at a time, so that last reply
cannot come while the cell's code still runs (it costs no extra round trip: it is answered as
soon as the cell is done), and its msg_id is unknown to the code. Until then the deadline
holds: a cell that faked its end is interrupted, then killed, as any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from .capture import OutputCollector
from .kernel import KernelProcess
from .limits import Limits
from .messages import Channel, KernelMessage
from .results import Execution

#: How often a running cell's workspace size is checked.
DISK_CHECK_INTERVAL = 0.5


@dataclass(frozen=True)
class CellEnd:
    """How a cell ended: `done` (the kernel finished it, perhaps after an interrupt),
    `exited` (the kernel died), `stuck` (it did not stop within the grace after an interrupt)."""

    how: Literal["done", "exited", "stuck"]
    over_quota: bool


class CellRun:
    def __init__(
        self,
        kernel: KernelProcess,
        execution: Execution,
        collector: OutputCollector,
        *,
        limits: Limits,
        timeout: float,
        cancel: asyncio.Event,
        over_quota: Callable[[], Awaitable[bool]],
    ) -> None:
        self.kernel = kernel
        self.execution = execution
        self.collector = collector
        self.limits = limits
        self.timeout = timeout
        self.cancel = cancel
        self.over_quota = over_quota

    async def run(self) -> CellEnd:
        client = self.kernel.client
        assert client is not None
        iopub, shell = Channel(client.get_iopub_msg), Channel(client.get_shell_msg)
        msg_id = client.execute(
            self.execution.code, store_history=True, allow_stdin=False, stop_on_error=False
        )
        probe_id = client.kernel_info()
        futures: dict[str, asyncio.Future[Any]] = {
            "iopub": asyncio.ensure_future(iopub.next()),
            "shell": asyncio.ensure_future(shell.next()),
            "exited": asyncio.ensure_future(self.kernel.wait_exit()),
            "cancelled": asyncio.ensure_future(self.cancel.wait()),
        }
        try:
            return await self._loop(msg_id, probe_id, futures, iopub, shell)
        finally:
            for future in futures.values():
                if not future.done():
                    future.cancel()
            if iopub.malformed or shell.malformed:
                self.execution.notices.append(
                    f"[airlock] {iopub.malformed + shell.malformed} malformed message(s) from "
                    "the kernel ignored"
                )

    async def _loop(
        self,
        msg_id: str,
        probe_id: str,
        futures: dict[str, asyncio.Future[Any]],
        iopub: Channel,
        shell: Channel,
    ) -> CellEnd:
        kernel, limits, execution = self.kernel, self.limits, self.execution
        start = time.monotonic()
        deadline = start + self.timeout
        interrupted_at: float | None = None
        over_quota = False
        next_disk_check = start + DISK_CHECK_INTERVAL
        idle = replied = probed = False
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= deadline:
                execution.timed_out = True
                interrupted_at = now
                kernel.interrupt()
            if interrupted_at is not None and now >= interrupted_at + limits.interrupt_grace:
                return CellEnd("stuck", over_quota)
            if now >= next_disk_check:
                next_disk_check = now + DISK_CHECK_INTERVAL
                if interrupted_at is None and await self.over_quota():
                    over_quota = True
                    interrupted_at = now
                    kernel.interrupt()
            wake = min(
                next_disk_check,
                (interrupted_at + limits.interrupt_grace)
                if interrupted_at is not None
                else deadline,
            )
            done, _ = await asyncio.wait(
                futures.values(), timeout=max(0.0, wake - now), return_when=asyncio.FIRST_COMPLETED
            )
            if futures["cancelled"] in done:
                futures["cancelled"] = asyncio.get_running_loop().create_future()  # never again
                execution.cancelled = True
                if interrupted_at is None:
                    interrupted_at = time.monotonic()
                    kernel.interrupt()
            if futures["exited"] in done:
                return CellEnd("exited", over_quota)
            if futures["iopub"] in done:
                message: KernelMessage | None = futures["iopub"].result()
                futures["iopub"] = asyncio.ensure_future(iopub.next())
                if message is not None and message.parent_id == msg_id:
                    idle = self.collector.handle(message) or idle
            if futures["shell"] in done:
                message = futures["shell"].result()
                futures["shell"] = asyncio.ensure_future(shell.next())
                if message is not None and message.parent_id == msg_id:
                    replied = replied or message.msg_type == "execute_reply"
                elif message is not None and message.parent_id == probe_id:
                    probed = probed or message.msg_type == "kernel_info_reply"
            if idle and replied and probed:
                return CellEnd("done", over_quota)
