"""llama.cpp in-process, through the real llama-cpp-python on a tiny random-weight GGUF.
The model writes gibberish: these tests check structure, determinism, caching and control."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from models import (
    ChatMessage,
    ChatResult,
    CodeDelta,
    ContextOverflowError,
    ModelError,
    SamplingParams,
    StreamItem,
    SyncModel,
    TextDelta,
    load_model,
)
from models.llama_backend import LlamaBackend
from models.splitter import ReplySplitter
from tests.models_fixtures import bounded_backend, llama_backend, split_stream, tiny_gguf

__all__ = ["bounded_backend", "llama_backend", "tiny_gguf"]  # fixtures, imported for pytest

QUESTION = [ChatMessage.system("You are a data analyst."), ChatMessage.user("Mean of 1, 2, 3?")]


async def collect(
    backend: LlamaBackend, messages: list[ChatMessage], **kw: object
) -> list[StreamItem]:
    return [item async for item in backend.stream(messages, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_grammar_forced_code_call_parses(bounded_backend: LlamaBackend, seed: int) -> None:
    items = await collect(
        bounded_backend,
        QUESTION,
        code_tool="required",
        sampling=SamplingParams(seed=seed, temperature=1.0, max_tokens=200),
    )
    text, code, result = split_stream(items)
    assert result.is_code and result.finish_reason == "stop"
    assert result.call_id and result.text == text == ""
    assert result.code == code
    assert len(result.code.split("\n")) <= 2
    # The call is exactly a fenced block: splitting its canonical form gives the code back.
    splitter = ReplySplitter()
    splitter.feed(f"```python\n{result.code}\n```")
    assert splitter.done and splitter.code_text == result.code


@pytest.mark.parametrize("seed", range(6))
async def test_auto_mode_gives_text_or_a_closed_call(
    bounded_backend: LlamaBackend, seed: int
) -> None:
    result = await bounded_backend.chat(
        QUESTION, sampling=SamplingParams(seed=seed, temperature=1.0, max_tokens=200)
    )
    if result.is_code:
        assert result.finish_reason == "stop" and result.text == ""
    else:
        assert result.code is None and result.call_id is None
        assert not result.text.startswith("```")


async def test_same_seed_same_output(llama_backend: LlamaBackend) -> None:
    sampling = SamplingParams(seed=42, temperature=0.9, max_tokens=40)
    first = await llama_backend.chat(QUESTION, sampling=sampling)
    other = await llama_backend.chat([*QUESTION, ChatMessage.user("again")], sampling=sampling)
    second = await llama_backend.chat(QUESTION, sampling=sampling)
    assert (first.text, first.code, first.finish_reason) == (
        second.text,
        second.code,
        second.finish_reason,
    )
    assert first.usage.completion_tokens == second.usage.completion_tokens
    assert other.usage.prompt_tokens > first.usage.prompt_tokens


@pytest.mark.parametrize("code_tool", [True, "required", False])
async def test_stream_deltas_add_up(llama_backend: LlamaBackend, code_tool: object) -> None:
    items = await collect(
        llama_backend,
        QUESTION,
        code_tool=code_tool,
        sampling=SamplingParams(seed=7, temperature=1.0, max_tokens=60),
    )
    text, code, result = split_stream(items)
    assert len(items) > 2
    assert text == result.text
    assert code == (result.code or "")
    if code_tool == "required":
        assert result.is_code and not any(isinstance(i, TextDelta) for i in items)
    if code_tool is False:
        assert not result.is_code and not any(isinstance(i, CodeDelta) for i in items)


async def test_usage_is_reported(llama_backend: LlamaBackend) -> None:
    result = await llama_backend.chat(
        QUESTION, code_tool="required", sampling=SamplingParams(seed=1, max_tokens=25)
    )
    assert result.finish_reason == "length"  # an unbounded call cannot close in 25 tokens
    assert result.usage.completion_tokens == 25
    assert result.usage.prompt_tokens > 20 and not result.usage.estimated
    assert result.usage.total_tokens == result.usage.prompt_tokens + 25


async def test_cancel_event_stops_generation(llama_backend: LlamaBackend) -> None:
    cancel = asyncio.Event()
    before = llama_backend.tokens_generated
    items = []
    async for item in llama_backend.stream(
        QUESTION,
        code_tool="required",
        cancel=cancel,
        sampling=SamplingParams(seed=3, max_tokens=1500),
    ):
        items.append(item)
        cancel.set()
    _, code, result = split_stream(items)
    assert result.finish_reason == "cancelled"
    assert result.is_code and result.code == code
    assert result.usage.completion_tokens < 1500
    assert llama_backend.tokens_generated - before == result.usage.completion_tokens


async def test_leaving_the_stream_stops_generation(llama_backend: LlamaBackend) -> None:
    before = llama_backend.tokens_generated
    stream = llama_backend.stream(
        QUESTION, code_tool="required", sampling=SamplingParams(seed=3, max_tokens=1500)
    )
    async for _ in stream:
        break
    await stream.aclose()
    # The worker is FIFO: this call runs after the abandoned one has stopped.
    after = await llama_backend.chat(
        QUESTION, code_tool=False, sampling=SamplingParams(max_tokens=5)
    )
    spent = llama_backend.tokens_generated - before - after.usage.completion_tokens
    assert 0 < spent < 1500


async def test_cancelling_the_task_stops_generation(llama_backend: LlamaBackend) -> None:
    before = llama_backend.tokens_generated
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in llama_backend.stream(
            QUESTION, code_tool="required", sampling=SamplingParams(seed=5, max_tokens=1500)
        ):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await llama_backend.chat(
        QUESTION, code_tool=False, sampling=SamplingParams(max_tokens=5)
    )
    spent = llama_backend.tokens_generated - before - after.usage.completion_tokens
    assert 0 < spent < 1500


async def test_retry_reuses_the_evaluated_prefix(llama_backend: LlamaBackend) -> None:
    convo = [ChatMessage.system("You analyse data. " * 40), ChatMessage.user("Load data.csv")]
    first = await llama_backend.chat(
        convo, code_tool="required", sampling=SamplingParams(seed=1, max_tokens=30)
    )
    convo += [first.to_message(), ChatMessage.tool(first.call_id or "", "Traceback: NameError")]
    retry = await llama_backend.chat(convo, sampling=SamplingParams(seed=1, max_tokens=10))
    assert retry.usage.cached_tokens >= first.usage.prompt_tokens
    assert retry.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens


async def test_interleaved_conversations_keep_prefixes_with_slots(tiny_gguf: Path) -> None:
    sampling = SamplingParams(seed=1, max_tokens=8)

    async def run(n_slots: int) -> list[int]:
        backend = load_model(str(tiny_gguf), n_ctx=1024, n_slots=n_slots)
        convos = [
            [
                ChatMessage.system("Shared preamble."),
                ChatMessage.user(f"Task {name}: " + name * 300),
            ]
            for name in "ab"
        ]
        firsts = [await backend.chat(c, code_tool=False, sampling=sampling) for c in convos]
        cached = []
        for convo, first in zip(convos, firsts, strict=True):
            convo += [first.to_message(), ChatMessage.user("go on")]
            cached.append(
                (await backend.chat(convo, code_tool=False, sampling=sampling)).usage.cached_tokens
            )
        await backend.aclose()
        return [c - f.usage.prompt_tokens for c, f in zip(cached, firsts, strict=True)]

    one_slot = await run(1)
    two_slots = await run(2)
    assert one_slot[0] < 0  # b's call evicted a's prefix: only the shared preamble survived
    assert all(extra >= 0 for extra in two_slots)


async def test_requests_are_served_in_arrival_order(llama_backend: LlamaBackend) -> None:
    finished: list[int] = []

    async def call(i: int) -> ChatResult:
        result = await llama_backend.chat(
            [*QUESTION, ChatMessage.user(str(i))],
            code_tool=False,
            sampling=SamplingParams(seed=i, max_tokens=20),
        )
        finished.append(i)
        return result

    results = await asyncio.gather(*(call(i) for i in range(4)))
    assert finished == [0, 1, 2, 3]
    assert all(r.usage.prompt_tokens > 0 for r in results)


async def test_context_overflow_is_reported(llama_backend: LlamaBackend) -> None:
    with pytest.raises(ContextOverflowError):
        await llama_backend.chat([ChatMessage.user("word " * 3000)])
    ok = await llama_backend.chat(QUESTION, sampling=SamplingParams(max_tokens=3))
    assert ok.usage.completion_tokens <= 3


async def test_stop_sequences_cut_text(llama_backend: LlamaBackend) -> None:
    sampling = SamplingParams(seed=11, temperature=1.0, max_tokens=60)
    full = await llama_backend.chat(QUESTION, code_tool=False, sampling=sampling)
    if len(full.text) < 6:
        pytest.skip("this seed stopped too early to pick a stop sequence")  # pragma: no cover
    stop = full.text[3:5]
    cut = await llama_backend.chat(
        QUESTION,
        code_tool=False,
        sampling=SamplingParams(seed=11, temperature=1.0, max_tokens=60, stop=(stop,)),
    )
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and full.text.startswith(cut.text)


def test_sync_facade(tiny_gguf: Path) -> None:
    with SyncModel(load_model(f"llama:{tiny_gguf}", n_ctx=512, code_max_lines=1)) as model:
        result = model.chat(QUESTION, sampling=SamplingParams(seed=2, max_tokens=40))
        assert result.usage.completion_tokens > 0
        items = list(
            model.stream(QUESTION, code_tool=False, sampling=SamplingParams(seed=2, max_tokens=10))
        )
        assert isinstance(items[-1], ChatResult)
        for _ in model.stream(QUESTION, sampling=SamplingParams(seed=2, max_tokens=200)):
            break  # closing early must not hang the facade


@pytest.mark.parametrize("seed", [1, 2])
async def test_required_code_without_the_grammar_opens_the_fence(
    tiny_gguf: Path, seed: int
) -> None:
    """With the grammar off (a real model's large vocabulary makes it slow), required code is
    forced by writing the opening fence for the model: the reply is a code call from its first
    token, and the grammar-free path reports which way it went."""
    backend = load_model(str(tiny_gguf), code_grammar="off")
    try:
        assert isinstance(backend, LlamaBackend) and not backend.uses_grammar
        items = await collect(
            backend,
            QUESTION,
            code_tool="required",
            sampling=SamplingParams(seed=seed, temperature=1.0, max_tokens=24),
        )
        text, code, result = split_stream(items)
        assert result.is_code and result.text == text == ""
        assert result.code == code
        assert not any(isinstance(item, TextDelta) for item in items)
    finally:
        await backend.aclose()


async def test_grammar_is_on_for_a_small_vocabulary(llama_backend: LlamaBackend) -> None:
    assert llama_backend.uses_grammar  # the synthetic byte-level tokenizer: a few hundred tokens


async def test_prompt_lookup_gives_the_same_greedy_output(tiny_gguf: Path) -> None:
    """Prompt-lookup decoding proposes tokens from the context and checks them in one batch:
    greedy output is unchanged, on a prompt longer than n_batch (llama-cpp-python's logits array
    must be sized for every token) and on a retry that reuses the evaluated prefix."""
    convo = [ChatMessage.system("You analyse data. " * 30), ChatMessage.user("x = 1\n" * 40)]
    greedy = SamplingParams(temperature=0.0, max_tokens=48, seed=1)
    outputs = []
    for lookup in (0, 8):
        backend = load_model(str(tiny_gguf), n_ctx=2048, n_batch=64, prompt_lookup_tokens=lookup)
        assert isinstance(backend, LlamaBackend)
        assert (backend._slots[0].llm.draft_model is not None) == bool(lookup)
        try:
            first = await backend.chat(convo, code_tool=False, sampling=greedy)
            retry = await backend.chat(
                [*convo, first.to_message(), ChatMessage.user("again")],
                code_tool=False,
                sampling=greedy,
            )
            assert first.usage.prompt_tokens > 64
            assert retry.usage.cached_tokens >= first.usage.prompt_tokens
            outputs.append([(r.text, r.usage.completion_tokens) for r in (first, retry)])
        finally:
            await backend.aclose()
    assert outputs[0] == outputs[1]


def test_prompt_lookup_tokens_must_not_be_negative(tiny_gguf: Path) -> None:
    with pytest.raises(ModelError, match="prompt_lookup_tokens"):
        load_model(str(tiny_gguf), prompt_lookup_tokens=-1)
