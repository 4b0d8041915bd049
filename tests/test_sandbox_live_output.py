"""Outputs reach `on_output` while the cell is still running, not only in the result."""

from __future__ import annotations

import asyncio

from sandbox import AsyncSession, DisplayOutput, StreamChunk


async def test_output_arrives_while_the_cell_runs(session: AsyncSession) -> None:
    # The cell prints, then waits for a file that the test writes only once it has seen the
    # print: the cell can finish only if the output arrived live.
    go = session.workspace.host_path("go")
    seen: list[StreamChunk | DisplayOutput] = []

    def on_output(output: StreamChunk | DisplayOutput) -> None:
        seen.append(output)
        if isinstance(output, StreamChunk) and "waiting" in output.text:
            go.write_text("go")

    code = (
        "import os, time\n"
        "print('waiting', flush=True)\n"
        "deadline = time.time() + 60\n"
        "while not os.path.exists('/mnt/data/go') and time.time() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('released' if os.path.exists('/mnt/data/go') else 'timed out')\n"
        "from IPython.display import display, HTML\n"
        "display(HTML('<b>x</b>'))\n"
    )
    execution = await asyncio.wait_for(session.execute(code, on_output=on_output), 90)
    assert execution.ok, execution.logs
    assert "released" in execution.stdout
    texts = "".join(o.text for o in seen if isinstance(o, StreamChunk))
    assert "waiting" in texts and "released" in texts
    assert any(isinstance(o, DisplayOutput) and "text/html" in o.data for o in seen)


async def test_live_text_is_bounded_for_a_flooding_cell(session: AsyncSession) -> None:
    limit = session.config.limits.max_output_bytes
    received = 0

    def on_output(output: StreamChunk | DisplayOutput) -> None:
        nonlocal received
        if isinstance(output, StreamChunk):
            received += len(output.text)

    code = "import sys\nfor _ in range(200):\n    sys.__stdout__.write('y' * 100_000)\n"
    await session.execute(code, on_output=on_output)
    assert 0 < received <= 2 * limit
