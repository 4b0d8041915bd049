"""The help the run loop gives a model between cells (engine.core.assist): files described from
inside the sandbox, error digests with hints computed in the kernel, repeated failing cells not
rerun, answer lines taken out of code, the compute-first nudge, the answer reminder and the
sampling temperature. Real kernels, a real store, the scripted model recording what it saw."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from engine.core import AssistPolicy
from engine.core.annotations import fix_links
from engine.core.assist import (
    ANSWER_REMINDER,
    COMPUTE_FIRST,
    PRINT_FIRST,
    ROUND_FIRST,
    describe_files,
    error_digest,
    error_hints,
    normalise,
    salvage,
    sanity_hints,
)
from engine.core.assist.result_lines import ResultLines, asked_label
from engine.schemas import Run, TextContent
from sandbox import AsyncSession
from tests.engine_fixtures import (
    Harness,
    RecordingScripted,
    code,
    collect,
    open_engine,
    settings,
    text,
)

HarnessFactory = Callable[..., Awaitable[Harness]]
SALES = b"Region,Revenue,units\nNorth,10.5,3\nSouth,20.25,4\nNorth,1.25,1\n"


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    opened: list[Harness] = []

    async def make(assist: AssistPolicy | None = None, **limits: Any) -> Harness:
        backend = RecordingScripted()
        engine = await open_engine(
            backend, tmp_path / f"data{len(opened)}", settings(assist, **limits)
        )
        opened.append(Harness(engine, backend))
        return opened[-1]

    yield make
    for harness in opened:
        await harness.engine.aclose()


# ---------------------------------------------------------------- pure helpers


def test_normalise_ignores_comments_and_layout_but_not_behaviour() -> None:
    a = "import pandas as pd\ndf = pd.read_csv('x.csv')  # load\n\nprint(df['a'])\n"
    b = "# the data\nimport pandas as pd\ndf = pd.read_csv( 'x.csv' )\nprint(df['a'])"
    assert normalise(a) == normalise(b)
    assert normalise(a) != normalise(a.replace("'a'", "'A'"))
    # Code that does not parse is compared token by token, comments aside.
    assert normalise("print(1\n# x") == normalise("print(1  # y")
    assert normalise("print(1") != normalise("print(2")


def test_salvage_takes_answer_lines_out_of_code_that_does_not_compile() -> None:
    cell = "x = {'a': 21 * 2}\n@answer[x['a']]\nif x:\n    @other[some prose]\n@third[]"
    kept, lines = salvage(cell)
    assert lines == ["@answer[x['a']]", "@other[some prose]", "@third[]"]
    # An expression is printed as the answer line it was meant to be; prose is taken out.
    assert kept.startswith(
        "x = {'a': 21 * 2}\nwith __import__('contextlib').suppress(NameError): print('@answer['"
    )
    assert kept.endswith("(x['a']) + ']')\nif x:\n    pass\n")
    assert _printed(kept) == "@answer[42]\n"
    # Prose that parses as Python names nothing defined: it shows nothing, and fails nothing.
    prose, _ = salvage("p = 0.01\nif p < 0.05:\n    @normality[not normal]")
    assert _printed(prose) == ""
    # A literal is a value written before anything was computed: taken out like prose.
    guessed, lines = salvage("n = 3131\n@count[1]\n@share[-0.5]\n@names[['a', 'b']]")
    assert lines == ["@count[1]", "@share[-0.5]", "@names[['a', 'b']]"]
    assert guessed == "n = 3131\n\n\n" and _printed(guessed) == ""
    # So is a value of literals and built-ins only: nothing in it was computed.
    built, lines = salvage("m = 4\n@t[float]\n@s[120 + 35]\n@r[round(m / 4, 2)]  # the answer")
    assert lines == ["@t[float]", "@s[120 + 35]", "@r[round(m / 4, 2)]"]
    assert _printed(built) == "@r[1.0]\n"
    # A list, an array or a Series shows its items, as an answer line means them.
    listed, _ = salvage(
        "import numpy as np\nbest = ['Switzerland']\n@best[best]\n@v[np.array([1, 2])]"
    )
    assert _printed(listed) == "@best[Switzerland]\n@v[1, 2]\n"
    # Code that compiles is left alone (a decorator is Python)...
    decorated = "import functools\n@functools.cache\ndef f():\n    return 1"
    assert salvage(decorated) == (decorated, [])
    # ...and so is code that would still not compile without the answer lines.
    broken = "print(1\n@answer[1]"
    assert salvage(broken) == (broken, [])
    # An answer line split over two lines (seen from the default model) is one answer line.
    split = "x = 2\n@answer\n[x * 21]\n@note\n[no missing values]"
    joined, lines = salvage(split)
    assert lines == ["@answer[x * 21]", "@note[no missing values]"]
    assert _printed(joined) == "@answer[42]\n"
    # Every line keeps its number: an error in the code that runs names the model's line.
    numbered = "import math\n@count[3131]\n@split\n[math.pi]\nx = 1\n@y[x]\nprint(missing)"
    salvaged, _ = salvage(numbered)
    assert salvaged.splitlines()[4] == "x = 1" and salvaged.splitlines()[6] == "print(missing)"
    # Text inside a string is data, and an `@` line above a def is a decorator.
    quoted = 's = """Format:\n@mean[mean]\n"""\nmean = 2\n@mean[mean]'
    assert _printed(salvage(quoted)[0]) == "@mean[2]\n"
    decorator = "hs = [lambda f: f]\n@hs[0]\ndef g():\n    return 1\n@x[g()]"
    assert _printed(salvage(decorator)[0] + "\nprint(g())") == "@x[1]\n1\n"


def _printed(code: str) -> str:
    """What `code` prints, run here (salvaged code is plain Python)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {})
    return out.getvalue()


# ---------------------------------------------------------------- in a real kernel


async def test_files_are_described_from_inside_the_sandbox(
    session: AsyncSession, tmp_path: Path
) -> None:
    import pandas as pd

    session.put_file("sales.csv", SALES)
    book = tmp_path / "book.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame({"a": [1, 2]}).to_excel(writer, sheet_name="first", index=False)
        pd.DataFrame({"Total Cost": [3.5], "item": ["x"]}).to_excel(
            writer, sheet_name="second", index=False
        )
    session.put_file("book.xlsx", book)
    session.put_file(
        "records.json",
        json.dumps([{"id": 1, "user": {"name": "a"}}, {"id": 2, "user": {"name": "b"}}]).encode(),
    )
    session.put_file("notes.txt", b"first line\nsecond line\n")
    session.put_file("blob.bin", bytes(range(256)))
    session.put_file("broken.csv", b'\xff\xfe\x00garbage\x00\n"unclosed')
    paths = [
        f"/mnt/data/{n}"
        for n in (
            "sales.csv",
            "book.xlsx",
            "records.json",
            "notes.txt",
            "blob.bin",
            "broken.csv",
            "gone.csv",
        )
    ]

    described = await describe_files(session, paths, budget_chars=4000)

    assert set(described) == set(paths)
    sales = described["/mnt/data/sales.csv"]
    assert "3 rows x 3 columns" in sales
    assert "load with: pd.read_csv('/mnt/data/sales.csv')" in sales
    assert "'Region' str" in sales or "'Region' object" in sales
    assert "'Revenue' float64" in sales and "North" in sales
    book_text = described["/mnt/data/book.xlsx"]
    assert "2 sheet(s)" in book_text and "'Total Cost'" in book_text
    assert "user.name" in described["/mnt/data/records.json"]
    assert "second line" in described["/mnt/data/notes.txt"]
    assert "binary" in described["/mnt/data/blob.bin"]
    assert "could not be read" in described["/mnt/data/gone.csv"]
    # Nothing is left behind in the user's namespace.
    names = await session.execute("print(sorted(k for k in globals() if 'airlock' in k))")
    assert names.stdout.strip() == "[]"


async def test_hints_name_what_exists_after_an_error(session: AsyncSession) -> None:
    session.put_file("sales.csv", SALES)
    setup = await session.execute(
        "import pandas as pd\nsales_df = pd.read_csv('/mnt/data/sales.csv')\ntotal = 3"
    )
    assert setup.ok

    key = await session.execute("sales_df.groupby('region')['Revenue'].sum()")
    hints = await error_hints(session, "")
    assert any("'Region'" in h and "sales_df" in h for h in hints), hints
    digest = error_digest(key, hints, max_chars=2000)
    assert digest.startswith(
        "Error on line 1 of your code: sales_df.groupby('region')['Revenue'].sum()"
    )
    assert "KeyError: 'region'" in digest and "(raised inside pandas" in digest
    assert len(digest) < len(key.error.traceback if key.error else "")

    name = await session.execute("x = 1\nprint(totl)")
    assert "did you mean total?" in error_digest(
        name, await error_hints(session, ""), max_chars=2000
    )
    attribute = await session.execute("sales_df.revenue.sum()")
    assert "'Revenue'" in "\n".join(await error_hints(session, "")), attribute.error
    padded = await session.execute("wind = pd.DataFrame({' SPEED': [1.0]})\nwind['SPEED']")
    assert padded.error is not None
    assert "wind.columns = wind.columns.str.strip()" in "\n".join(await error_hints(session, ""))
    missing = await session.execute("open('/mnt/data/sale.csv')")
    assert "sales.csv" in error_digest(missing, await error_hints(session, ""), max_chars=2000)


async def test_a_filter_that_selects_nothing_is_named(session: AsyncSession) -> None:
    await session.execute(
        "import pandas as pd\nnews = pd.DataFrame({'source': ['abc-news', "
        "'abc-news', 'cnn'], 'neg': [0.1, 0.2, 0.3]})"
    )
    cell = (
        "abc = news[news['source'] == 'ABC News']\n"
        "from scipy.stats import pearsonr\npearsonr(abc['neg'], abc['neg'])"
    )
    failed = await session.execute(cell)
    assert failed.error is not None
    hints = await error_hints(session, cell)
    joined = "\n".join(hints)
    assert "news['source'] never equals 'ABC News'" in joined
    assert "'abc-news'" in joined and "`abc` has 0 rows" in joined
    # A clean cell that printed nan gets the same look.
    clean = "empty = news[news['source'] == 'BBC']\nprint(empty['neg'].mean())"
    assert (await session.execute(clean)).stdout.strip() == "nan"
    assert any("never equals 'BBC'" in h for h in await sanity_hints(session, clean))


async def test_text_or_missing_values_where_numbers_were_needed_are_named(
    session: AsyncSession,
) -> None:
    await session.execute(
        "import pandas as pd\nfrom sklearn.linear_model import LinearRegression\n"
        "people = pd.DataFrame({'Name': ['Ann Lee', 'Bo Li', 'Cy Ng'], 'Age': [30, None, 41],"
        " 'Fare': [7.5, 8.0, 9.1]})"
    )
    text = await session.execute("LinearRegression().fit(people, people['Fare'])")
    assert text.error is not None and "could not convert string to float" in text.error.value
    hints = "\n".join(await error_hints(session, ""))
    assert "`people` has text columns ['Name']" in hints and "'Name' holds 'Ann Lee'" in hints
    assert "select_dtypes('number')" in hints
    missing = await session.execute("LinearRegression().fit(people[['Age']], people['Fare'])")
    assert missing.error is not None and "NaN" in missing.error.value
    hints = "\n".join(await error_hints(session, ""))
    assert "`people` has missing values in 'Age' (1)" in hints
    tuple_subset = await session.execute("people.groupby('Name')['Age', 'Fare'].sum()")
    assert tuple_subset.error is not None
    assert "[['a', 'b']]" in "\n".join(await error_hints(session, ""))


# ---------------------------------------------------------------- through the run loop


async def test_the_model_sees_the_data_and_must_compute_first(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    file = h.upload("sales.csv", SALES)
    prompt = "which region sold most?"
    run = await h.run(
        prompt,
        [
            code(
                "import pandas as pd\nprint(pd.read_csv("
                "'/mnt/data/sales.csv').groupby('Region').Revenue.sum())"
            ),
            text("South."),
        ],
        attachments=[file.id],
    )
    assert run.status == "completed"
    first, second = h.backend.calls_for(prompt)
    system = first.messages[0].content
    assert "/mnt/data/sales.csv" in system and "'Revenue' float64" in system
    assert first.code_tool == "required" and second.code_tool is True
    # The clean cell's description ends with the reminder to answer in the asked format.
    assert second.messages[-1].content.rstrip().endswith(ANSWER_REMINDER)


async def test_the_model_gets_a_digest_and_the_user_the_whole_traceback(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    file = h.upload("sales.csv", SALES)
    prompt = "digest"
    cell = (
        "import pandas as pd\nsales = pd.read_csv('/mnt/data/sales.csv')\n"
        "print(sales['revenue'].sum())"
    )
    run = await h.run(prompt, [code(cell), text("gave up")], attachments=[file.id])
    logs = h.logs(run)
    # The user sees the whole traceback through pandas, and what the model was told.
    assert "Traceback" in logs and "pandas/core" in logs
    assert "[airlock] hint for the model: `sales` has columns" in logs
    told = h.backend.calls_for(prompt)[1].messages[-1].content
    assert told.startswith("Error on line 3 of your code: print(sales['revenue'].sum())")
    assert "KeyError: 'revenue'" in told and "closest to 'revenue': 'Revenue'" in told
    assert "pandas/core" not in told and told.count("closest to") == 1


async def test_a_clean_cell_that_computed_nan_is_questioned(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    file = h.upload("sales.csv", SALES)
    prompt = "nan check"
    cell = (
        "import pandas as pd\nsales = pd.read_csv('/mnt/data/sales.csv')\n"
        "print(sales[sales['Region'] == 'north']['Revenue'].mean())"
    )
    run = await h.run(prompt, [code(cell), text("nan")], attachments=[file.id])
    assert run.status == "completed"
    told = h.backend.calls_for(prompt)[1].messages[-1].content
    assert told.startswith("nan")
    assert "Check before answering: sales['Region'] never equals 'north'" in told
    assert "'North'" in told and ANSWER_REMINDER not in told


async def test_unrounded_values_are_sent_back_once_when_the_question_asks_for_rounding(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    prompt = "What is the mean, rounded to two decimal places?"
    run = await h.run(
        prompt,
        [code("print(2 / 3)"), code("print(round(2 / 3, 2))"), text("@mean[0.67]")],
    )
    assert run.status == "completed"
    calls = h.backend.calls_for(prompt)
    assert len(calls) == 3
    # 0.6666666666666666 for a question that asks for rounding: round it first...
    assert calls[1].messages[-1].content.rstrip().endswith(ROUND_FIRST)
    # ...once: after the rounded cell the usual reminder to answer.
    assert calls[2].messages[-1].content.rstrip().endswith(ANSWER_REMINDER)
    # A question that asks for no rounding is not told to round.
    plain = "What is two thirds?"
    await h.run(plain, [code("print(2 / 3)"), text("0.6666666666666666")])
    assert h.backend.calls_for(plain)[1].messages[-1].content.rstrip().endswith(ANSWER_REMINDER)


async def test_a_clean_cell_that_showed_nothing_is_followed_by_a_request_to_print(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    prompt = "How many rows, as @rows[value]?"
    run = await h.run(prompt, [code("rows = 3"), code("print(rows)"), text("@rows[3]")])
    assert run.status == "completed"
    calls = h.backend.calls_for(prompt)
    # Nothing shown: no invitation to answer from it, a request to print first...
    assert calls[1].messages[-1].content.rstrip().endswith(PRINT_FIRST)
    assert ANSWER_REMINDER not in calls[1].messages[-1].content
    # ...and once something is printed, the usual reminder to answer.
    assert calls[2].messages[-1].content.rstrip().endswith(ANSWER_REMINDER)


async def test_what_the_answer_copied_of_airlocks_own_words_is_left_out(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    echoed = "@total[3]\n[airlock] hint for the model: something\n\n" + ANSWER_REMINDER + "\n```"
    run = await h.run("echo", [code("print(1 + 2)"), text(echoed)])
    assert run.status == "completed"
    assert message_text_of(h, run) == "@total[3]"


def test_a_printed_line_is_in_the_asked_format_when_the_question_shows_its_label() -> None:
    question = "Report it as @mean_speed[value] and Total revenue: X, rounded."
    assert asked_label("@mean_speed[5.979]", question) == "@mean_speed["
    assert asked_label("  Total revenue: 12", question) == "Total revenue:"
    assert asked_label("@max_speed[9]", question) is None  # a label the question lacks
    assert asked_label("The mean speed is 5.979", question) is None
    assert asked_label("x=3", "x=3?") is None  # too short to tell from prose
    lines = ResultLines()
    lines.collect("@mean_speed[1.0]\nnoise: 2\nTotal revenue: 10\n@mean_speed[5.979]", question)
    assert lines.lines == {
        "Total revenue:": "Total revenue: 10",
        "@mean_speed[": "@mean_speed[5.979]",
    }
    # The answer's own statement about a label is kept; only what it left out is added.
    assert lines.kept_in("@mean_speed[6]") == "@mean_speed[6]\n\nTotal revenue: 10"
    assert lines.kept_in("Both: @mean_speed[5.979], Total revenue: 10") == (
        "Both: @mean_speed[5.979], Total revenue: 10"
    )
    assert lines.kept_in("") == "Total revenue: 10\n@mean_speed[5.979]"
    # An answer of blanks keeps its blanks (they were streamed), the lines after them.
    assert lines.kept_in("  ") == "  \nTotal revenue: 10\n@mean_speed[5.979]"
    assert lines.appendix("Done.\n") == "\nTotal revenue: 10\n@mean_speed[5.979]"
    # A line of several marks is kept mark by mark, each under its own label.
    marks = ResultLines()
    marks.collect("Result: @mean_speed[5.979], @max_speed[[9, 10]]", "@mean_speed[v] @max_speed[v]")
    assert marks.kept_in("@max_speed[9]") == "@max_speed[9]\n\n@mean_speed[5.979]"
    nothing_asked = ResultLines()
    nothing_asked.collect("@mean_speed[5.979]", "")
    assert nothing_asked.kept_in("prose") == "prose"


async def test_result_lines_the_answer_restated_in_prose_are_put_back(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    prompt = "Mean and max of [1, 2, 6]? Answer as @mean[value] and @max[value]."
    answer = "The mean is 3.0 and @max[6] is the largest."
    handle = await h.start(
        prompt,
        [
            code("print('@mean[2.5]'); print('@max[5]')"),
            code("print('@mean[3.0]'); print('@max[6]'); print('note: checked')"),
            text(answer),
        ],
    )
    events = await collect(handle)
    assert events[-1].data["status"] == "completed"
    [message] = [e.data for e in events if e.event == "thread.message.completed"]
    stored = message["content"][-1]["text"]["value"]
    # The lost label, with the last value printed; the printed line the question did not
    # ask for ("note:") and the label the answer kept (@max) are not added.
    assert stored == answer + "\n\n@mean[3.0]"
    streamed = "".join(
        d["delta"]["content"][0]["text"].get("value", "")
        for d in (e.data for e in events if e.event == "thread.message.delta")
    )
    assert streamed == stored
    # Turned off, the answer stays as the model wrote it.
    off = await make_harness(AssistPolicy(keep_result_lines=False))
    run = await off.run(prompt, [code("print('@mean[3.0]')"), text("The mean is 3.0.")])
    assert message_text_of(off, run) == "The mean is 3.0."


async def test_a_guess_before_any_clean_cell_is_sent_back_once(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    file = h.upload("sales.csv", SALES)
    prompt = "total revenue?"
    run = await h.run(prompt, [text("About 30.")], attachments=[file.id])
    assert run.status == "completed"
    calls = [
        c
        for c in h.backend.calls
        if any(m.role == "user" and m.content.startswith(prompt) for m in c.messages)
    ]
    assert len(calls) == 2  # the nudge once, then the answer stands
    assert calls[1].messages[-1].role == "user"
    assert calls[1].messages[-1].content == COMPUTE_FIRST
    assert [m.status for m in h.messages(run)] == ["completed", "completed"]


async def test_a_repeated_failing_cell_is_not_run_again(make_harness: HarnessFactory) -> None:
    h = await make_harness(AssistPolicy(rewind_repeated_failures=False))
    prompt = "repeat"
    bad = "marker = open('/mnt/data/count', 'a').write('x')\n1 / 0"
    # The scripted model answers by position: a repeat left out of the conversation is asked
    # again at the same position, so the script repeats itself there too.
    run = await h.run(
        prompt, [code(bad), code("# again\n" + bad), code("print('ok')"), text("done")]
    )
    assert run.status == "completed"
    steps = h.tool_steps(run)
    assert len(steps) == 4
    session = h.engine.sessions.get(run.thread_id)
    assert session is not None
    # The file the cell appends to was written once: the repeat never ran.
    assert session.session.workspace.host_path("count").read_text() == "x"
    assert "not run" in h.logs(run)
    calls = h.backend.calls_for(prompt)
    # The first repeat was left out: the third call saw what the second saw, only hotter.
    assert calls[2].messages == calls[1].messages
    # The second repeat is shown, with what it failed with.
    told = calls[3].messages[-1].content
    assert "same as code that already failed" in told and "ZeroDivisionError" in told
    # Each failure in a row, and each repeat, make the next reply hotter.
    temperatures = [c.temperature or 0.0 for c in calls]
    assert all(c.temperature is not None for c in calls)
    assert temperatures[0] == pytest.approx(0.2)
    assert temperatures[0] < temperatures[1] < temperatures[2] < temperatures[3]
    # After the clean cell the answer is likely next: it is sampled greedily.
    assert temperatures[4] == 0.0


async def test_a_failed_cell_sent_again_leaves_the_conversation_and_its_error_is_restated(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(max_consecutive_failures=4)
    prompt = "rewind"
    bad = "marker = open('/mnt/data/count', 'a').write('x')\nprint(undefined_total)"
    # After a rewind the last turn is the restated error: asked that, the scripted model sends
    # the failed cell once more (as the real model did).
    h.backend.script("Your code failed", [code(bad)])
    run = await h.run(prompt, [code(bad), code(bad + "  # again"), text("never reached")])
    assert run.status == "failed"
    assert run.last_error is not None and "4 times in a row" in run.last_error.message
    assert len(h.tool_steps(run)) == 4  # each cell is recorded, the user sees all of them
    session = h.engine.sessions.get(run.thread_id)
    assert session is not None
    assert session.session.workspace.host_path("count").read_text() == "x"  # it ran once
    calls = h.backend.calls
    assert len(calls) == 4
    # The second call saw the failed cell and its output...
    assert any(m.code_call is not None for m in calls[1].messages)
    # ...the third saw neither: its last turn restates the error, hints included.
    third = calls[2].messages
    assert all(m.code_call is None and m.role != "tool" for m in third)
    restated = third[-1]
    assert restated.role == "user" and restated.content.startswith("Your code failed")
    assert "NameError" in restated.content and "undefined_total" in restated.content
    assert "do not send the same code again" in restated.content
    # One restatement at a time: the next repeat replaced it, it did not stack.
    assert calls[3].messages == third


async def test_a_clean_cell_sent_again_is_not_run_and_the_model_must_answer(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness()
    prompt = "clean repeat"
    cell = "open('/mnt/data/count', 'a').write('x')\nprint('done')"
    run = await h.run(prompt, [code(cell), code(cell), text("Done once.")])
    assert run.status == "completed"
    assert len(h.tool_steps(run)) == 2
    session = h.engine.sessions.get(run.thread_id)
    assert session is not None
    assert session.session.workspace.host_path("count").read_text() == "x"
    assert "not run: identical to a cell of this run that already ran" in h.logs(run)
    calls = h.backend.calls_for(prompt)
    # The repeat stays out of the conversation; the next reply may only be text.
    assert calls[2].messages == calls[1].messages
    assert [c.code_tool for c in calls] == [True, True, False]
    # Asked at the same position of its script with code not offered, the scripted model
    # answers that item as text: the run ends there, with no third cell.
    assert message_text_of(h, run) == cell


async def test_answer_lines_written_into_code_are_taken_out(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    prompt = "answer lines"
    run = await h.run(prompt, [code("x = 6 * 7\n@answer[x]"), text("@answer[42]")])
    assert run.status == "completed"
    [step] = h.tool_steps(run)
    call = step.step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.code_interpreter.input.endswith("@answer[x]")  # type: ignore[union-attr]
    logs = h.logs(run)
    assert "@answer[42]\n" in logs and "taken out of the code (@answer)" in logs
    assert "SyntaxError" not in logs
    # A value written out is a guess: not printed, and the notice does not repeat it.
    guess = "a guess"
    run = await h.run(guess, [code("n = 3131\nprint(n)\n@count[1]"), text("@count[3131]")])
    logs = h.logs(run)
    assert logs.startswith("3131\n") and "[1]" not in logs and "(@count)" in logs


async def test_a_run_temperature_is_kept_and_each_lever_can_be_turned_off(
    make_harness: HarnessFactory,
) -> None:
    off = AssistPolicy(
        file_preview_chars=0,
        error_digest=False,
        skip_repeated_cells=False,
        rewind_repeated_failures=False,
        code_first_with_files=False,
        compute_nudges=0,
        salvage_answer_lines=False,
        answer_reminder=False,
        rounding_reminder=False,
        temperature=1.0,
        answer_temperature=1.0,
        retry_temperature_step=0,
    )
    h = await make_harness(off)
    file = h.upload("sales.csv", SALES)
    prompt = "levers off"
    run = await h.run(
        prompt,
        [code("1 / 0"), code("1 / 0"), code("print(1)"), text("1")],
        attachments=[file.id],
        temperature=0.9,
    )
    assert run.status == "completed"
    calls = h.backend.calls_for(prompt)
    assert [c.temperature for c in calls] == [pytest.approx(0.9)] * 4
    assert calls[0].code_tool is True
    assert "'Revenue'" not in calls[0].messages[0].content
    assert (
        "Traceback" in calls[1].messages[-1].content
        or "ZeroDivisionError" in calls[1].messages[-1].content
    )
    assert "not run" not in h.logs(run)  # the repeat ran
    assert calls[3].messages[-1].content.strip() == "1"


def test_the_api_temperature_maps_onto_the_model_scale() -> None:
    policy = AssistPolicy(temperature=0.2)
    assert policy.sampling_temperature(None) == pytest.approx(0.2)  # the API's default
    assert policy.sampling_temperature(1.0) == pytest.approx(0.2)
    assert policy.sampling_temperature(0.0) == 0.0  # greedy stays greedy
    assert policy.sampling_temperature(0.5) == pytest.approx(0.1)
    assert policy.sampling_temperature(2.0) == pytest.approx(1.0)
    assert policy.sampling_temperature(1.5) == pytest.approx(0.6)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        AssistPolicy(temperature=-1)
    with pytest.raises(ValueError):
        AssistPolicy(file_preview_chars=-5)
    with pytest.raises(ValueError):
        AssistPolicy(answer_temperature=1.5)


# ---------------------------------------------------------------- links in the answer


def test_links_to_files_that_do_not_exist_are_corrected_or_dropped() -> None:
    existing = {"/mnt/data/out/chart.png", "/mnt/data/sales.csv"}
    known = ["/mnt/data/out/chart.png", "/mnt/data/sales.csv"]
    text = (
        "See [the chart](sandbox:/mnt/data/chart.png), [data](sandbox:/mnt/data/sales.csv)"
        ", [summary](sandbox:/mnt/data/summary.csv) and sandbox:/mnt/data/gone.txt."
    )
    fixed = fix_links(text, existing.__contains__, known)
    assert fixed == (
        "See [the chart](sandbox:/mnt/data/out/chart.png), "
        "[data](sandbox:/mnt/data/sales.csv), summary (no such file was made) "
        "and /mnt/data/gone.txt (no such file was made)."
    )
    assert fix_links("no links here", existing.__contains__, known) == "no links here"


async def test_the_answer_links_only_files_that_exist(make_harness: HarnessFactory) -> None:
    h = await make_harness()
    prompt = "links"
    run = await h.run(
        prompt,
        [
            code(
                "import os\nos.makedirs('/mnt/data/out', exist_ok=True)\n"
                "open('/mnt/data/out/table.csv', 'w').write('a\\n1\\n')"
            ),
            text("Here: [table](sandbox:/mnt/data/table.csv) and [plot](sandbox:/mnt/data/p.png)"),
        ],
    )
    assert run.status == "completed"
    [message] = h.messages(run)
    body = message.content[-1]
    assert isinstance(body, TextContent)
    assert body.text.value == (
        "Here: [table](sandbox:/mnt/data/out/table.csv) and plot (no such file was made)"
    )
    [annotation] = body.text.annotations
    assert annotation.text == "sandbox:/mnt/data/out/table.csv"
    assert h.file_bytes(annotation.file_path.file_id) == b"a\n1\n"  # type: ignore[union-attr]


def message_text_of(h: Harness, run: Run) -> str:
    [message] = h.messages(run)
    block = message.content[-1]
    assert isinstance(block, TextContent)
    return block.text.value
