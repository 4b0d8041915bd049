"""How the code tool is presented to a model that has no native tool calls.

Backends that speak in text (llama.cpp in-process, HTTP servers without tool support) describe
the tool in the system message and render past calls the way the model is asked to write them: an
assistant code call becomes a ```python fence (see ``models.splitter``), a tool output becomes a
turn of ``tool_role`` ("tool" where the chat template knows that role, else "user") headed by a
line naming it. Rendering is deterministic, so a conversation that grows by appending renders to
a prompt that extends the previous one, which is what lets llama.cpp reuse its evaluated prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import ChatMessage, CodeTool

CODE_TOOL_INSTRUCTIONS = (
    "You have a tool named python: a stateful Jupyter kernel. To run code, reply with only a "
    "fenced block that starts with the line ```python and ends with the line ```; nothing may "
    "come before or after it. The output (or the traceback) comes back in the next message. When "
    "you have the answer, reply in plain text without a python block."
)
NATIVE_HINT = (
    "You have a tool named python: a stateful Jupyter kernel. Call it with the code to run as "
    "its code argument; if you cannot call tools, reply with only a ```python fenced block."
)
OUTPUT_HEADER = "Output of the python call:\n"


def instructions(code_tool: CodeTool, *, native: bool = False) -> str:
    if not code_tool:
        return ""
    # The same words for "required" as for True: a system turn that changed between calls
    # would defeat prefix reuse (llama.cpp's grammar, or tool_choice, does the forcing).
    return NATIVE_HINT if native else CODE_TOOL_INSTRUCTIONS


def with_instructions(out: list[dict[str, Any]], extra: str) -> list[dict[str, Any]]:
    """The rendered messages with ``extra`` appended to the system turn (or a new one)."""
    if not extra:
        return out
    if out and out[0]["role"] == "system":
        return [{**out[0], "content": str(out[0]["content"]).rstrip() + "\n\n" + extra}, *out[1:]]
    return [{"role": "system", "content": extra}, *out]


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


def render_text_messages(
    messages: Sequence[ChatMessage], code_tool: CodeTool, *, tool_role: str = "user"
) -> list[dict[str, Any]]:
    """Role/content dicts with code calls as fences and the tool described in the system turn.
    A text-only call in a conversation that has used the tool keeps the tool's description: the
    system turn stays the same, so llama.cpp reuses the prompt it already evaluated."""
    out: list[dict[str, Any]] = []
    used = any(m.code_call is not None for m in messages)
    extra = instructions(code_tool or used)
    for message in messages:
        if message.role == "assistant" and message.code_call is not None:
            prose = message.content
            sep = "" if not prose or prose.endswith("\n") else "\n"
            out.append(
                {"role": "assistant", "content": prose + sep + fence(message.code_call.code)}
            )
        elif message.role == "tool":
            content = message.content if tool_role == "tool" else OUTPUT_HEADER + message.content
            out.append({"role": tool_role, "content": content})
        else:
            out.append({"role": message.role, "content": message.content})
    return with_instructions(out, extra)
