"""The server the REST benchmark drives: a real one on loopback, in its own process.

The child is this module started again with ``--serve-child``: uvicorn over an Engine with
``EngineSettings(kernel_pool_size=POOL)``, as ``airlock serve`` builds it, so the SDK's client
threads do not share its interpreter. Its model is scripted (``scripted:PATH``): the first call
submits a cell, the second answers in text (a light cell for latency, a pandas sum for load).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import APIConnectionError, OpenAI

REPO_ROOT = Path(__file__).resolve().parents[3]

LATENCY_CELL = "print(2+2)"
LATENCY_SCRIPT = [{"code": LATENCY_CELL}, {"text": "4"}]
WORK_CELL = (
    "import pandas as pd\ndf = pd.DataFrame({'x': range(100_000)})\nprint(int(df['x'].sum()))"
)
WORK_OUTPUT = str(sum(range(100_000)))
WORK_SCRIPT = [{"code": WORK_CELL}, {"text": f"The sum is {WORK_OUTPUT}."}]


def serve_child(data_dir: str, model: str, pool_size: int, max_sessions: int = 0) -> None:
    """The child: a uvicorn server on a free loopback port; prints {"port", "isolation"}."""
    import uvicorn

    from engine.core import Engine, EngineSettings
    from engine.server import create_app
    from sandbox import choose_level

    settings = EngineSettings(
        kernel_pool_size=pool_size, max_sessions=max_sessions or None, checkpoint_max_mb=0
    )

    async def open_engine() -> Engine:
        return await Engine.open(model, Path(data_dir) / "store", settings=settings)

    isolation = str(choose_level(settings.sandbox))
    # proto IPPROTO_TCP, as create_server(host, port) makes it: asyncio sets TCP_NODELAY on
    # accepted connections only then (with proto 0 each response waits ~40 ms for an ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1], "isolation": isolation}), flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(open_engine),
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=15,
        )
    )
    server.run(sockets=[sock])


@dataclass
class Server:
    url: str
    isolation: str
    pool_size: int
    latency_model: str
    work_model: str
    pid: int = 0

    def client(self, **kwargs: Any) -> OpenAI:
        options: dict[str, Any] = {"max_retries": 0, "timeout": 300, **kwargs}
        return OpenAI(base_url=f"{self.url}/v1", api_key="x", **options)


@contextmanager
def running_server(pool_size: int, max_sessions: int = 0) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-server-") as tmp:
        folder = Path(tmp)
        latency_model = folder / "latency-script.json"
        latency_model.write_text(json.dumps(LATENCY_SCRIPT), encoding="utf-8")
        work_model = folder / "work-script.json"
        work_model.write_text(json.dumps(WORK_SCRIPT), encoding="utf-8")
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine.devtools.bench.server_process",
                "--serve-child",
                str(folder / "data"),
                f"scripted:{latency_model}",
                str(pool_size),
                str(max_sessions),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("the server process did not start (see its log above)")
            info = json.loads(line)
            server = Server(
                f"http://127.0.0.1:{info['port']}",
                info["isolation"],
                pool_size,
                f"scripted:{latency_model}",
                f"scripted:{work_model}",
                child.pid,
            )
            _wait_ready(server, child)
            yield server
        finally:
            child.terminate()  # uvicorn shuts down gracefully on SIGTERM: the engine closes
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_ready(server: Server, child: subprocess.Popen[str]) -> None:
    client = server.client()
    deadline = time.monotonic() + 120
    while True:
        try:
            client.beta.assistants.list(limit=1)
            return
        except APIConnectionError:
            if child.poll() is not None:
                raise RuntimeError("the server process exited (see its log above)") from None
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not answer within 120 s") from None
            time.sleep(0.05)


if __name__ == "__main__" and sys.argv[1:2] == ["--serve-child"]:
    serve_child(
        sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0
    )
