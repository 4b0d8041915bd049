"""The code snippets of the two seed documents, read from the documents themselves at test time.

Nothing of the guides is copied here: only the anchors that say which snippet is which (the call
or the curl URL each snippet is about) and the rules that undo the capture's damage.

- Azure's how-to (`000_...txt`) is markdown: its snippets are ```python and ```console fences,
  taken as they are.
- OpenAI's guide (`004_...txt`) was captured from a web page: the guide is one long line, every
  run of whitespace collapsed to one space, fences included (```python ... ```). Line breaks are
  put back only where the language needs them (see `_python_lines` and `_shell_lines`); inside
  brackets and quotes the text stays as captured, which Python and JSON accept.

Snippets are matched to their anchors in document order, and the count must match, so a change
in a seed document fails loudly (`SeedChanged`) instead of testing less than before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
AZURE_FILE = "000_742689256c8bf523.txt"
OPENAI_FILE = "004_595ea45623823477.txt"
# The one line of OpenAI's capture that holds the guide (the rest of the file is the page's menus).
OPENAI_GUIDE_LINE = "# code-interpreter Assistants Code Interpreter Beta"

# What each document's snippets are about, in document order: name -> the text one of the
# snippet's lines starts with. (Azure's Python snippets all open by building the client, so their
# anchor is the call that follows.)
OPENAI_PYTHON = {
    "enable": "assistant = client.beta.assistants.create(",
    "assistant_files": "file = client.files.create(",
    "thread_files": "thread = client.beta.threads.create(",
    "download": "image_data = client.files.content(",
    "steps": "run_steps = client.beta.threads.runs.steps.list(",
}
OPENAI_HOST = "https://api.openai.com"
OPENAI_CURL = {
    "enable": f"curl {OPENAI_HOST}/v1/assistants ",
    "upload": f"curl {OPENAI_HOST}/v1/files ",
    "assistant_file": f"curl {OPENAI_HOST}/v1/assistants ",
    "message": f"curl {OPENAI_HOST}/v1/threads/thread_abc123/messages ",
    "download": f"curl {OPENAI_HOST}/v1/files/file-abc123/content ",
    "steps": f"curl {OPENAI_HOST}/v1/threads/thread_abc123/runs/RUN_ID/steps ",
}
AZURE_PYTHON = {
    "enable": "assistant = client.beta.assistants.create(",
    "upload": "file = client.files.create(",
    "thread": "thread = client.beta.threads.create(",
    "download": "image_data = client.files.content(",
}
AZURE_HOST = "https://YOUR_RESOURCE_NAME.openai.azure.com"
AZURE_CURL = {
    "enable": f"curl {AZURE_HOST}/openai/assistants?",
    "upload": f"curl {AZURE_HOST}/openai/files?",
    "assistant_file": f"curl {AZURE_HOST}/openai/assistants?",
    "message": f"curl {AZURE_HOST}/openai/threads/<YOUR-THREAD-ID>/messages?",
    "download": f"curl {AZURE_HOST}/openai/files/<YOUR-FILE-ID>/content?",
}


class SeedChanged(AssertionError):
    """A seed document no longer holds the snippets these tests run."""


@dataclass(frozen=True)
class Guide:
    python: dict[str, str]  # name -> source, runnable as is
    curl: dict[str, str]  # name -> one curl command (with the comment before it), runnable as is


def load_openai(seeds: Path = SEEDS) -> Guide:
    text = (seeds / OPENAI_FILE).read_text(encoding="utf-8")
    guides = [
        line.strip() for line in text.splitlines() if line.strip().startswith(OPENAI_GUIDE_LINE)
    ]
    if len(guides) != 1:
        raise SeedChanged(f"{OPENAI_FILE}: {len(guides)} lines start {OPENAI_GUIDE_LINE!r}")
    # "```python <code> ```": the opening fence is followed by its language, the closing one by
    # a space (or the end of the line).
    fences = re.findall(r"```(\w+) (.*?) ?```", guides[0])
    python = [_python_lines(code) for lang, code in fences if lang == "python"]
    # The guide labels its example run-step response `bash` too; only blocks that run curl count.
    shell = [
        _shell_lines(code)
        for lang, code in fences
        if lang == "bash" and code.startswith(("curl ", "# "))
    ]
    return Guide(
        _match(OPENAI_FILE, "python", python, OPENAI_PYTHON),
        _match(OPENAI_FILE, "curl", _commands(shell), OPENAI_CURL),
    )


def load_azure(seeds: Path = SEEDS) -> Guide:
    text = (seeds / AZURE_FILE).read_text(encoding="utf-8")
    fences = re.findall(r"^```(\w+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    python = [code for lang, code in fences if lang == "python"]
    shell = [code for lang, code in fences if lang == "console"]
    return Guide(
        _match(AZURE_FILE, "python", python, AZURE_PYTHON),
        _match(AZURE_FILE, "curl", _commands(shell), AZURE_CURL),
    )


def _match(
    document: str, kind: str, snippets: list[str], anchors: dict[str, str]
) -> dict[str, str]:
    """The snippets named by their anchors: as many as anchors, the n-th having a line that
    starts with the n-th anchor."""
    found = [
        any(line.startswith(anchor) for line in snippet.splitlines())
        for snippet, anchor in zip(snippets, anchors.values(), strict=False)
    ]
    if len(snippets) != len(anchors) or not all(found):
        raise SeedChanged(
            f"{document}: expected {len(anchors)} {kind} snippets starting "
            f"{list(anchors.values())}, found {len(snippets)}: {snippets}"
        )
    return dict(zip(anchors, snippets, strict=True))


def _commands(blocks: list[str]) -> list[str]:
    """The curl commands of shell blocks, each with the comment lines just before it (one of each
    guide's blocks holds two commands: an upload, then the assistant using the file)."""
    commands: list[str] = []
    for block in blocks:
        chunks: list[str] = []
        for line in block.strip("\n").split("\n"):
            # A comment or a curl line starts a command, unless it follows that command's comment.
            opens = line.startswith(("# ", "curl "))
            after_comment = bool(chunks) and all(
                not old or old.startswith("#") for old in chunks[-1].split("\n")
            )
            if not chunks or (opens and not after_comment):
                chunks.append("")
            chunks[-1] += line + "\n"
        commands += [chunk.rstrip("\n") + "\n" for chunk in chunks]
    return commands


# A Python statement that starts after a space in the collapsed text, outside brackets and
# quotes: an assignment, an import or a `with` (the only statements the guide's snippets use).
_PY_STATEMENT = re.compile(r" (?=[A-Za-z_][\w.]* = |from [\w.]+ import |with [\w.]+\()")


def _python_lines(flat: str) -> str:
    """Collapsed Python with its line breaks back: before each statement and each comment (a
    comment runs to the next statement), and after a `with ...:` header, whose body (indented)
    runs to the end of the snippet (the only place the guide uses one)."""
    lines, line, indent = [], "", ""
    depth, quote, i = 0, "", 0
    while i < len(flat):
        char = flat[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and char == "#":
            statement = _PY_STATEMENT.search(flat, i)
            end = statement.start() if statement else len(flat)
            lines.append(indent + flat[i:end])
            i = end + 1
            continue
        elif depth == 0 and (
            char == " " and (_PY_STATEMENT.match(flat, i) or flat.startswith(" #", i))
        ):
            lines.append(indent + line)
            line, i = "", i + 1
            continue
        elif depth == 0 and char == ":":
            lines.append(indent + line + char)
            line, indent, i = "", indent + "    ", i + 2  # past ": "
            continue
        line += char
        i += 1
    lines.append(indent + line)
    return "".join(f"{line}\n" for line in lines if line.strip())


def _shell_lines(flat: str) -> str:
    """Collapsed shell commands with their line breaks back: a backslash outside quotes was a
    line continuation; a comment (`#` starting a word) runs to the next `curl`, which starts a
    new line too."""
    out, quote, i = "", "", 0
    while i < len(flat):
        char = flat[i]
        if quote:
            quote = "" if char == quote else quote
            if quote == '"' and char == "\\":  # an escape inside double quotes
                out += flat[i : i + 2]
                i += 2
                continue
        elif char in "\"'":
            quote = char
        elif char == "\\":
            out += "\\\n" + ("  " if i + 1 < len(flat) else "")
            i += 2  # past "\ "
            continue
        elif char == "#" and (i == 0 or flat[i - 1] == " "):
            end = flat.find(" curl ", i)
            end = len(flat) if end < 0 else end
            out = out.rstrip(" ") + ("\n" if out else "") + flat[i:end] + "\n"
            i = end + 1
            continue
        elif flat.startswith(" curl ", i) and out:
            out = out.rstrip(" ") + "\n"
            i += 1
            continue
        out += char
        i += 1
    return out.rstrip(" ") + "\n"
