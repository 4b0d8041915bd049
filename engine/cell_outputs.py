"""A cell's `code_interpreter` outputs, streamed as the cell produces them.

Each output gets its index in the step's `outputs` list when it first appears: `logs` text is
sent in fragments at one index (the SDK concatenates them), each image at its own index once
stored. When the cell ends, what the live fragments missed (the cell's value, the traceback,
Airlock's notices) is sent as a last fragment, so the client's snapshot equals the stored step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sandbox import DisplayOutput, Execution, StreamChunk

from .events import RunEvent, step_delta

Emit = Callable[[RunEvent], None]
StoreImage = Callable[[Path], Awaitable[str]]


class CellOutputs:
    def __init__(self, step_id: str, emit: Emit, store_image: StoreImage) -> None:
        self.step_id = step_id
        self.emit = emit
        self.store_image = store_image
        self.queue: asyncio.Queue[StreamChunk | DisplayOutput | None] = asyncio.Queue()
        self.logs_index: int | None = None
        self.logs_sent = ""
        #: index -> output, in the order they appeared
        self.outputs: dict[int, dict[str, Any]] = {}
        self.image_ids: dict[Path, str] = {}

    def on_output(self, output: StreamChunk | DisplayOutput | None) -> None:
        """The sandbox's callback: queue it (storing an image must not block the cell's loop)."""
        self.queue.put_nowait(output)

    async def pump(self) -> None:
        """Send outputs until `None` is queued (the cell ended)."""
        while (output := await self.queue.get()) is not None:
            if isinstance(output, StreamChunk):
                self._send_logs(output.text)
            elif output.image_path is not None:
                await self._send_image(output.image_path)

    async def finish(self, execution: Execution) -> list[dict[str, Any]]:
        """After the pump has drained: the rest of the logs and any image not sent yet; the
        final `outputs`."""
        logs = execution.logs
        if logs.startswith(self.logs_sent):
            self._send_logs(logs[len(self.logs_sent) :])
        elif self.logs_index is not None:
            # The middle of a flood was cut from the record: the record wins.
            self.outputs[self.logs_index]["logs"] = logs
        for path in execution.images:
            if path not in self.image_ids:
                await self._send_image(path)
        return [self.outputs[index] for index in sorted(self.outputs)]

    def _send_logs(self, text: str) -> None:
        if not text:
            return
        if self.logs_index is None:
            self.logs_index = len(self.outputs)
            self.outputs[self.logs_index] = {"type": "logs", "logs": ""}
        self.outputs[self.logs_index]["logs"] += text
        self.logs_sent += text
        self._emit({"index": self.logs_index, "type": "logs", "logs": text})

    async def _send_image(self, path: Path) -> None:
        file_id = await self.store_image(path)
        self.image_ids[path] = file_id
        index = len(self.outputs)
        self.outputs[index] = {"type": "image", "image": {"file_id": file_id}}
        self._emit({"index": index, "type": "image", "image": {"file_id": file_id}})

    def _emit(self, output: dict[str, Any]) -> None:
        self.emit(
            step_delta(
                self.step_id,
                {"type": "code_interpreter", "code_interpreter": {"outputs": [output]}},
            )
        )
