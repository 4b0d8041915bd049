"""Reading a code call out of free text, for models and servers without native tool calls.

Small local models asked to "call the python tool" answer in many shapes. ``extract_code`` tries
these rules in order and returns the first that matches (``Extraction.rule`` names it):

1. ``fence``: closed Markdown fences tagged python/py/python3/ipython (any case, ``` or ~~~, 3 or
   more, indented or not, single-line ```python print(1)``` too). Several such blocks are joined
   in order with a blank line: the kernel is persistent, so running them in sequence is what the
   model meant. A fenced block that holds a JSON tool call is unwrapped (rule 3 applied to it).
2. ``tag``: ``<code>``, ``<python>``, ``<execute>``, ``<function=python>`` tags, and Llama 3's
   ``<|python_tag|>`` (up to ``<|eom_id|>``/``<|eot_id|>`` or the end); a missing closing tag runs
   to the end of the text.
3. ``json``: a JSON (or Python-literal) object anywhere in the text, in a fence, in
   ``<tool_call>`` tags or bare: ``{"code": ...}``, ``{"python": ...}``, ``{"name": "python",
   "arguments"|"parameters": ...}`` (arguments as an object, a JSON-encoded string, or raw code),
   OpenAI's ``{"type": "function", "function": {...}}``, ``{"tool_calls": [...]}``, or a list of
   those. Literal newlines inside strings are accepted (the decoder is not strict).
4. ``unterminated``: an opening python fence with no closing one: the rest of the text, less any
   trailing run of backticks.
5. ``bare_fence``: an untagged fence whose content compiles as Python.
6. ``bare``: the whole text compiles as Python and does something (an import, an assignment, a
   call, a definition or a control statement) rather than being a lone name or constant, so "42"
   or "Hello" stay text answers.

``Extraction.prose`` is the text outside the code, stripped.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from .base import CODE_TOOL_NAME

_PY_LANGS = {"python", "py", "python3", "py3", "ipython", "ipython3", "pycon"}
_FENCE = re.compile(
    r"(?P<indent>^[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)"
    r"^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_ONE_LINE_FENCE = re.compile(r"```[ \t]*(?:python|py)[ \t]+(?P<body>[^`\n]+?)[ \t]*```", re.I)
_OPEN_FENCE = re.compile(r"(?:`{3,}|~{3,})[ \t]*(?:python3?|py3?|ipython3?)[ \t]*\n", re.I)
_TAGS = [
    re.compile(r"<(?P<t>code|python|execute)(?:\s[^>]*)?>\n?(?P<body>.*?)(?:</(?P=t)>|\Z)", re.S),
    re.compile(r"<function=python>\n?(?P<body>.*?)(?:</function>|\Z)", re.S),
    re.compile(r"<\|python_tag\|>\n?(?P<body>.*?)(?:<\|eom_id\|>|<\|eot_id\|>|\Z)", re.S),
]
_CODE_KEYS = ("code", "python", "source", "script", "input")
_DECODER = json.JSONDecoder(strict=False)
_MAX_JSON_STARTS = 50  # bound the scan for embedded objects in long replies


@dataclass(frozen=True, slots=True)
class Extraction:
    code: str
    prose: str
    rule: str


def extract_code(text: str) -> Extraction | None:
    for rule in (_fences, _tags, _json_anywhere, _unterminated, _bare_fence, _bare):
        found = rule(text)
        if found is not None and found.code.strip():
            return found
    return None


def code_from_arguments(arguments: Any) -> str | None:
    """The code in a tool call's arguments: an object with a code key, a JSON-encoded form of
    one, or (as ChatGPT's own python tool does) the raw source itself."""
    if isinstance(arguments, dict):
        for key in _CODE_KEYS:
            if isinstance(arguments.get(key), str):
                return str(arguments[key])
        if len(arguments) == 1:
            (only,) = arguments.values()
            return only if isinstance(only, str) else None
        return None
    if not isinstance(arguments, str):
        return None
    stripped = arguments.strip()
    if stripped.startswith(("{", '"')):
        try:
            decoded = _DECODER.decode(stripped)
        except ValueError:
            decoded = None
        if isinstance(decoded, str):
            return decoded
        if isinstance(decoded, dict):
            return code_from_arguments(decoded)
        truncated = streamed_code_prefix(stripped)  # cut short by max_tokens, say
        if decoded is None and truncated is not None:
            return truncated
    return arguments


def code_from_json(value: Any) -> str | None:
    """The code in a decoded JSON value shaped like a python tool call, else None."""
    if isinstance(value, list):
        codes = [c for c in (code_from_json(v) for v in value) if c is not None]
        return "\n\n".join(codes) if codes else None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("tool_calls"), list):
        return code_from_json(value["tool_calls"])
    if isinstance(value.get("function"), dict):
        return code_from_json(value["function"])
    name = value.get("name", value.get("tool"))
    if name is not None:
        if name != CODE_TOOL_NAME:
            return None
        for key in ("arguments", "parameters", "args", "input"):
            if key in value:
                return code_from_arguments(value[key])
    for key in _CODE_KEYS[:2]:
        if isinstance(value.get(key), str):
            return str(value[key])
    return None


def _cut(text: str, start: int, end: int) -> str:
    return (text[:start] + text[end:]).strip()


def _fences(text: str) -> Extraction | None:
    blocks: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in _FENCE.finditer(text):
        if match["lang"].lower() in _PY_LANGS:
            body = textwrap.dedent(match["body"]).rstrip("\n")
            blocks.append(_unwrap_json(body))
            spans.append(match.span())
    if not blocks:
        one = _ONE_LINE_FENCE.search(text)
        if one is None:
            return None
        return Extraction(one["body"], _cut(text, *one.span()), "fence")
    prose = text
    for start, end in reversed(spans):
        prose = prose[:start] + prose[end:]
    return Extraction("\n\n".join(blocks), prose.strip(), "fence")


def _unwrap_json(body: str) -> str:
    stripped = body.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        code = code_from_json(_load_object(stripped))
        if code is not None:
            return code
    return body


def _tags(text: str) -> Extraction | None:
    for pattern in _TAGS:
        match = pattern.search(text)
        if match is not None and match["body"].strip():
            body = textwrap.dedent(match["body"]).strip("\n")
            if body.lstrip().startswith("{"):
                code = code_from_json(_load_object(body.strip()))
                body = code if code is not None else body
            return Extraction(body, _cut(text, *match.span()), "tag")
    return None


def _load_object(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except ValueError:
        pass
    try:  # models trained on Python sometimes write dict literals: {'code': '...'}
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _json_anywhere(text: str) -> Extraction | None:
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:_MAX_JSON_STARTS]
    for start in starts:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            value, end = _literal_at(text, start)
        code = code_from_json(value)
        if code is not None:
            return Extraction(code, _strip_wrappers(_cut(text, start, end)), "json")
    return None


def _literal_at(text: str, start: int) -> tuple[Any, int]:
    """A Python literal starting at ``start``, ending at its matching bracket."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return _load_object(text[start : index + 1]), index + 1
    return None, start


def _strip_wrappers(prose: str) -> str:
    """Drop the empty fences or tags that held a JSON call."""
    prose = re.sub(r"<tool_call>\s*</tool_call>|```\w*\s*```", "", prose)
    return prose.strip()


def _unterminated(text: str) -> Extraction | None:
    opened = _OPEN_FENCE.search(text)
    if opened is None:
        return None
    body = textwrap.dedent(text[opened.end() :]).rstrip()
    body = re.sub(r"\n?[`~]{1,}\s*\Z", "", body)
    return Extraction(body, text[: opened.start()].strip(), "unterminated")


def _bare_fence(text: str) -> Extraction | None:
    for match in _FENCE.finditer(text):
        if not match["lang"]:
            body = textwrap.dedent(match["body"]).rstrip("\n")
            if _does_something(body):
                return Extraction(body, _cut(text, *match.span()), "bare_fence")
    return None


def _bare(text: str) -> Extraction | None:
    body = text.strip("\n")
    return Extraction(body, "", "bare") if _does_something(body) else None


_ACTIVE = (
    ast.Import,
    ast.ImportFrom,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.For,
    ast.While,
    ast.If,
    ast.With,
    ast.Try,
    ast.Call,
    ast.Delete,
    ast.Raise,
    ast.Assert,
)


def _does_something(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return any(isinstance(node, _ACTIVE) for node in ast.walk(tree))


_ARGS_CODE_START = re.compile(r'\A\s*\{\s*"code"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def streamed_code_prefix(arguments: str) -> str | None:
    """The part of the code decodable so far from streamed tool-call arguments that begin
    ``{"code": "``, stopping before an incomplete escape; None for any other shape (the code is
    then read once the arguments are complete)."""
    start = _ARGS_CODE_START.match(arguments)
    if start is None:
        return None
    out: list[str] = []
    i, n = start.end(), len(arguments)
    while i < n:
        char = arguments[i]
        if char == '"':
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= n:
            break
        escape = arguments[i + 1]
        if escape != "u":
            out.append(_ESCAPES.get(escape, escape))
            i += 2
            continue
        if i + 6 > n:
            break
        try:
            point = int(arguments[i + 2 : i + 6], 16)
        except ValueError:
            return None
        i += 6
        if 0xD800 <= point < 0xDC00:  # a surrogate pair needs its second half
            if i + 6 > n:
                i -= 6
                break
            try:
                low = int(arguments[i + 2 : i + 6], 16)
            except ValueError:
                return None
            point = 0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00)
            i += 6
        out.append(chr(point))
    return "".join(out)
