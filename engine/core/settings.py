"""What an engine is configured with: the run loop's limits, how it helps the model
(`AssistPolicy`, defined beside that help in `engine.core.assist`) and the sessions' lifetime."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox import SandboxConfig

from .assist.policy import AssistPolicy

__all__ = ["AssistPolicy", "EngineSettings", "RunLimits"]


@dataclass(frozen=True, slots=True)
class RunLimits:
    """When the loop stops trying. A limit reached ends the run `incomplete` (code calls,
    tokens), `failed` (consecutive failures) or `expired` (wall time), with the reason."""

    max_code_calls: int = 20
    max_consecutive_failures: int = 5
    #: Wall time of a whole run; the hosted service expired runs after ten minutes.
    max_wall_seconds: float = 600.0
    #: Prompt plus completion tokens over all the run's model calls; None: no limit.
    max_run_tokens: int | None = None
    #: Tokens a model call may generate.
    max_tokens_per_call: int = 1024
    #: The conversation sent to the model is cut to about this many tokens (older outputs
    #: shortened first, then older messages dropped); a run's `max_prompt_tokens` lowers it.
    prompt_token_budget: int = 6000
    #: One cell's output, as the model sees it: head and tail of the logs, end of a traceback.
    max_output_chars: int = 4000

    def __post_init__(self) -> None:
        if self.max_code_calls < 0 or self.max_consecutive_failures < 1:
            raise ValueError("max_code_calls must be >= 0 and max_consecutive_failures >= 1")
        if self.max_wall_seconds <= 0 or self.max_tokens_per_call < 1:
            raise ValueError("max_wall_seconds and max_tokens_per_call must be positive")
        if self.prompt_token_budget < 256 or self.max_output_chars < 200:
            raise ValueError("prompt_token_budget must be >= 256 and max_output_chars >= 200")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    limits: RunLimits = field(default_factory=RunLimits)
    assist: AssistPolicy = field(default_factory=AssistPolicy)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    #: A thread's kernel is shut down after this long without a cell; the next run starts a
    #: fresh one, with the variables and files of the checkpoint saved as this one ended.
    session_idle_seconds: float = 3600.0
    #: Kernels started ahead of need, so a thread's first cell does not wait for one.
    kernel_pool_size: int = 0
    #: Live sessions (kernels) at most; past it the least recently used idle one is ended, and
    #: when all are busy a new run is refused with 429. None: what the machine's memory holds
    #: at the sandbox's per-session memory limit (`engine.core.sessions.default_max_sessions`).
    max_sessions: int | None = None
    #: Files a run wrote are kept as `assistants_output` files, up to this many per run.
    max_generated_files: int = 100
    #: When a thread's session ends, its kernel's variables (at most this many MB of them,
    #: pickled) and its files are saved in the data folder, and restored when the thread next
    #: runs code (`engine.core.checkpoints`). 0: no checkpoints, a new kernel starts empty.
    checkpoint_max_mb: int = 1024
