"""The OpenAI-compatible HTTP backend: against a real ``llama_cpp.server`` serving the tiny
model on loopback, and against a small scripted SSE server on loopback for the protocol cases a
random-weight model cannot be made to produce (streamed tool-call arguments, 503s, servers that
reject tools, stalls)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from models import (
    ChatMessage,
    HttpOptions,
    ModelConnectionError,
    ModelError,
    SamplingParams,
    load_model,
)
from models.http_backend import HttpBackend
from tests.models_fixtures import free_port, llama_server, split_stream, tiny_gguf

__all__ = ["tiny_gguf"]  # a fixture, imported for pytest

QUESTION = [ChatMessage.system("You analyse data."), ChatMessage.user("Mean of 1, 2, 3?")]


@pytest.fixture(scope="module")
def server_url(tiny_gguf: Path) -> Iterator[str]:
    with llama_server(tiny_gguf) as url:
        yield url


def backend(url: str, **options: Any) -> HttpBackend:
    result = load_model(f"{url}#tiny", **options)
    assert isinstance(result, HttpBackend)
    return result


# -- against llama_cpp.server -------------------------------------------------------------


async def test_text_mode_streams(server_url: str) -> None:
    model = backend(server_url, tools="text")
    items = [
        i async for i in model.stream(QUESTION, sampling=SamplingParams(seed=1, max_tokens=24))
    ]
    text, code, result = split_stream(items)
    assert text == result.text and code == (result.code or "")
    assert result.finish_reason in ("stop", "length")
    assert result.usage.prompt_tokens > 0 and result.usage.estimated  # this server sends none
    await model.aclose()


async def test_native_forced_call(server_url: str) -> None:
    model = backend(server_url)
    items = [
        i
        async for i in model.stream(
            QUESTION, code_tool="required", sampling=SamplingParams(seed=2, max_tokens=40)
        )
    ]
    text, code, result = split_stream(items)
    assert result.is_code and result.code == code and text == result.text
    assert result.call_id  # the server's id
    # The call and its output go back as native tool messages, which the server accepts.
    convo = [*QUESTION, result.to_message(), ChatMessage.tool(result.call_id or "", "2.0")]
    again = await model.chat(convo, sampling=SamplingParams(seed=2, max_tokens=10))
    assert again.finish_reason in ("stop", "length")
    await model.aclose()


async def test_same_seed_same_output(server_url: str) -> None:
    model = backend(server_url, tools="text")
    sampling = SamplingParams(seed=5, temperature=1.0, max_tokens=20)
    first, second = [await model.chat(QUESTION, sampling=sampling) for _ in range(2)]
    assert (first.text, first.code) == (second.text, second.code)
    await model.aclose()


async def test_cancel_then_serve_again(server_url: str) -> None:
    model = backend(server_url, tools="text")
    cancel = asyncio.Event()
    items = []
    async for item in model.stream(
        QUESTION, cancel=cancel, sampling=SamplingParams(seed=3, max_tokens=1000)
    ):
        items.append(item)
        cancel.set()
    _, _, result = split_stream(items)
    assert result.finish_reason == "cancelled" and len(items) <= 3
    after = await model.chat(QUESTION, sampling=SamplingParams(seed=3, max_tokens=5))
    assert after.finish_reason in ("stop", "length")
    await model.aclose()


async def test_connection_refused_is_retried_then_reported() -> None:
    model = backend(f"http://127.0.0.1:{free_port()}/v1", retries=2, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(ModelConnectionError, match="3 attempts"):
        await model.chat(QUESTION)
    assert 0.15 <= time.monotonic() - started < 10  # backoff 0.05 + 0.1, generously bounded
    await model.aclose()


# -- against a scripted SSE server ----------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    chunks: list[dict[str, Any]] = field(default_factory=list)
    body: str = ""
    stall: bool = False  # send headers, then nothing until the test ends


@dataclass
class ScriptedServer:
    replies: list[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        self.requests.append(json.loads(await reader.readexactly(length)))
        reply = self.replies.pop(0)
        if reply.status != 200:
            body = reply.body.encode()
            writer.write(
                f"HTTP/1.1 {reply.status} X\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            )
            if reply.stall:
                await writer.drain()
                await self.release.wait()
            for chunk in reply.chunks:
                writer.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
            writer.write(b"data: [DONE]\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer([])
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/v1"
    yield server
    server.release.set()
    listener.close()
    await listener.wait_closed()


def content(*pieces: str, finish: str = "stop") -> list[dict[str, Any]]:
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    return [*chunks, {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}]


async def test_streamed_tool_call_arguments(scripted: ScriptedServer) -> None:
    source = 'print("a\\tb")\nx = "é😀"'
    args = json.dumps({"code": source})
    cut = [0, 5, 11, 12, 13, 20, len(args) - 3, len(args)]
    scripted.replies.append(
        Reply(
            chunks=[
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": "call_7",
                                        "type": "function",
                                        "function": {"name": "python", "arguments": ""},
                                    }
                                ]
                            },
                        }
                    ]
                },
                *[
                    {
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {"index": 0, "function": {"arguments": args[a:b]}}
                                    ]
                                },
                            }
                        ]
                    }
                    for a, b in itertools.pairwise(cut)
                ],
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 50,
                        "completion_tokens": 9,
                        "prompt_tokens_details": {"cached_tokens": 40},
                    },
                },
            ]
        )
    )
    model = backend(scripted.url)
    items = [i async for i in model.stream(QUESTION)]
    _, code, result = split_stream(items)
    assert code == result.code == source and result.call_id == "call_7"
    assert sum(1 for i in items[:-1]) >= 3  # the code arrived in pieces
    assert (result.usage.prompt_tokens, result.usage.cached_tokens, result.usage.estimated) == (
        50,
        40,
        False,
    )
    sent = scripted.requests[0]
    assert sent["tools"][0]["function"]["name"] == "python" and sent["stream"] is True


async def test_503_is_retried(scripted: ScriptedServer) -> None:
    scripted.replies += [Reply(503, body="busy"), Reply(chunks=content("The mean ", "is 2."))]
    result = await backend(scripted.url, backoff_s=0.01).chat(QUESTION)
    assert result.text == "The mean is 2." and not result.is_code
    assert len(scripted.requests) == 2


async def test_rejected_tools_fall_back_to_text(scripted: ScriptedServer) -> None:
    fenced = ("Let me compute.\n", "```python\nprint(", "sum([1, 2, 3]) / 3)\n```", "\nOutput: 2")
    scripted.replies += [
        Reply(400, body='{"error": "tools are not supported by this model"}'),
        Reply(chunks=content(*fenced)),
        Reply(chunks=content("done")),
    ]
    model = backend(scripted.url)
    items = [i async for i in model.stream(QUESTION)]
    text, code, result = split_stream(items)
    assert result.code == code == "print(sum([1, 2, 3]) / 3)"
    assert result.text == text == "Let me compute.\n"  # the invented output after it is dropped
    assert "tools" in scripted.requests[0] and "tools" not in scripted.requests[1]
    assert "```python" in scripted.requests[1]["messages"][0]["content"]  # described in text
    convo = [*QUESTION, result.to_message(), ChatMessage.tool(result.call_id or "", "2.0")]
    await model.chat(convo)
    rendered = scripted.requests[2]["messages"]
    assert "tools" not in scripted.requests[2]
    assert rendered[-1]["role"] == "user" and rendered[-1]["content"].endswith("2.0")


async def test_malformed_call_read_from_text(scripted: ScriptedServer) -> None:
    scripted.replies.append(
        Reply(chunks=content('{"name": "python", ', '"arguments": {"code": "x = 1"}}'))
    )
    items = [i async for i in backend(scripted.url, tools="text").stream(QUESTION)]
    text, code, result = split_stream(items)
    assert result.code == code == "x = 1" and result.text == text
    assert "tools" not in scripted.requests[0]


async def test_length_finish_and_error_chunk(scripted: ScriptedServer) -> None:
    scripted.replies += [
        Reply(chunks=content("abc", finish="length")),
        Reply(chunks=[{"error": {"message": "model crashed"}}]),
    ]
    model = backend(scripted.url)
    assert (await model.chat(QUESTION)).finish_reason == "length"
    with pytest.raises(ModelError, match="model crashed"):
        await model.chat(QUESTION)


async def test_stalled_stream_times_out(scripted: ScriptedServer) -> None:
    scripted.replies.append(Reply(stall=True))
    model = backend(scripted.url, read_timeout_s=0.3, retries=0)
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out"):
        await model.chat(QUESTION)
    assert time.monotonic() - started < 10


def test_options_are_typed() -> None:
    assert HttpOptions().retries >= 1
