"""What a small model needs to fix a failed cell: its own failing line and the error first,
library frames folded away, then hints computed in the kernel.

The run step keeps the whole traceback (the user sees it); the model gets this digest, which is
what it can act on: a 2,000-character pandas traceback ends in the one line that matters, and a
1.5B model copies the failing cell back unchanged more often than it finds that line.
"""

from __future__ import annotations

import ast
import builtins
import io
import re
import tokenize

from sandbox import Execution

_CELL_FRAME = re.compile(r"Cell In\[(\d+)\], line (\d+)")
#: A library frame, as IPython 8 (`File /x/y.py:12, in f`) or plain Python writes it.
_FILE_FRAME = re.compile(r'File "?(/[^",\s:]+\.py)"?(?:, line |:)(\d+)')
#: A line the model meant as its answer, not as code: "@mean_fare[34.65]".
_ANSWER_LINE = re.compile(r"^(?P<indent>[ \t]*)@(?P<name>\w+)\[(?P<value>.*)\][ \t]*(?:#[^\]]*)?$")


def failing_line(execution: Execution) -> tuple[int, str] | None:
    """(line number, source line) of the cell's own line where the error happened."""
    error = execution.error
    if error is None:
        return None
    frames = _CELL_FRAME.findall(error.traceback)
    ours = [
        int(line)
        for cell, line in frames
        if execution.execution_count is None or int(cell) == execution.execution_count
    ]
    if not ours:
        return None
    number = ours[-1]  # the innermost frame of this cell
    lines = execution.code.splitlines()
    if 1 <= number <= len(lines):
        return number, lines[number - 1].strip()
    return None


def library_origin(execution: Execution) -> str | None:
    """The library the error came out of, when it was raised below the cell (e.g. pandas)."""
    error = execution.error
    if error is None:
        return None
    files = [path for path, _line in _FILE_FRAME.findall(error.traceback)]
    for path in reversed(files):
        match = re.search(r"site-packages/([A-Za-z_][\w]*)/", path)
        if match:
            return match.group(1)
    return None


def error_digest(execution: Execution, hints: list[str], *, max_chars: int) -> str:
    """The error as the model is told it: where, what, and what might fix it."""
    error = execution.error
    assert error is not None
    parts: list[str] = []
    where = failing_line(execution)
    if where is not None:
        number, source = where
        parts.append(f"Error on line {number} of your code: {source}")
    value = error.value if len(error.value) <= 400 else error.value[:400] + " ..."
    parts.append(f"{error.name}: {value}" if value else error.name)
    origin = library_origin(execution)
    if origin is not None and where is not None:
        parts.append(f"(raised inside {origin}, called from that line)")
    if error.name == "SyntaxError" and any(
        _ANSWER_LINE.match(line) for line in execution.code.splitlines()
    ):
        parts.append(
            "Hint: lines like @name[value] are not Python. Compute and print() the "
            "values in code; write the @name[value] lines only in your final answer."
        )
    for hint in hints:
        parts.append(f"Hint: {hint}")
    text = "\n".join(parts)
    return text if len(text) <= max_chars else text[: max_chars - 20] + "\n[... cut ...]"


def normalise(code: str) -> str:
    """The code with comments, blank lines and layout removed: two cells that normalise alike
    do the same thing."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    kept: list[str] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type not in (
                tokenize.COMMENT,
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            ):
                kept.append(token.string)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        if not kept:  # the tokens read before the error still say what the code does
            return " ".join(code.split())
    return " ".join(kept)


def salvage(code: str) -> tuple[str, list[str]]:
    """Code that does not compile because answer lines (``@name[value]``) were written into
    it, made to run: a line whose value is a Python expression that computes something
    prints the answer line with the expression's value (what the model meant); any other is
    taken out: prose, and a guess (`@count[1]`, `@type[float]`: nothing in it the code
    computed), a value written before anything was computed (the default model printed a
    right 3131, then its guess `@count[1]`, and answered with the guess). Each line keeps its
    number, so an error in the code that runs names the model's own line. Returns (code to
    run, the answer lines found); code that compiles, or that still would not, is returned
    as it was."""
    if _compiles(code):
        return code, []
    in_strings = _lines_in_strings(code)
    lines = code.splitlines()
    kept: list[str] = []
    answers: list[str] = []
    number = 0
    while number < len(lines):
        line, taken = lines[number], 1
        if (
            number + 1 < len(lines)
            and _BARE_NAME.match(line)
            and _BRACKETED.match(lines[number + 1])
        ):
            # `@name` on a line and `[value]` on the next, as a model sometimes splits one.
            line, taken = line.rstrip() + lines[number + 1].strip(), 2
        match = None if number + 1 in in_strings else _ANSWER_LINE.match(line)
        if match is not None and _decorates(lines[number + taken :], match["indent"]):
            match = None  # `@registry[0]` above a def is a decorator
        if match is None:
            kept.append(lines[number])
            number += 1
            continue
        answers.append(f"@{match['name']}[{match['value']}]")
        indent, name, value = match["indent"], match["name"], match["value"]
        if value.strip() and _is_expression(value) and not _is_guess(value):
            shown = f"{_ANSWER_VALUE}({value})"
            # Prose can parse as Python (`not normal`): a name nothing defines means prose.
            # One line (a `with` on one line): the lines after keep their numbers.
            kept.append(
                f"{indent}with __import__('contextlib').suppress(NameError): "
                f"print({'@' + name + '['!r} + {shown} + ']')"
            )
        else:
            kept.append(f"{indent}pass" if indent else "")  # keeps an indented block whole
        kept.extend([f"{indent}pass" if indent else ""] * (taken - 1))
        number += taken
    result = "\n".join(kept)
    if not answers or not result.strip() or not _compiles(result):
        return code, []
    return result, answers


#: How a salvaged answer line shows its value, inline (nothing is defined in the kernel): a
#: list, an array or a Series as its items joined by ", " (`['Switzerland']` as Switzerland),
#: anything else as str().
_ANSWER_VALUE = (
    "(lambda v: (lambda w: ', '.join(map(str, w)) if isinstance(w, (list, tuple, set)) "
    "else str(w))(v.tolist() if hasattr(v, 'tolist') and not isinstance(v, str) else v))"
)
_BARE_NAME = re.compile(r"^[ \t]*@\w+[ \t]*$")
_BRACKETED = re.compile(r"^[ \t]*\[.*\][ \t]*$")
_DEFINITION = re.compile(r"(async[ \t]+def|def|class)[ \t]")


def _lines_in_strings(code: str) -> set[int]:
    """Numbers (from 1) of the lines that lie inside a string spanning several lines: their
    text is data, whatever it looks like."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING or token.type == getattr(
                tokenize, "FSTRING_MIDDLE", -1
            ):
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # what was read before the error still counts
    return inside


def _decorates(following: list[str], indent: str) -> bool:
    """Whether the next line that says something, at the same indent and past any other
    `@` lines, defines a function or a class: the line before it is a decorator."""
    for line in following:
        if not line.strip() or line.startswith(indent + "@"):
            continue
        return line.startswith(indent) and bool(_DEFINITION.match(line[len(indent) :]))
    return False


def _is_expression(text: str) -> bool:
    try:
        compile(text, "<answer>", "eval", flags=ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _is_guess(text: str) -> bool:
    """A value written out, not computed: a literal (`1`, `-0.5`, `'yes'`, `[1, 2]`) or an
    expression of literals and built-ins only (`120 + 35`, `float`, `round(3.14159, 2)`);
    naming anything the code defined (`df`, `mean_age`) is computing."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return all(node.id in _BUILTINS for node in ast.walk(tree) if isinstance(node, ast.Name))


_BUILTINS = frozenset(dir(builtins))


def _compiles(code: str) -> bool:
    try:
        compile(code, "<cell>", "exec", flags=ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
