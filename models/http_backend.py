"""An OpenAI-compatible chat endpoint (llama.cpp's server, Ollama, vLLM, LM Studio...) over httpx.

Spec: ``http(s)://HOST:PORT/v1#MODEL``. Requests always stream (SSE). Code calls, by mode:

- "native": the ``python`` function is declared in ``tools`` and the call read from
  ``tool_calls`` (its arguments streamed as code deltas while they arrive as ``{"code": "...``).
- "text": the tool is described in the system turn, calls are written and read as ```python
  fences (``models.splitter`` while streaming, then ``models.extract`` for malformed shapes).
- "auto" (default): native, and also a one-line hint about fences, reading whichever the server
  returns; a server that rejects ``tools`` (a 4xx that names them, or a stream that dies before
  its first chunk) is switched to text mode for the rest of this backend's life.

Retries: connection failures and 502/503/504 answers are retried (``retries`` times, backoff
doubling from ``backoff_s``) as long as nothing was streamed yet; after that an error surfaces as
``ModelError``. ``read_timeout_s`` bounds the silence between chunks, ``timeout_s`` the request.
Usage comes from the server's usage chunk (``stream_options.include_usage``); servers that send
none get the word-piece estimate of ``models.tokens`` (``Usage.estimated``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .base import (
    CODE_TOOL_NAME,
    ChatMessage,
    CodeDelta,
    CodeTool,
    FinishReason,
    ModelBackend,
    ModelConnectionError,
    ModelError,
    SamplingParams,
    StreamItem,
    Usage,
    check_conversation,
    make_result,
)
from .config import HttpOptions
from .extract import code_from_arguments, extract_code, streamed_code_prefix
from .prompting import instructions, render_text_messages, with_instructions
from .splitter import ReplySplitter
from .tokens import approx_prompt_tokens, approx_tokens

PYTHON_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": CODE_TOOL_NAME,
        "description": "Run Python in a stateful Jupyter kernel; returns the output or the "
        "traceback. Files the user uploaded are in the working directory.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python to run."}},
            "required": ["code"],
        },
    },
}
_RETRY_STATUS = {502, 503, 504}
_RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)


class _ToolsRejected(Exception):
    pass


class _Retryable(Exception):
    pass


@dataclass
class _Reply:
    """What a stream has delivered so far."""

    splitter: ReplySplitter
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    streamed_code: str = ""
    finish: FinishReason = "stop"
    usage: dict[str, Any] | None = None
    emitted: bool = False
    chunks: int = 0


class HttpBackend(ModelBackend):
    def __init__(self, base_url: str, model: str, options: HttpOptions | None = None) -> None:
        self.options = options or HttpOptions()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{self.base_url}#{model}"
        self._native_ok = self.options.tools != "text"
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        # An AsyncClient's pool belongs to one event loop (the sync facade runs its own).
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            o = self.options
            headers = dict(o.headers)
            key = o.api_key or (os.environ.get(o.api_key_env) if o.api_key_env else None)
            if key:
                headers["Authorization"] = f"Bearer {key}"
            timeout = httpx.Timeout(o.read_timeout_s, connect=o.connect_timeout_s)
            self._clients[loop] = httpx.AsyncClient(headers=headers, timeout=timeout)
        return self._clients[loop]

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        loop = asyncio.get_running_loop()
        for client_loop, client in clients.items():
            if client_loop is loop:
                await client.aclose()

    def _body(
        self, messages: Sequence[ChatMessage], code_tool: CodeTool, s: SamplingParams, native: bool
    ) -> dict[str, Any]:
        if native and code_tool:
            rendered = with_instructions(
                [_native_message(m) for m in messages],
                instructions(code_tool, native=True) if self.options.tools == "auto" else "",
            )
        else:
            rendered = render_text_messages(messages, code_tool, tool_role=self.options.tool_role)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": rendered,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        if native and code_tool:
            body["tools"] = [PYTHON_TOOL]
            body["tool_choice"] = (
                {"type": "function", "function": {"name": CODE_TOOL_NAME}}
                if code_tool == "required"
                else "auto"
            )
        return body

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        check_conversation(messages)
        s = sampling or SamplingParams()
        deadline = time.monotonic() + self.options.timeout_s
        attempt = 0
        while True:
            native = self._native_ok and bool(code_tool)
            body = self._body(messages, code_tool, s, native)
            reply = _Reply(ReplySplitter(detect_code=bool(code_tool)))
            try:
                async for item in self._attempt(body, reply, deadline, cancel):
                    reply.emitted = True
                    yield item
                break
            except _ToolsRejected:
                if self.options.tools == "native":
                    raise ModelError(f"{self.name}: the server rejected tools") from None
                self._native_ok = False
            except _Retryable as exc:
                if reply.emitted or attempt >= self.options.retries:
                    raise ModelConnectionError(
                        f"{self.name}: {exc} (after {attempt + 1} attempts)"
                    ) from exc
                await _sleep_unless(self.options.backoff_s * 2**attempt, cancel)
                attempt += 1
            if cancel is not None and cancel.is_set():
                reply.finish = "cancelled"
                break
        for item in self._finish(reply, body, bool(code_tool)):
            yield item

    async def _attempt(
        self,
        body: dict[str, Any],
        reply: _Reply,
        deadline: float,
        cancel: asyncio.Event | None,
    ) -> AsyncIterator[StreamItem]:
        url = self.base_url + "/chat/completions"
        answered = False
        try:
            async with self._client().stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    await self._raise_for_status(response, "tools" in body)
                answered = True
                lines = response.aiter_lines()
                while (line := await _next_line(lines, cancel)) is not None:
                    if time.monotonic() > deadline:
                        raise ModelError(f"{self.name}: no complete answer within the timeout")
                    for item in self._on_line(line, reply):
                        yield item
                    if reply.finish == "cancelled" or reply.splitter.done:
                        return
                if cancel is not None and cancel.is_set():
                    reply.finish = "cancelled"
                elif not reply.chunks and "tools" in body and self.options.tools == "auto":
                    raise _ToolsRejected("an empty stream")
        except _RETRY_ERRORS as exc:
            if answered and not reply.chunks and "tools" in body and self.options.tools == "auto":
                # Accepted, then died before a chunk: llama-cpp-python's server does this for
                # tool requests its chat format cannot stream.
                raise _ToolsRejected(str(exc)) from exc
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise ModelError(f"{self.name}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    async def _raise_for_status(self, response: httpx.Response, sent_tools: bool) -> None:
        detail = (await response.aread()).decode("utf-8", errors="replace")[:500]
        if response.status_code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {detail}")
        if sent_tools and 400 <= response.status_code < 500 and "tool" in detail.lower():
            raise _ToolsRejected(detail)
        raise ModelError(f"{self.name}: HTTP {response.status_code}: {detail}")

    def _on_line(self, line: str, reply: _Reply) -> list[StreamItem]:
        if not line.startswith("data:"):
            return []  # SSE comments, event names, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            return []
        reply.chunks += 1
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ModelError(f"{self.name}: malformed stream chunk {data[:200]!r}") from exc
        if "error" in chunk:
            raise ModelError(f"{self.name}: server error: {chunk['error']}")
        if isinstance(chunk.get("usage"), dict):
            reply.usage = chunk["usage"]
        out: list[StreamItem] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and not reply.calls:
                out.extend(reply.splitter.feed(delta["content"]))
            for call in delta.get("tool_calls") or []:
                out.extend(self._on_tool_delta(call, reply))
            reason = choice.get("finish_reason")
            if reason == "length":
                reply.finish = "length"
        return out

    def _on_tool_delta(self, call: dict[str, Any], reply: _Reply) -> list[StreamItem]:
        index = int(call.get("index", 0))
        entry = reply.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        function = call.get("function") or {}
        entry["id"] = call.get("id") or entry["id"]
        name = function.get("name") or ""
        if name and name != entry["name"]:  # some servers repeat the whole name in every chunk
            entry["name"] += name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some servers send the object whole
            arguments = json.dumps(arguments)
        entry["arguments"] += arguments or ""
        if index != min(reply.calls) or entry["name"] not in ("", CODE_TOOL_NAME):
            return []
        prefix = streamed_code_prefix(entry["arguments"])
        if prefix is None or len(prefix) <= len(reply.streamed_code):
            return []
        new = prefix[len(reply.streamed_code) :]
        reply.streamed_code = prefix
        return [CodeDelta(new)]

    def _finish(self, reply: _Reply, body: dict[str, Any], code_tool: bool) -> list[StreamItem]:
        out: list[StreamItem] = list(reply.splitter.finish())
        text = reply.splitter.text
        code, call_id = reply.splitter.code_text, None
        python_calls = [c for c in reply.calls.values() if c["name"] in ("", CODE_TOOL_NAME)]
        if python_calls:
            codes = [code_from_arguments(c["arguments"]) or "" for c in python_calls]
            code, call_id = "\n\n".join(codes), python_calls[0]["id"] or None
        elif code is None and code_tool and reply.finish != "cancelled":
            found = extract_code(text)
            code = found.code if found is not None else None
        streamed = reply.streamed_code if python_calls else reply.splitter.code_text or ""
        if code is not None:
            if code.startswith(streamed):
                rest = code[len(streamed) :]
            else:  # deltas cannot be taken back: keep what was streamed
                code, rest = streamed, ""
            if rest:
                out.append(CodeDelta(rest))
        out.append(
            make_result(
                text,
                code,
                self._usage(reply, body, text + (code or "")),
                reply.finish,
                model=self.name,
                call_id=call_id,
            )
        )
        return out

    def _usage(self, reply: _Reply, body: dict[str, Any], output: str) -> Usage:
        u = reply.usage
        if u and isinstance(u.get("prompt_tokens"), int):
            details = u.get("prompt_tokens_details") or {}
            return Usage(
                u["prompt_tokens"],
                int(u.get("completion_tokens") or 0),
                cached_tokens=int(details.get("cached_tokens") or 0),
            )
        contents = [json.dumps(m.get("content") or "") for m in body["messages"]]
        return Usage(approx_prompt_tokens(contents), approx_tokens(output), estimated=True)


def _native_message(message: ChatMessage) -> dict[str, Any]:
    if message.code_call is not None:
        call = message.code_call
        rendered: dict[str, Any] = {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {
                        "name": CODE_TOOL_NAME,
                        "arguments": json.dumps({"code": call.code}),
                    },
                }
            ],
        }
        if message.content:  # omitted, not null, when empty: some servers reject null
            rendered["content"] = message.content
        return rendered
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.call_id, "content": message.content}
    return {"role": message.role, "content": message.content}


async def _next_line(lines: AsyncIterator[str], cancel: asyncio.Event | None) -> str | None:
    """The next SSE line, or None at the end of the stream or once ``cancel`` is set."""
    if cancel is None:
        return await anext(lines, None)
    if cancel.is_set():
        return None
    reader = asyncio.ensure_future(anext(lines, None))
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if reader.done():
        return reader.result()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await reader
    return None


async def _sleep_unless(seconds: float, cancel: asyncio.Event | None) -> None:
    if cancel is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cancel.wait(), seconds)
