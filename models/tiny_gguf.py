"""A tiny random-weight GGUF model, written in a fraction of a second with numpy and gguf.

For tests and benchmarks that need a real model through the real llama.cpp without downloading
one: architecture ``llama`` (2 layers, n_embd 64, 4 heads, n_ff 128, tied embeddings, F16), a
synthetic GPT-2 style byte-level BPE tokenizer (the 256 byte tokens, a few merges, and
``<|endoftext|>``/``<|im_start|>``/``<|im_end|>`` as control tokens) and a ChatML chat template.
Weights come from a seeded generator, so the file (and what the model writes) is deterministic.
The model writes gibberish: check structure, never content.

``vocab=PATH`` takes the tokenizer instead from another GGUF (every ``tokenizer.*`` key: tokens,
scores, types, merges, special ids, pre-tokenizer, chat template), typically one of the
vocab-only files llama.cpp ships (``ggml-vocab-qwen2.gguf``...), so that token counts are those of
a real model. The key/values are read with ``struct`` (``read_gguf_kv``): ``gguf.GGUFReader``
takes tens of seconds on a 150k-token vocabulary.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_MERGES = [("Ġ", "t"), ("h", "e"), ("i", "n"), ("e", "r"), ("Ġ", "a"), ("o", "n"), ("`", "`")]
_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
N_HEAD = 4


# GGUF value types (gguf.GGUFValueType), and the struct format of the fixed-size ones.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL = range(8)
_STRING, _ARRAY, _UINT64, _INT64, _FLOAT64 = range(8, 13)
_FORMATS = {
    _UINT8: "B",
    _INT8: "b",
    _UINT16: "H",
    _INT16: "h",
    _UINT32: "I",
    _INT32: "i",
    _FLOAT32: "f",
    _BOOL: "?",
    _UINT64: "Q",
    _INT64: "q",
    _FLOAT64: "d",
}


@dataclass(frozen=True, slots=True)
class GGUFValue:
    """A metadata value as stored: ``type`` is a GGUF value type number; for an array,
    ``sub_type`` is its elements' and ``value`` a list. Strings stay ``bytes`` (as written)."""

    type: int
    value: Any
    sub_type: int | None = None


class GGUFFormatError(ValueError):
    """Not a GGUF file this reader understands (little-endian, version 2 or 3)."""


def read_gguf_kv(path: str | Path, prefix: str = "") -> dict[str, GGUFValue]:
    """The metadata key/values of a GGUF file whose key starts with ``prefix``, read straight
    from the header (tensor data is never touched, so a multi-GB model is fine)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            raise GGUFFormatError(f"{path}: not a GGUF file")
        (version,) = struct.unpack_from("<I", buf, 4)
        if version not in (2, 3):
            raise GGUFFormatError(f"{path}: GGUF version {version} is not supported")
        _, n_kv = struct.unpack_from("<QQ", buf, 8)
        pos = 24
        out: dict[str, GGUFValue] = {}

        def string(at: int) -> tuple[bytes, int]:
            (n,) = struct.unpack_from("<Q", buf, at)
            return buf[at + 8 : at + 8 + n], at + 8 + n

        def scalar(vtype: int, at: int) -> tuple[Any, int]:
            if vtype == _STRING:
                return string(at)
            fmt = _FORMATS.get(vtype)
            if fmt is None:
                raise GGUFFormatError(f"{path}: unknown value type {vtype} at byte {at}")
            return struct.unpack_from("<" + fmt, buf, at)[0], at + struct.calcsize(fmt)

        for _ in range(n_kv):
            raw_key, pos = string(pos)
            key = raw_key.decode("utf-8")
            (vtype,) = struct.unpack_from("<I", buf, pos)
            pos += 4
            if vtype == _ARRAY:
                sub, count = struct.unpack_from("<IQ", buf, pos)
                pos += 12
                fmt = _FORMATS.get(sub)
                if fmt is not None:  # fixed-size elements: one unpack for the whole array
                    size = struct.calcsize(fmt) * count
                    items = list(struct.unpack_from(f"<{count}{fmt}", buf, pos)) if count else []
                    pos += size
                else:
                    items = []
                    for _ in range(count):
                        item, pos = scalar(sub, pos)
                        items.append(item)
                value = GGUFValue(vtype, items, sub)
            else:
                item, pos = scalar(vtype, pos)
                value = GGUFValue(vtype, item)
            if key.startswith(prefix):
                out[key] = value
        return out


def read_tokenizer(path: str | Path) -> dict[str, GGUFValue]:
    """Every ``tokenizer.*`` key of a GGUF (a vocab-only file or a whole model)."""
    keys = read_gguf_kv(path, "tokenizer.")
    tokens = keys.get("tokenizer.ggml.tokens")
    if tokens is None or tokens.type != _ARRAY or not tokens.value:
        raise GGUFFormatError(f"{path}: no tokenizer.ggml.tokens list")
    return keys


def _byte_tokens() -> list[str]:
    """GPT-2's reversible byte -> printable character map, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_tiny_gguf(
    path: str | Path,
    *,
    n_ctx: int = 512,
    n_layer: int = 2,
    n_embd: int = 64,
    n_ff: int = 128,
    seed: int = 0,
    vocab: str | Path | None = None,
) -> Path:
    """Writes the model; larger n_layer/n_embd/n_ff give a slower model (for benchmarks).
    ``vocab``: a GGUF whose tokenizer to copy instead of the synthetic one."""
    import gguf

    path = Path(path)
    writer = gguf.GGUFWriter(str(path), "llama")
    _add_hparams(writer, n_ctx=n_ctx, n_layer=n_layer, n_embd=n_embd, n_ff=n_ff)
    if vocab is None:
        n_vocab = _add_synthetic_tokenizer(writer)
    else:
        keys = read_tokenizer(vocab)
        for key, v in keys.items():
            writer.add_key_value(
                key,
                v.value,
                gguf.GGUFValueType(v.type),
                None if v.sub_type is None else gguf.GGUFValueType(v.sub_type),
            )
        n_vocab = len(keys["tokenizer.ggml.tokens"].value)
    _add_tensors(writer, n_vocab, n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, seed=seed)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _add_synthetic_tokenizer(writer: Any) -> int:
    import gguf

    tokens = _byte_tokens() + [a + b for a, b in _MERGES] + _SPECIALS
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(_SPECIALS)) + [
        gguf.TokenType.CONTROL
    ] * len(_SPECIALS)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in _MERGES])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)
    return len(tokens)


def _add_hparams(writer: Any, *, n_ctx: int, n_layer: int, n_embd: int, n_ff: int) -> None:
    import gguf

    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_rope_dimension_count(n_embd // N_HEAD)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)


def _add_tensors(
    writer: Any, n_vocab: int, *, n_layer: int, n_embd: int, n_ff: int, seed: int
) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)

    def weight(rows: int, cols: int) -> Any:
        # numpy (rows, cols) is ggml's {cols, rows}
        return rng.normal(0.0, 0.02, size=(rows, cols)).astype(np.float16)

    ones = np.ones(n_embd, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", ones)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
