"""The GBNF grammar that makes llama.cpp's code calls well-formed by construction.

A reply is either a code call or plain text, and the grammar decides which from its first
characters:

    root ::= code | text              (code_tool="required": root ::= code)
    code ::= "```python\\n" line* "```"
    line ::= (lead rest)? "\\n"        a line that does not start with ``` (the closing fence)
    text ::= first any*               text that does not start with ```

So the model may answer freely in text, but once it opens the fence it must finish a fenced
python block, and after the closing fence the grammar is complete: only end-of-generation can
follow, generation stops, and ``models.splitter`` reads the code exactly. The only way a code
call can be cut short is max_tokens (finish_reason "length") or cancellation. Text that writes a
python fence later on (prose, then code) is also read as a call by the splitter, but without the
grammar's guarantee of a closing fence. ``max_lines``/``max_line_chars`` bound the block (tests
use them to make a random model finish its call; by default max_tokens bounds it).
"""

from __future__ import annotations

from .base import CodeTool


def code_grammar(
    code_tool: CodeTool, *, max_lines: int | None = None, max_line_chars: int | None = None
) -> str | None:
    if not code_tool:
        return None
    rest = "[^\\n]*" if max_line_chars is None else f"[^\\n]{{0,{max(max_line_chars - 3, 0)}}}"
    lines = "line*" if max_lines is None else f"line{{0,{max_lines}}}"
    rules = [
        "root ::= code" if code_tool == "required" else "root ::= code | text",
        f'code ::= "```python\\n" {lines} "```"',
        f'line ::= (lead {rest})? "\\n"',
        'lead ::= [^`\\n] | "`" [^`\\n] | "``" [^`\\n]',
        "text ::= first [^\\x00]*",
        'first ::= [^`\\x00] | "`" [^`\\x00] | "``" [^`\\x00]',
    ]
    return "\n".join(rules) + "\n"
