"""llama.cpp in-process (llama-cpp-python): a GGUF model served to many conversations.

Prompting: the conversation is rendered by ``models.prompting`` (code calls as ```python fences,
the tool described in the system turn) and formatted with the GGUF's own chat template. With a
small vocabulary a code call is constrained by the grammar of ``models.grammar``, so it always
parses; with a real model's (where llama-cpp-python's grammar check costs more per token than
the model) the reply is read by ``models.splitter``, which stops generation at the closing
fence, and required code is forced by writing the opening fence into the prompt. Either way the
model may answer in text when code is not required.

Scheduling: llama.cpp contexts are not thread-safe and a CPU runs one generation well at a time,
so one worker thread serves every request in arrival order (a FIFO; since each conversation has
at most one request in flight, this is also round-robin between conversations). Tokens come from
``Llama.generate`` directly; the loop checks for cancellation between tokens. Deltas reach the
event loop through ``models.bridge.Channel``: at once for the first token (and every token of a
slow model), in batches at most ``stream_batch_s`` old while tokens come faster, so that a fast
model does not wake the loop (and take the GIL from the worker) once per token.

Prefix reuse: a ``Llama`` object keeps the tokens it last evaluated, and ``generate`` evaluates
only what follows the longest common prefix with them. A retry that appends to the conversation
it just ran therefore pays only for the new turns (``Usage.cached_tokens`` says how many were
reused). When conversations interleave on one context, each switch discards the other's state
(only a shared system prompt survives). With ``n_slots`` > 1 the backend keeps that many contexts
and sends each request to the one holding the longest common prefix (ties: the least recently
used), so up to n_slots interleaved conversations keep their prefixes; the cost is one KV cache
per slot (and one copy of the weights per slot when they are offloaded to a GPU).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .base import (
    ChatMessage,
    ChatResult,
    CodeTool,
    ContextOverflowError,
    FinishReason,
    ModelBackend,
    ModelError,
    SamplingParams,
    StreamItem,
    Usage,
    check_conversation,
    make_result,
)
from .bridge import Channel
from .config import LlamaOptions
from .grammar import code_grammar
from .prompting import render_text_messages
from .splitter import ReplySplitter
from .stops import StopScanner

#: Vocabularies up to this size are checked against the code grammar cheaply.
SMALL_VOCABULARY = 32768
#: Opens the reply when code is required and no grammar forces it.
CODE_OPENING = "```python\n"

# Used when a GGUF carries no chat template.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def default_threads() -> int:
    """Every CPU this process may run on: generation is memory-bound and the kernel's cells
    do not run while the model generates."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class _Job:
    messages: list[dict[str, Any]]
    code_tool: CodeTool
    sampling: SamplingParams
    channel: Channel[StreamItem | BaseException]
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Slot:
    llm: Any  # llama_cpp.Llama
    last_used: float = 0.0
    prompt_len: int = 0  # tokens of the last prompt evaluated here (generation excluded)

    def common_prefix(self, tokens: Sequence[int]) -> int:
        evaluated = self.llm.input_ids[: self.llm.n_tokens]
        n = 0
        for a, b in zip(evaluated, tokens, strict=False):
            if a != b:
                break
            n += 1
        return n


class LlamaBackend(ModelBackend):
    def __init__(self, model_path: str | Path, options: LlamaOptions | None = None) -> None:
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:  # pragma: no cover - the project installs it
            raise ModelError(
                "llama-cpp-python is not installed (pip install 'airlock[llama]')"
            ) from exc
        self.options = options or LlamaOptions()
        self.model_path = Path(model_path).expanduser()
        if not self.model_path.is_file():
            raise ModelError(f"no such model file: {self.model_path}")
        if self.options.n_slots < 1:
            raise ModelError("n_slots must be at least 1")
        if self.options.stream_batch_s < 0:
            raise ModelError("stream_batch_s must be at least 0")
        if self.options.prompt_lookup_tokens < 0:
            raise ModelError("prompt_lookup_tokens must be at least 0")
        self.name = f"llama:{self.model_path}"
        self._llama_cpp = llama_cpp
        self._slots = [_Slot(self._load()) for _ in range(self.options.n_slots)]
        llm = self._slots[0].llm
        self.n_ctx: int = llm.n_ctx()
        self.context_window = self.n_ctx
        template = self.options.chat_template or llm.metadata.get(
            "tokenizer.chat_template", FALLBACK_TEMPLATE
        )
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(llm.token_eos()),
            bos_token=self._token_text(llm.token_bos()),
            add_generation_prompt=True,
        )
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        tool_role = self.options.tool_role
        if tool_role == "auto":
            tool_role = "tool" if ("'tool'" in template or '"tool"' in template) else "user"
        self._tool_role = tool_role
        self._grammars: dict[CodeTool, Any] = {}
        self.uses_grammar = self._wants_grammar(llm)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self.tokens_generated = 0  # over the backend's life: shows what cancellation saved
        self._worker = threading.Thread(target=self._serve, name="airlock-llama", daemon=True)
        self._worker.start()

    # -- loading -------------------------------------------------------------------------

    def _load(self) -> Any:
        o = self.options
        # llama-cpp-python's default is half the CPUs: one thread on a 2-core machine.
        threads = o.n_threads or default_threads()
        lookup: dict[str, Any] = {}
        if o.prompt_lookup_tokens:
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            # A draft model needs the logits of every evaluated token, and llama-cpp-python
            # sizes its logits array for them only when logits_all is passed (0.3.36: without
            # it, any prompt longer than n_batch fails to broadcast into the array).
            lookup = {
                "draft_model": LlamaPromptLookupDecoding(num_pred_tokens=o.prompt_lookup_tokens),
                "logits_all": True,
            }
        try:
            return self._llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=o.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=o.n_gpu_layers,
                n_batch=o.n_batch,
                seed=o.seed,
                verbose=o.verbose,
                **lookup,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {self.model_path}: {exc}") from exc

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: bytes = self._slots[0].llm.detokenize([token], special=True)
        return text.decode("utf-8", errors="replace")

    def _wants_grammar(self, llm: Any) -> bool:
        o = self.options
        if o.code_grammar != "auto":
            return o.code_grammar == "on"
        bounded = o.code_max_lines is not None or o.code_max_line_chars is not None
        return bounded or int(llm.n_vocab()) <= SMALL_VOCABULARY

    def _grammar(self, code_tool: CodeTool) -> Any:
        if not code_tool or not self.uses_grammar:
            return None
        if code_tool not in self._grammars:
            source = code_grammar(
                code_tool,
                max_lines=self.options.code_max_lines,
                max_line_chars=self.options.code_max_line_chars,
            )
            assert source is not None  # code_tool is truthy here
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[code_tool] = LlamaGrammar.from_string(
                source, verbose=self.options.verbose
            )
        return self._grammars[code_tool]

    # -- the async side ------------------------------------------------------------------

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        code_tool: CodeTool = True,
        sampling: SamplingParams | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncIterator[StreamItem]:
        check_conversation(messages)
        if self._closed:
            raise ModelError(f"{self.name}: backend is closed")
        rendered = render_text_messages(messages, code_tool, tool_role=self._tool_role)
        channel: Channel[StreamItem | BaseException] = Channel(
            asyncio.get_running_loop(), batch_s=self.options.stream_batch_s
        )
        job = _Job(rendered, code_tool, sampling or SamplingParams(), channel)
        watcher: asyncio.Task[Any] | None = None
        if cancel is not None:
            watcher = asyncio.create_task(cancel.wait())
            watcher.add_done_callback(lambda _: job.stop.set())
        self._queue.put(job)
        try:
            while True:
                for item in await job.channel.get():
                    if isinstance(item, BaseException):
                        raise item
                    yield item
                    if isinstance(item, ChatResult):
                        return
        finally:
            job.stop.set()  # the consumer left early, was cancelled, or is done
            job.channel.closed = True
            if watcher is not None:
                watcher.cancel()

    def count_tokens(self, messages: Sequence[ChatMessage], *, code_tool: CodeTool = True) -> int:
        """The prompt tokens this conversation takes, as it would be sent (for context budgets).
        Tokenizing only reads the vocabulary, so it is safe beside a running generation."""
        rendered = render_text_messages(messages, code_tool, tool_role=self._tool_role)
        return len(self._prompt_tokens(rendered))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            await asyncio.to_thread(self._worker.join)
            for slot in self._slots:
                with contextlib.suppress(Exception):  # already half torn down at exit
                    slot.llm.close()

    # -- the worker thread ---------------------------------------------------------------

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            if job.stop.is_set() or job.channel.closed:
                job.channel.put(self._result(ReplySplitter(), Usage(0, 0), "cancelled"), end=True)
                continue
            try:
                self._generate(job)
            except Exception as exc:  # delivered to the consumer, which raises it
                job.channel.put(
                    exc if isinstance(exc, ModelError) else ModelError(str(exc)), end=True
                )

    def _prompt_tokens(self, messages: list[dict[str, Any]], opening: str = "") -> list[int]:
        """The prompt's tokens; ``opening`` is the start of the reply, written for the model."""
        try:
            formatted = self._formatter(messages=cast(Any, messages))
        except Exception as exc:  # jinja errors: the template refused the conversation
            raise ModelError(f"chat template failed: {exc}") from exc
        tokens: list[int] = self._slots[0].llm.tokenize(
            (formatted.prompt + opening).encode("utf-8"),
            add_bos=not formatted.added_special,
            special=True,
        )
        return tokens

    def _pick_slot(self, tokens: Sequence[int]) -> tuple[_Slot, int]:
        """The slot whose last prompt this one extends (a retry or next turn: the longest such),
        else the least recently used one. A slot that merely shares a system prompt is not
        taken: that would evict a conversation that is about to come back."""
        prefixes = [(slot.common_prefix(tokens), slot) for slot in self._slots]
        continuing = [(p, s) for p, s in prefixes if s.prompt_len and p >= s.prompt_len]
        if continuing:
            prefix, slot = max(continuing, key=lambda ps: ps[0])
        else:
            prefix, slot = min(prefixes, key=lambda ps: ps[1].last_used)
        slot.last_used = time.monotonic()
        slot.prompt_len = len(tokens)
        return slot, min(prefix, len(tokens) - 1)

    def _generate(self, job: _Job) -> None:
        # Without the grammar, required code is forced by opening the fence for the model.
        opening = CODE_OPENING if job.code_tool == "required" and not self.uses_grammar else ""
        tokens = self._prompt_tokens(job.messages, opening)
        if len(tokens) >= self.n_ctx:
            raise ContextOverflowError(
                f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx}"
            )
        s = job.sampling
        max_tokens = min(s.max_tokens, self.n_ctx - len(tokens))
        slot, cached = self._pick_slot(tokens)
        llm = slot.llm
        llm.set_seed(s.seed if s.seed is not None else random.getrandbits(32))
        splitter = ReplySplitter(detect_code=bool(job.code_tool))
        splitter.feed(opening)  # switches the splitter to code; emits nothing
        # The template's end marker needs no text scan: it is an end-of-generation token.
        stops = StopScanner(s.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        is_eog = self._llama_cpp.llama_vocab_is_eog
        finish: FinishReason = "length"
        generated = 0
        tokens_iter = llm.generate(
            tokens,
            temp=s.temperature,
            top_p=s.top_p,
            top_k=self.options.top_k,
            min_p=self.options.min_p,
            repeat_penalty=self.options.repeat_penalty,
            grammar=self._grammar(job.code_tool),
        )
        # The loop runs once per token, thousands of times a second on a small model: its
        # lookups are bound once, and stop sequences are scanned only when there are some.
        stopped, vocab, detokenize = job.stop.is_set, self._vocab, llm.detokenize
        decode, split, put = decoder.decode, splitter.feed, job.channel.put
        scan = stops.feed if stops.stops else None
        try:
            for token in tokens_iter:
                if stopped():
                    finish = "cancelled"
                    break
                if is_eog(vocab, token):
                    finish = "stop"
                    break
                generated += 1
                piece = decode(detokenize([token]))
                deltas = split(scan(piece) if scan is not None else piece)
                if deltas:
                    put(*deltas)
                if splitter.done or stops.hit:
                    finish = "stop"
                    break
                if generated >= max_tokens:
                    break
        finally:
            tokens_iter.close()
            self.tokens_generated += generated
        tail = splitter.feed(stops.feed(decoder.decode(b"", final=True)) + stops.finish())
        tail += splitter.finish()
        usage = Usage(len(tokens), generated, cached_tokens=cached)
        job.channel.put(*tail, self._result(splitter, usage, finish), end=True)

    def _result(self, splitter: ReplySplitter, usage: Usage, finish: FinishReason) -> ChatResult:
        return make_result(splitter.text, splitter.code_text, usage, finish, model=self.name)
