"""The scripted backend: the n-th model call of a run gets the n-th item, statelessly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from models import ChatMessage, ModelError, SamplingParams, SyncModel, load_model
from models.scripted import ScriptedBackend
from tests.models_fixtures import split_stream

SCRIPT = [{"code": "x = 1\nprint(x)"}, {"code": "print(x + 1)"}, {"text": "x was 1, then 2."}]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))
    return path


async def run_once(backend: ScriptedBackend, question: str) -> list[ChatMessage]:
    """Drives one run as the engine will: call, append, feed back output, until text."""
    convo = [ChatMessage.system("sys"), ChatMessage.user(question)]
    for _ in range(10):
        result = await backend.chat(convo)
        convo.append(result.to_message())
        if not result.is_code:
            return convo
        convo.append(ChatMessage.tool(result.call_id or "", "output"))
        await asyncio.sleep(0)  # let concurrent runs interleave
    raise AssertionError("the run did not end")


async def test_items_in_order_then_exhausted(script: Path) -> None:
    backend = load_model(f"scripted:{script}")
    assert isinstance(backend, ScriptedBackend)
    convo = await run_once(backend, "go")
    calls = [m.code_call.code for m in convo if m.code_call]
    assert calls == ["x = 1\nprint(x)", "print(x + 1)"]
    assert convo[-1].content == "x was 1, then 2."
    # A follow-up question starts a new run of the script from its first item...
    convo.append(ChatMessage.user("again"))
    first = await backend.chat(convo)
    assert first.code == "x = 1\nprint(x)"
    # ...and past the end of the list the answer says the script is exhausted.
    long = [ChatMessage.user("q")] + [ChatMessage.assistant("a")] * 3
    last = await backend.chat(long)
    assert not last.is_code and "exhausted" in last.text


async def test_concurrent_runs_share_one_backend(script: Path) -> None:
    backend = ScriptedBackend.from_file(script)
    convos = await asyncio.gather(*(run_once(backend, f"q{i}") for i in range(5)))
    for convo in convos:
        assert [m.code_call.code for m in convo if m.code_call] == [s["code"] for s in SCRIPT[:2]]
        assert convo[-1].content == SCRIPT[2]["text"]


async def test_streams_in_deltas_that_add_up(script: Path) -> None:
    backend = ScriptedBackend.from_file(script)
    items = [i async for i in backend.stream([ChatMessage.user("go")])]
    text, code, result = split_stream(items)
    assert len(items) >= 3
    assert code == result.code == SCRIPT[0]["code"] and text == ""
    assert result.finish_reason == "stop" and result.call_id


async def test_usage_is_an_honest_estimate(script: Path) -> None:
    backend = ScriptedBackend.from_file(script)
    short = await backend.chat([ChatMessage.user("go")])
    long = await backend.chat([ChatMessage.user("go " * 100)])
    assert short.usage.estimated
    assert short.usage.completion_tokens >= len(SCRIPT[0]["code"].split())
    assert long.usage.prompt_tokens == short.usage.prompt_tokens + 99  # one token a word


async def test_cancel_event(script: Path) -> None:
    backend = ScriptedBackend.from_file(script)
    cancel = asyncio.Event()
    items = []
    async for item in backend.stream([ChatMessage.user("go")], cancel=cancel):
        items.append(item)
        cancel.set()
    _, code, result = split_stream(items)
    assert result.finish_reason == "cancelled" and result.code == code
    assert len(code) < len(SCRIPT[0]["code"])


async def test_code_items_become_text_without_the_tool(script: Path) -> None:
    result = await ScriptedBackend.from_file(script).chat([ChatMessage.user("go")], code_tool=False)
    assert not result.is_code and result.text == SCRIPT[0]["code"]


@pytest.mark.parametrize(
    "content", ['{"code": 1}', "[1]", '[{"code": "a", "text": "b"}]', "{}", "nope"]
)
def test_bad_scripts_are_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ModelError):
        load_model(f"scripted:{path}")


def test_sync_facade(script: Path) -> None:
    with SyncModel(load_model(f"scripted:{script}")) as model:
        assert model.chat([ChatMessage.user("go")], sampling=SamplingParams()).is_code
        assert len(list(model.stream([ChatMessage.user("go")]))) >= 2
