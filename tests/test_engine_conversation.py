"""What the model is sent (cutting, budget) and how links become annotations: pure functions."""

from __future__ import annotations

from engine.annotations import file_path_annotations, sandbox_links
from engine.conversation import cut_middle, describe_execution, fit_to_budget
from models import ChatMessage
from sandbox import CellError, Execution, KernelRestart, StreamChunk


def test_cut_middle_keeps_head_and_tail_and_says_what_was_cut() -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    cut = cut_middle(text, 1000)
    assert len(cut) <= 1000
    assert cut.startswith("line 0\n")
    assert cut.rstrip().endswith("line 1999")
    assert "characters cut" in cut
    assert cut_middle("short", 1000) == "short"


def test_a_long_traceback_keeps_its_last_line() -> None:
    frames = "".join(f'  File "x.py", line {i}, in f\n    f()\n' for i in range(3000))
    execution = Execution(
        code="f()",
        streams=[StreamChunk("stdout", "x" * 50_000)],
        error=CellError(
            "RecursionError",
            "maximum recursion depth exceeded",
            f"Traceback (most recent call last):\n{frames}"
            "RecursionError: maximum recursion depth exceeded",
        ),
    )
    described = describe_execution(execution, max_chars=4000)
    assert len(described) < 4400
    assert described.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    assert "xxxx" in described  # some of the output survives too


def test_a_restart_tells_the_model_its_variables_are_gone() -> None:
    execution = Execution(
        code="boom()",
        restart=KernelRestart("memory limit of 768 MB exceeded"),
        error=CellError("KernelRestarted", "restarted", "KernelRestarted: x"),
    )
    described = describe_execution(execution, max_chars=4000)
    assert "memory limit of 768 MB exceeded" in described
    assert "variable" in described and "gone" in described


def test_silent_cells_are_described_as_such() -> None:
    assert "without output" in describe_execution(Execution(code="x = 1"), max_chars=4000)


def test_fit_to_budget_shortens_old_outputs_before_dropping_messages() -> None:
    system = ChatMessage.system("sys")
    history = [
        ChatMessage.user("first question " * 50),
        ChatMessage.assistant("answer " * 50),
        ChatMessage.user("the question"),
    ]
    turns: list[ChatMessage] = []
    for i in range(4):
        turns += [
            ChatMessage.code(f"print({i})", f"call_{i}"),
            ChatMessage.tool(f"call_{i}", f"output {i} " + "word " * 2000),
        ]
    fitted = fit_to_budget(system, history, turns, budget=3000)
    tools = [m for m in fitted if m.role == "tool"]
    assert len(tools) == 4  # no code call loses its output: the model could not follow
    assert all(len(m.content) <= 700 for m in tools[:-1])
    assert tools[-1].content == turns[-1].content  # the latest output is kept as it was
    assert fitted[0] is system
    assert [m for m in fitted if m.role == "user"][-1].content == "the question"


def test_fit_to_budget_drops_oldest_messages_last_and_keeps_the_question() -> None:
    history = [
        ChatMessage.user("old " * 3000),
        ChatMessage.assistant("reply " * 3000),
        ChatMessage.user("newest"),
    ]
    fitted = fit_to_budget(ChatMessage.system("sys"), history, [], budget=500)
    assert [m.content for m in fitted[1:]] == ["newest"]


def test_links_become_annotations_with_exact_indexes() -> None:
    text = "Saved [csv](sandbox:/mnt/data/out.csv). Also sandbox:/mnt/data/my%20plot.png, done."
    ids = {"/mnt/data/out.csv": "file-csv", "/mnt/data/my plot.png": "file-png"}
    annotations = file_path_annotations(text, ids.get)
    assert [a.file_path.file_id for a in annotations] == ["file-csv", "file-png"]
    for annotation in annotations:
        assert text[annotation.start_index : annotation.end_index] == annotation.text
    assert annotations[0].text == "sandbox:/mnt/data/out.csv"
    assert annotations[1].text == "sandbox:/mnt/data/my%20plot.png"  # the comma is not in it


def test_links_to_unknown_files_and_the_bare_folder_get_no_annotation() -> None:
    text = "See sandbox:/mnt/data/ and sandbox:/mnt/data/missing.csv"
    assert [path for _s, _e, path in sandbox_links(text)] == ["/mnt/data/missing.csv"]
    assert file_path_annotations(text, lambda _path: None) == []
