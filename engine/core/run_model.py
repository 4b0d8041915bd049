"""The run loop's model calls: one streamed call at a time, its deltas written into the run's
steps and message as they come, its usage added to the run's (a part of `RunLoop`)."""

from __future__ import annotations

from models import (
    ChatMessage,
    ChatResult,
    CodeDelta,
    CodeTool,
    ModelBackend,
    ModelError,
    SamplingParams,
    TextDelta,
)

from ..schemas import Usage
from .events import step_delta
from .run_state import RunState


class ModelCalls(RunState):
    """The model-call part of `RunLoop`."""

    async def _call_model(
        self, model: ModelBackend, conversation: list[ChatMessage], code_tool: CodeTool
    ) -> ChatResult:
        """Stream one model call into the run's steps and message; returns its result."""
        run = self.run
        sampling = SamplingParams(
            temperature=self.coach.temperature(run.temperature, self.failures_in_a_row),
            top_p=run.top_p if run.top_p and 0 < run.top_p <= 1 else 1.0,
            max_tokens=self._max_tokens_for_call(),
        )
        result: ChatResult | None = None
        stream = model.stream(
            conversation, code_tool=code_tool, sampling=sampling, cancel=self.stop
        )
        async for item in stream:
            if isinstance(item, TextDelta) and item.text:
                await self.record.ensure_message()
                self.record.add_text(item.text)
            elif isinstance(item, CodeDelta) and item.code:
                step = await self.record.ensure_tool_step()
                self.handle.emit(
                    step_delta(
                        step.id,
                        {"type": "code_interpreter", "code_interpreter": {"input": item.code}},
                    )
                )
            elif isinstance(item, ChatResult):
                result = item
        if result is None:
            raise ModelError(f"{model.name}: the stream ended without a result")
        self.prompt_tokens_sent += result.usage.prompt_tokens
        self._last_usage = Usage(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            total_tokens=result.usage.total_tokens,
        )
        self.usage = self.usage + self._last_usage
        return result

    def _max_tokens_for_call(self) -> int:
        cap = self.limits.max_tokens_per_call
        if self.run.max_completion_tokens:
            cap = min(cap, max(1, self.run.max_completion_tokens - self.usage.completion_tokens))
        return cap
