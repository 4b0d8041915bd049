"""A tiny random-weight GGUF model, written in a fraction of a second with numpy and gguf.

For tests and benchmarks that need a real model through the real llama.cpp without downloading
one: architecture ``llama`` (2 layers, n_embd 64, 4 heads, n_ff 128, tied embeddings, F16), a
synthetic GPT-2 style byte-level BPE tokenizer (the 256 byte tokens, a few merges, and
``<|endoftext|>``/``<|im_start|>``/``<|im_end|>`` as control tokens) and a ChatML chat template.
Weights come from a seeded generator, so the file (and what the model writes) is deterministic.
The model writes gibberish: check structure, never content.
"""

from __future__ import annotations

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
) -> Path:
    """Writes the model; larger n_layer/n_embd/n_ff give a slower model (for benchmarks)."""
    import gguf
    import numpy as np

    path = Path(path)
    n_head = 4
    tokens = _byte_tokens() + [a + b for a, b in _MERGES] + _SPECIALS
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(_SPECIALS)) + [
        gguf.TokenType.CONTROL
    ] * len(_SPECIALS)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([f"{a} {b}" for a, b in _MERGES])
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    rng = np.random.default_rng(seed)

    def weight(rows: int, cols: int) -> Any:
        # numpy (rows, cols) is ggml's {cols, rows}
        return rng.normal(0.0, 0.02, size=(rows, cols)).astype(np.float16)

    ones = np.ones(n_embd, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(len(tokens), n_embd))
    writer.add_tensor("output_norm.weight", ones)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
