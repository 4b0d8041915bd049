"""The tiny GGUF's tokenizer copy: a vocab-only GGUF built here (no network, no third-party file)
is read with the struct reader, checked against gguf's own reader, copied into a random-weight
model, and that model loads and runs through the real llama-cpp-python."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from models import ChatMessage, SamplingParams
from models.tiny_gguf import (
    GGUFFormatError,
    _byte_tokens,
    read_gguf_kv,
    read_tokenizer,
    write_tiny_gguf,
)

gguf = pytest.importorskip("gguf", reason="gguf (the llama extra) is not installed")

# A tokenizer unlike the synthetic default: other merges, other control tokens, a Phi-3 style
# template whose end marker is an end-of-generation token for llama.cpp.
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("K", "e"), ("Ke", "y")]
SPECIALS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>"]
TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TOKENS = _byte_tokens() + [a + b for a, b in MERGES] + SPECIALS


@pytest.fixture(scope="module")
def vocab_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vocab-only GGUF, as llama.cpp ships them: tokenizer keys and no tensors."""
    path = tmp_path_factory.mktemp("vocab") / "ggml-vocab-test.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("not a tokenizer key")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(TOKENS)
    writer.add_token_types(
        [gguf.TokenType.NORMAL] * (len(TOKENS) - len(SPECIALS))
        + [gguf.TokenType.CONTROL] * len(SPECIALS)
    )
    writer.add_token_scores([-float(i) for i in range(len(TOKENS))])
    writer.add_token_merges([f"{a} {b}" for a, b in MERGES])
    writer.add_bos_token_id(TOKENS.index("<|endoftext|>"))
    writer.add_eos_token_id(TOKENS.index("<|end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(TEMPLATE)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def reference(path: Path) -> dict[str, Any]:
    """gguf's own (slow) reader, as plain Python values."""
    reader = gguf.GGUFReader(str(path))
    out: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):  # the reader's pseudo-fields for the header
            continue
        value = field.contents()
        out[key] = value
    return out


def plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_struct_reader_agrees_with_gguf_reader(vocab_gguf: Path) -> None:
    ours = read_gguf_kv(vocab_gguf)
    theirs = reference(vocab_gguf)
    assert set(ours) == set(theirs)
    for key, value in ours.items():
        expected = theirs[key]
        got = plain(value.value)
        if isinstance(expected, float) or (
            isinstance(expected, list) and expected and isinstance(expected[0], float)
        ):
            assert got == pytest.approx(expected), key
        else:
            assert got == expected, key


def test_tokenizer_keys_only(vocab_gguf: Path) -> None:
    keys = read_tokenizer(vocab_gguf)
    assert keys and all(k.startswith("tokenizer.") for k in keys)
    assert plain(keys["tokenizer.ggml.tokens"].value) == TOKENS
    assert keys["tokenizer.ggml.token_type"].sub_type == gguf.GGUFValueType.INT32


def test_not_a_gguf_or_no_tokenizer(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(GGUFFormatError):
        read_gguf_kv(junk)
    bare = tmp_path / "bare.gguf"
    writer = gguf.GGUFWriter(str(bare), "llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(GGUFFormatError, match="tokens"):
        read_tokenizer(bare)


def test_copied_tokenizer_is_the_models(vocab_gguf: Path, tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "m.gguf", n_ctx=512, vocab=vocab_gguf)
    copied = read_tokenizer(model)
    original = read_tokenizer(vocab_gguf)
    assert copied.keys() == original.keys()
    for key in copied:
        assert copied[key] == original[key], key
    assert "general.name" not in read_gguf_kv(model)  # only tokenizer keys travel
    # The same seed and shape give the same weights whatever the tokenizer's size.
    again = write_tiny_gguf(tmp_path / "again.gguf", n_ctx=512, vocab=vocab_gguf)
    assert again.read_bytes() == model.read_bytes()


def test_model_with_copied_tokenizer_runs(vocab_gguf: Path, tmp_path: Path) -> None:
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from models.config import LlamaOptions
    from models.llama_backend import LlamaBackend

    model = write_tiny_gguf(tmp_path / "m.gguf", n_ctx=512, vocab=vocab_gguf)
    llm = llama_cpp.Llama(model_path=str(model), n_ctx=512, verbose=False)
    try:
        assert llm.n_vocab() == len(TOKENS)
        # The merges apply: " the" is one token, "Key" one, as this tokenizer says.
        assert llm.tokenize(b" the Key", add_bos=False) == [
            TOKENS.index("Ġthe"),
            TOKENS.index("Ġ"),
            TOKENS.index("Key"),
        ]
        end = llm.tokenize(b"<|end|>", add_bos=False, special=True)
        assert end == [TOKENS.index("<|end|>")]
    finally:
        llm.close()

    backend = LlamaBackend(model, LlamaOptions(n_ctx=512, n_threads=1))

    async def run() -> None:
        try:
            convo = [ChatMessage.user("Key?")]
            result = await backend.chat(
                convo, code_tool=False, sampling=SamplingParams(seed=1, max_tokens=8)
            )
            assert result.usage.completion_tokens <= 8
            # The prompt was built with the copied template: its tokens count it.
            assert result.usage.prompt_tokens == backend.count_tokens(convo, code_tool=False)
            assert backend._formatter(messages=[{"role": "user", "content": "x"}]).prompt == (
                "<|user|>\nx<|end|>\n<|assistant|>\n"
            )
        finally:
            await backend.aclose()

    asyncio.run(run())


def _cached_vocab() -> Path | None:
    """A real vocab file if the benchmark fetched one (never downloaded by the tests)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "airlock"
    found = sorted(base.glob("llama-cpp-python-*/ggml-vocab-qwen2.gguf"))
    return found[-1] if found else None


def test_real_vocab_file_copies(tmp_path: Path) -> None:
    vocab = _cached_vocab()
    if vocab is None:
        pytest.skip(
            "no ggml-vocab-qwen2.gguf in ~/.cache/airlock (fetched by "
            "`python benchmarks/bench_models.py --fetch-vocab qwen2`); the synthetic vocab "
            "tests above cover the copy"
        )
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    model = write_tiny_gguf(tmp_path / "q.gguf", n_ctx=512, vocab=vocab)
    llm = llama_cpp.Llama(model_path=str(model), n_ctx=512, verbose=False)
    try:
        text = b"Traceback (most recent call last):\nKeyError: 'region'\n"
        # A real BPE vocabulary: far fewer tokens than bytes.
        assert len(llm.tokenize(text, add_bos=False)) < len(text) / 2
        assert llm.detokenize(llm.tokenize(text, add_bos=False)) == text
    finally:
        llm.close()
