"""Runs INSIDE the sandboxed kernel (its source is sent there; it never runs on the host).

Two helpers the run loop calls between the model's cells, each printing one JSON object on a
line of its own after a marker, so the host can find it in the cell's stdout:

- ``describe(paths, budget)``: what each file in /mnt/data holds, for the model's first turn:
  tables (csv/tsv/xlsx sheets/json records/parquet) as shape, columns with dtypes and a few
  rows; text as its head; anything else as its type and size. Files are hostile input, which
  is why this runs here and not on the host.
- ``hint()``: after a failed cell, what the namespace knows that the error message does not: the
  existing columns or keys and the closest matches for a missing one, close names for a missing
  name or attribute, the files in /mnt/data for a missing file, the text columns or missing
  values where numbers were needed, the values a column does hold when a filter matched none.

Only the standard library and (when importable) pandas are used; nothing is left in the user's
namespace: the module lives in ``sys.modules`` under a private name.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from typing import Any

MARKER = "<<airlock-assist>>"  # printable: str.splitlines() splits on \x1e and kin
DATA_DIR = "/mnt/data"
TABLE_SUFFIXES = {".csv", ".tsv", ".xlsx", ".xls", ".json", ".jsonl", ".parquet"}
TEXT_SUFFIXES = {
    ".txt",
    ".md",
    ".log",
    ".py",
    ".html",
    ".xml",
    ".yaml",
    ".yml",
    ".ini",
    ".cfg",
    ".sql",
    ".tex",
    ".rst",
    ".toml",
}
MAX_COLUMNS = 40
MAX_SHEETS = 3


def _emit(value: Any) -> None:
    print(MARKER + json.dumps(value, default=str))


# The format of engine.core.sizes.human_size, copied: this module runs inside the sandbox, where
# the engine cannot be imported.
def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _frame_text(frame: Any, rows: int, width: int) -> str:
    """Shape, columns with dtypes (and missing counts), and the first rows."""
    columns = list(frame.columns)
    shown = columns[:MAX_COLUMNS]
    lines = [f"{frame.shape[0]} rows x {frame.shape[1]} columns"]
    described = []
    for name in shown:
        column = frame[name]
        dtype = str(getattr(column, "dtype", "?"))
        missing = int(column.isna().sum()) if hasattr(column, "isna") else 0
        described.append(f"{name!r} {dtype}" + (f" ({missing} missing)" if missing else ""))
    lines.append(
        "columns: "
        + ", ".join(described)
        + (f", ... {len(columns) - len(shown)} more" if len(columns) > len(shown) else "")
    )
    if rows > 0 and len(frame):
        import pandas as pd  # type: ignore[import-untyped,unused-ignore]

        with pd.option_context("display.width", width):
            lines.append(f"first {min(rows, len(frame))} rows:")
            lines.append(frame.head(rows).to_string(max_colwidth=24, max_cols=MAX_COLUMNS))
    return "\n".join(lines)


def _json_shape(value: Any, depth: int = 0) -> str:
    if depth > 2:
        return type(value).__name__
    if isinstance(value, dict):
        items = list(value.items())[:12]
        inner = ", ".join(f"{k!r}: {_json_shape(v, depth + 1)}" for k, v in items)
        return "{" + inner + (", ..." if len(value) > len(items) else "") + "}"
    if isinstance(value, list):
        return f"list of {len(value)}" + (
            f" [{_json_shape(value[0], depth + 1)}, ...]" if value else ""
        )
    return type(value).__name__


def _load_line(path: str, suffix: str) -> str:
    """The line that loads the file, ready to copy (names with spaces are where small models
    go wrong when they write the path themselves)."""
    reader = {
        ".csv": "pd.read_csv({p})",
        ".tsv": "pd.read_csv({p}, sep='\\t')",
        ".xlsx": "pd.read_excel({p})  # first sheet; sheet_name=... for another",
        ".xls": "pd.read_excel({p})  # first sheet; sheet_name=... for another",
        ".parquet": "pd.read_parquet({p})",
        ".jsonl": "pd.read_json({p}, lines=True)",
        ".json": "json.load(open({p}))",
    }[suffix]
    return "load with: " + reader.format(p=repr(path))


def _describe_table(path: str, suffix: str, rows: int, width: int) -> str:
    return _load_line(path, suffix) + "\n" + _table_text(path, suffix, rows, width)


def _table_text(path: str, suffix: str, rows: int, width: int) -> str:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]

    if suffix in (".csv", ".tsv"):
        sep = "\t" if suffix == ".tsv" else None
        frame = (
            pd.read_csv(path, sep=sep, engine="python", nrows=20000)
            if sep is None
            else pd.read_csv(path, sep=sep, nrows=20000)
        )
        full_rows = _count_lines(path) - 1
        text = _frame_text(frame, rows, width)
        if full_rows > len(frame):
            text = text.replace(f"{frame.shape[0]} rows", f"{full_rows} rows", 1)
        return text
    if suffix in (".xlsx", ".xls"):
        sheets = pd.read_excel(path, sheet_name=None, nrows=2000)
        parts = [f"{len(sheets)} sheet(s): {', '.join(map(repr, sheets))}"]
        for name, frame in list(sheets.items())[:MAX_SHEETS]:
            parts.append(f"sheet {name!r}: " + _frame_text(frame, rows, width))
        return "\n".join(parts)
    if suffix == ".parquet":
        return _frame_text(pd.read_parquet(path), rows, width)
    if suffix == ".jsonl":
        return _frame_text(pd.read_json(path, lines=True), rows, width)
    with open(path, encoding="utf-8", errors="replace") as handle:
        data = json.load(handle)
    shape = "JSON: " + _json_shape(data)
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data[:50]):
        return (
            shape
            + "\nas a table (pd.json_normalize): "
            + _frame_text(pd.json_normalize(data), rows, width)
        )
    return shape


def _count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _describe_text(path: str, limit: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(limit)
    return "starts with:\n" + head


def describe(paths: list[str], budget: int = 3000, rows: int = 3, width: int = 100) -> None:
    """One entry per path: {"path", "text"}; each text kept within its share of `budget`."""
    out = []
    share = max(400, budget // max(1, len(paths)))
    for path in paths:
        suffix = os.path.splitext(path)[1].lower()
        try:
            size = os.path.getsize(path)
            head = f"{_size(size)}"
            if suffix in TABLE_SUFFIXES:
                text = _describe_table(path, suffix, rows, width)
            elif suffix in TEXT_SUFFIXES:
                text = _describe_text(path, min(share, 600))
            else:
                text = "binary or unknown type"
            text = f"{head}; {text}"
        except Exception as error:  # a broken file is described, never fatal
            text = f"could not be read as {suffix or 'a file'}: {type(error).__name__}: {error}"
        if len(text) > share:
            text = text[: share - 20] + "\n[... cut ...]"
        out.append({"path": path, "text": text})
    _emit(out)


# ---------------------------------------------------------------- hints after an error


def _user_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return {}
    return dict(shell.user_ns) if shell is not None else {}


def _public(names: Any) -> list[str]:
    return [n for n in names if isinstance(n, str) and not n.startswith("_")]


def _close(word: str, candidates: list[str]) -> list[str]:
    lowered = {c.lower(): c for c in candidates}
    exact = [lowered[word.lower()]] if word.lower() in lowered else []
    near = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    near += [
        lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.6)
    ]
    return list(dict.fromkeys(exact + near))


def _frames(namespace: dict[str, Any]) -> list[tuple[str, Any]]:
    found = []
    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        kind = type(value).__name__
        if kind == "DataFrame" and hasattr(value, "columns"):
            found.append((name, value))
    return found


def _key_hints(key: Any, namespace: dict[str, Any]) -> list[str]:
    hints = []
    keys = key if isinstance(key, list | tuple) else [key]
    for name, frame in _frames(namespace)[:4]:
        columns = [str(c) for c in frame.columns]
        shown = columns[:MAX_COLUMNS]
        line = f"`{name}` has columns {shown}" + (" ..." if len(columns) > len(shown) else "")
        matches = [m for k in keys for m in _close(str(k), columns)]
        if matches:
            line += f"; closest to {key!r}: " + ", ".join(repr(m) for m in dict.fromkeys(matches))
        hints.append(line)
        padded = [c for c in columns if c != c.strip() and c.strip() in map(str, keys)]
        if padded:
            hints.append(
                f"the column names of `{name}` have spaces around them ({padded[0]!r}):"
                f" strip them once, {name}.columns = {name}.columns.str.strip(), "
                "then use the plain names"
            )
    for name, value in namespace.items():
        if isinstance(value, dict) and not name.startswith("_") and len(hints) < 6:
            matches = _close(str(key), [str(k) for k in value])
            if matches:
                hints.append(f"dict `{name}` has keys like {', '.join(map(repr, matches))}")
    return hints


def _name_hints(missing: str, namespace: dict[str, Any]) -> list[str]:
    import builtins

    candidates = _public(namespace) + dir(builtins)
    matches = _close(missing, candidates)
    hints = [f"did you mean {', '.join(matches)}?"] if matches else []
    defined = [
        n
        for n in _public(namespace)
        if not _shell_given(n, namespace[n]) and type(namespace[n]).__name__ != "module"
    ][-15:]
    modules = [n for n in _public(namespace) if type(namespace[n]).__name__ == "module"]
    if defined:
        hints.append("variables defined: " + ", ".join(defined))
    if modules:
        hints.append("modules imported: " + ", ".join(modules))
    if missing in ("pd", "np", "plt", "sns"):
        full = {"pd": "pandas", "np": "numpy", "plt": "matplotlib.pyplot", "sns": "seaborn"}
        hints.append(f"import it first: import {full[missing]} as {missing}")
    return hints


def _shell_given(name: str, value: Any) -> bool:
    """Names IPython puts in every namespace (In, Out, exit, get_ipython, open...)."""
    if name in ("In", "Out", "exit", "quit"):
        return True
    module = getattr(value, "__module__", None) or ""
    return callable(value) and module.startswith(("IPython", "builtins", "io", "_io"))


def _attribute_hints(error: AttributeError, namespace: dict[str, Any]) -> list[str]:
    obj, name = getattr(error, "obj", None), getattr(error, "name", None)
    if obj is None or not isinstance(name, str):
        return []
    hints = []
    if type(obj).__name__ == "DataFrame":
        columns = [str(c) for c in obj.columns]
        matches = _close(name, columns)
        if matches:
            hints.append(f"the DataFrame has a column {matches[0]!r}: use df[{matches[0]!r}]")
    attrs = _close(name, _public(dir(obj)))
    if attrs:
        hints.append(f"{type(obj).__name__} has: {', '.join(attrs)}")
    return hints


def _file_hints() -> list[str]:
    try:
        names = sorted(os.listdir(DATA_DIR))[:30]
    except OSError:
        return []
    return [f"files in {DATA_DIR}: {', '.join(names) if names else '(none)'}"]


_NOT_A_NUMBER = re.compile(r"could not convert string to float: (['\"])(.*)\1")


def _value_error_hints(error: ValueError, namespace: dict[str, Any]) -> list[str]:
    """Text or missing values where numbers were needed (a model fitted on every column):
    which columns hold text, which hold missing values, and how to keep only what fits."""
    message = str(error)
    hints = []
    if "subset columns with a tuple" in message:  # frame.groupby(...)['a', 'b'] (pandas >= 2)
        hints.append(
            "select several columns with a list, two pairs of brackets: "
            "frame.groupby('key')[['a', 'b']].sum(), not frame.groupby('key')['a', 'b']"
        )
    text_wanted = _NOT_A_NUMBER.search(message)
    if text_wanted or "contains NaN" in message:
        for name, frame in _frames(namespace)[:3]:
            if text_wanted:
                text = [
                    str(c)
                    for c in frame.columns
                    if str(frame[c].dtype) in ("object", "string", "str", "category")
                    or str(frame[c].dtype).startswith("string")
                ]
                holding = [c for c in text if (frame[c].astype(str) == text_wanted.group(2)).any()][
                    :3
                ]
                if text:
                    hints.append(
                        f"`{name}` has text columns {text[:MAX_COLUMNS]}"
                        + (
                            f" ({', '.join(map(repr, holding))} holds {text_wanted.group(2)!r})"
                            if holding
                            else ""
                        )
                        + f"; keep the numeric ones ({name}.select_dtypes('number')) "
                        "or encode the text ones (pd.get_dummies) before using them as numbers"
                    )
            else:
                missing = frame.isna().sum()
                missing = missing[missing > 0]
                if len(missing):
                    counts = ", ".join(f"{c!r} ({n})" for c, n in missing.items())
                    hints.append(
                        f"`{name}` has missing values in {counts}: fill them "
                        "(.fillna) or drop those rows (.dropna(subset=[...])) first"
                    )
    return hints


#: `frame['column'] == 'value'` in a cell: a filter whose value may not be in the column.
_EQUALITY_FILTER = re.compile(r"""(\w+)\[\s*(['"])([^'"\n]+)\2\s*\]\s*==\s*(['"])([^'"\n]*)\4""")
MAX_DISTINCT = 5000


def _value_hints(code: str, namespace: dict[str, Any]) -> list[str]:
    """Filters on a string the column does not hold (they select nothing), and what it does
    hold: the closest values first, then the most common."""
    hints = []
    for frame_name, _q, column, _q2, value in _EQUALITY_FILTER.findall(code)[:5]:
        frame: Any = namespace.get(frame_name)
        if type(frame).__name__ != "DataFrame" or column not in frame.columns:
            continue
        counts = frame[column].dropna().astype(str).value_counts()
        if value in counts.index or len(counts) > MAX_DISTINCT:
            continue
        close = _close(value, [str(v) for v in counts.index])
        common = [str(v) for v in counts.index[:6]]
        hints.append(
            f"{frame_name}[{column!r}] never equals {value!r}, so that filter selects "
            "no rows; "
            + (f"closest values: {', '.join(map(repr, close))}; " if close else "")
            + f"most common: {', '.join(map(repr, common))}"
        )
    return hints


def _empty_frames(namespace: dict[str, Any]) -> list[str]:
    empty = [name for name, frame in _frames(namespace) if len(frame) == 0]
    return [f"`{name}` has 0 rows" for name in empty[:4]]


def sanity(code: str) -> None:
    """{"hints": [...]} after a cell that ran but printed nan or an empty frame: filters that
    select nothing and the frames left empty."""
    hints: list[str] = []
    try:
        namespace = _user_namespace()
        hints = _value_hints(code, namespace) + _empty_frames(namespace)
    except Exception as failure:  # a hint is a bonus: never an error of its own
        hints = [f"(no hint: {type(failure).__name__})"]
    _emit({"hints": hints[:6]})


def hint(code: str = "") -> None:
    """{"hints": [...]} for the last exception the kernel showed (raised by `code`)."""
    error = getattr(sys, "last_value", None)
    hints: list[str] = []
    try:
        namespace = _user_namespace()
        if isinstance(error, KeyError) and error.args:
            hints = _key_hints(error.args[0], namespace)
        elif isinstance(error, NameError) and not isinstance(error, UnboundLocalError):
            missing = getattr(error, "name", None) or str(error).split("'")[1::2][:1]
            if isinstance(missing, list):
                missing = missing[0] if missing else ""
            hints = _name_hints(str(missing), namespace) if missing else []
        elif isinstance(error, AttributeError):
            hints = _attribute_hints(error, namespace)
        elif isinstance(error, FileNotFoundError):
            hints = _file_hints()
        elif isinstance(error, ValueError):
            hints = _value_error_hints(error, namespace)
        elif isinstance(error, ModuleNotFoundError):
            hints = [
                "the sandbox has no internet: use the libraries already installed "
                "(pandas, numpy, scipy, sklearn, matplotlib, statsmodels if present)"
            ]
        elif type(error).__name__ == "UndefinedVariableError":  # pandas query/eval
            hints = _key_hints(str(error).split("'")[1] if "'" in str(error) else "", namespace)
        hints += _value_hints(code, namespace) + _empty_frames(namespace)
    except Exception as failure:  # a hint is a bonus: never an error of its own
        hints = [f"(no hint: {type(failure).__name__})"]
    _emit({"hints": hints[:6]})
