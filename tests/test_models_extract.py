"""Reading code calls out of free text: a corpus of well- and malformed model outputs, the
streaming splitter, and the decoder of streamed tool-call arguments."""

from __future__ import annotations

import json
import random

import pytest

from models.base import CodeDelta, TextDelta
from models.extract import code_from_arguments, extract_code, streamed_code_prefix
from models.splitter import ReplySplitter
from models.stops import StopScanner

CODE = "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df.describe())"

# (model output, expected code or None, expected rule)
CORPUS: list[tuple[str, str | None, str | None]] = [
    (f"```python\n{CODE}\n```", CODE, "fence"),
    (f"Let me look.\n\n```python\n{CODE}\n```\nThis prints a summary.", CODE, "fence"),
    (f"```Python\n{CODE}\n```", CODE, "fence"),
    (f"```py\n{CODE}\n```", CODE, "fence"),
    (f"```python3\n{CODE}\n```", CODE, "fence"),
    (f"~~~python\n{CODE}\n~~~", CODE, "fence"),
    (f"````python\n{CODE}\n````", CODE, "fence"),
    ("1. Load it:\n   ```python\n   x = 1\n   print(x)\n   ```", "x = 1\nprint(x)", "fence"),
    ("```python\nx = 1\n```\nthen\n```python\nprint(x)\n```", "x = 1\n\nprint(x)", "fence"),
    ("```python print(1)```", "print(1)", "fence"),
    ('```python\n{"code": "print(2)"}\n```', "print(2)", "fence"),
    (f"```python\n{CODE}", CODE, "unterminated"),
    (f"Sure!\n```python\n{CODE}\n``", CODE, "unterminated"),
    (f"```python\n{CODE}\n`", CODE, "unterminated"),
    (json.dumps({"code": CODE}), CODE, "json"),
    (json.dumps({"name": "python", "arguments": {"code": CODE}}), CODE, "json"),
    (json.dumps({"name": "python", "arguments": json.dumps({"code": CODE})}), CODE, "json"),
    (json.dumps({"name": "python", "arguments": CODE}), CODE, "json"),
    (json.dumps({"name": "python", "parameters": {"code": CODE}}), CODE, "json"),
    (
        json.dumps(
            {
                "type": "function",
                "function": {"name": "python", "arguments": json.dumps({"code": CODE})},
            }
        ),
        CODE,
        "json",
    ),
    (
        json.dumps(
            {"tool_calls": [{"function": {"name": "python", "arguments": {"code": "a=1"}}}]}
        ),
        "a=1",
        "json",
    ),
    (json.dumps([{"name": "python", "arguments": {"code": "a=1"}}]), "a=1", "json"),
    (
        f"<tool_call>\n{json.dumps({'name': 'python', 'arguments': {'code': CODE}})}\n</tool_call>",
        CODE,
        "json",
    ),
    ('I will run this: {"code": "print(3)"} now.', "print(3)", "json"),
    ('{"code": "print(1)\nprint(2)"}', "print(1)\nprint(2)", "json"),  # raw newline in string
    ("{'code': 'print(4)'}", "print(4)", "json"),  # a Python dict literal
    (f"```json\n{json.dumps({'name': 'python', 'arguments': {'code': CODE}})}\n```", CODE, "json"),
    (f"<code>\n{CODE}\n</code>", CODE, "tag"),
    (f"<python>{CODE}</python>", CODE, "tag"),
    (f"<execute>\n{CODE}\n</execute>", CODE, "tag"),
    (f"<code>\n{CODE}", CODE, "tag"),
    (f"<function=python>{json.dumps({'code': CODE})}</function>", CODE, "tag"),
    (f"<|python_tag|>{CODE}<|eom_id|>", CODE, "tag"),
    (f"```\n{CODE}\n```", CODE, "bare_fence"),
    (CODE, CODE, "bare"),
    # Text answers that must stay text.
    ("The mean is 2.", None, None),
    ("42", None, None),
    ("Hello", None, None),
    ("```\nsome output\nmore output\n```", None, None),
    ("```bash\nls -la\n```", None, None),
    ('{"answer": 2}', None, None),
    (json.dumps({"name": "web_search", "arguments": {"query": "x"}}), None, None),
    ("```python\n```", None, None),
    ("Use `df.head()` to look.", None, None),
]


@pytest.mark.parametrize(("output", "code", "rule"), CORPUS)
def test_corpus(output: str, code: str | None, rule: str | None) -> None:
    found = extract_code(output)
    if code is None:
        assert found is None
        return
    assert found is not None
    assert (found.code, found.rule) == (code, rule)
    assert code not in found.prose


def test_prose_is_what_surrounds_the_code() -> None:
    found = extract_code("Let me check.\n```python\nprint(1)\n```\nDone.")
    assert found is not None and found.prose == "Let me check.\n\nDone."


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"code": "x"}, "x"),
        ('{"code": "x"}', "x"),
        ('"x = 1"', "x = 1"),
        ("print(1)", "print(1)"),  # ChatGPT's python tool: the argument is the source itself
        ({"source": "y"}, "y"),
        ({"whatever": "z"}, "z"),
        ({"a": "1", "b": "2"}, None),
    ],
)
def test_code_from_arguments(arguments: object, code: str | None) -> None:
    assert code_from_arguments(arguments) == code


def test_streamed_code_prefix_decodes_every_prefix() -> None:
    source = 'print("héllo\\n\ttab")  # 😀 \\u00e9 end'
    arguments = json.dumps({"code": source})
    previous = ""
    for n in range(len(arguments) + 1):
        prefix = streamed_code_prefix(arguments[:n])
        if prefix is None:
            assert n < len('{"code": "')
            continue
        assert source.startswith(prefix) and prefix.startswith(previous)
        previous = prefix
    assert previous == source
    assert streamed_code_prefix('{"other": 1}') is None


SPLIT_CASES: list[tuple[str, str, str | None]] = [
    ("```python\nprint(1)\n```", "", "print(1)"),
    ("```python\n```", "", ""),
    ("```python\n\n```", "", ""),
    ("```python\nx=1\n\ny=2\n```then more", "", "x=1\n\ny=2"),
    ("Let me see.\n```python\nx = `a`\n``y\n```\nout", "Let me see.\n", "x = `a`\n``y"),
    ("plain answer with ``` inside", "plain answer with ``` inside", None),
    ("a ```python\nnot a call", "a ```python\nnot a call", None),
    ("```python\nunterminated\n``", "", "unterminated"),
    ("```py\nz\n```", "", "z"),
    ("```pyt", "```pyt", None),
    ("", "", None),
]


@pytest.mark.parametrize(("reply", "prose", "code"), SPLIT_CASES)
def test_splitter_in_random_pieces(reply: str, prose: str, code: str | None) -> None:
    rng = random.Random(reply)
    for _ in range(50):
        splitter = ReplySplitter()
        deltas: list[TextDelta | CodeDelta] = []
        i = 0
        while i < len(reply):
            n = rng.randint(1, 5)
            deltas += splitter.feed(reply[i : i + n])
            i += n
        deltas += splitter.finish()
        assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == prose
        assert "".join(d.code for d in deltas if isinstance(d, CodeDelta)) == (code or "")
        assert (splitter.text, splitter.code_text) == (prose, code)


def test_splitter_without_code_detection() -> None:
    splitter = ReplySplitter(detect_code=False)
    out = splitter.feed("```python\nx\n```") + splitter.finish()
    assert out == [TextDelta("```python\nx\n```")] and splitter.code_text is None


@pytest.mark.parametrize(
    ("text", "stops", "expected", "hit"),
    [
        ("hello world", ["wor"], "hello ", True),
        ("hello world", ["xyz"], "hello world", False),
        ("abcabd", ["abd"], "abc", True),
        ("tail ab", ["abc"], "tail ab", False),
    ],
)
def test_stop_scanner(text: str, stops: list[str], expected: str, hit: bool) -> None:
    scanner = StopScanner(stops)
    out = "".join(scanner.feed(ch) for ch in text) + scanner.finish()
    assert (out, scanner.hit) == (expected, hit)
