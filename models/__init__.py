"""Model backends for Airlock: the LLM that writes the code.

``load_model(spec)`` gives a ``ModelBackend``; ``stream()``/``chat()`` continue a conversation and
return either a text answer or a call of the ``python`` code tool. See ``models.base`` for the
interface, ``models.spec`` for spec strings, ``models.resolve`` for the names users give and
``models.config`` for the config file.
"""

from .base import (
    CODE_TOOL_NAME,
    ChatMessage,
    ChatResult,
    CodeCall,
    CodeDelta,
    CodeTool,
    ContextOverflowError,
    FinishReason,
    ModelBackend,
    ModelConnectionError,
    ModelError,
    SamplingParams,
    StreamItem,
    TextDelta,
    Usage,
)
from .config import HttpOptions, LlamaOptions, ModelsConfig
from .resolve import default_spec, resolve_spec
from .spec import load_model, parse_spec
from .sync import SyncModel

__all__ = [
    "CODE_TOOL_NAME",
    "ChatMessage",
    "ChatResult",
    "CodeCall",
    "CodeDelta",
    "CodeTool",
    "ContextOverflowError",
    "FinishReason",
    "HttpOptions",
    "LlamaOptions",
    "ModelBackend",
    "ModelConnectionError",
    "ModelError",
    "ModelsConfig",
    "SamplingParams",
    "StreamItem",
    "SyncModel",
    "TextDelta",
    "Usage",
    "default_spec",
    "load_model",
    "parse_spec",
    "resolve_spec",
]
