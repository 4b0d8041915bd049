"""Shared fixtures for the models tests: a tiny random-weight GGUF, backends over it, and a
real ``llama_cpp.server`` serving it on loopback. Import the ones a test module uses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.base import ChatResult, CodeDelta, StreamItem, TextDelta
from models.config import LlamaOptions
from models.tiny_gguf import write_tiny_gguf

SERVER_START_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gguf", reason="gguf (the llama extra) is not installed")
    pytest.importorskip("numpy", reason="numpy is not installed")
    return write_tiny_gguf(tmp_path_factory.mktemp("models") / "tiny.gguf", n_ctx=4096)


def _llama(path: Path, **options: object) -> Iterator[object]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the llama extra) is not installed")
    from models.llama_backend import LlamaBackend

    backend = LlamaBackend(path, LlamaOptions(n_ctx=2048, n_threads=2, **options))  # type: ignore[arg-type]
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture(scope="module")
def llama_backend(tiny_gguf: Path) -> Iterator[object]:
    """Default options: a code call only ends at its closing fence (or max_tokens)."""
    yield from _llama(tiny_gguf)


@pytest.fixture(scope="module")
def bounded_backend(tiny_gguf: Path) -> Iterator[object]:
    """A grammar bounded to 2 short lines of code, so a random model always closes its call."""
    yield from _llama(tiny_gguf, code_max_lines=2, code_max_line_chars=6)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def llama_server(model: Path, *extra: str) -> Iterator[str]:
    """``python -m llama_cpp.server`` on 127.0.0.1; yields its base URL once /v1/models answers."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model_alias",
        "tiny",
        "--n_ctx",
        "2048",
        *extra,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "NO_PROXY": "*"}
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(base + "/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not come up in time")
            time.sleep(0.1)  # polling readiness of a separate process, not standing in for sync
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def split_stream(items: list[StreamItem]) -> tuple[str, str, ChatResult]:
    """(concatenated text deltas, concatenated code deltas, the final result); checks that the
    result comes once, last."""
    assert items and isinstance(items[-1], ChatResult)
    assert not any(isinstance(i, ChatResult) for i in items[:-1])
    text = "".join(i.text for i in items if isinstance(i, TextDelta))
    code = "".join(i.code for i in items if isinstance(i, CodeDelta))
    return text, code, items[-1]
