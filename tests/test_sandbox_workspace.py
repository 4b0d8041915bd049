"""The workspace: input files in, generated files and images out, hostile names refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import AsyncSession, WorkspaceError


async def test_plot_without_savefig_becomes_an_image_file(session: AsyncSession) -> None:
    result = await session.execute(
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('shown, not saved')"
    )
    assert result.ok, result.error
    assert len(result.images) == 1
    image = result.images[0]
    assert image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert result.files == []  # shown images are not workspace files


async def test_generated_csv_is_reported(session: AsyncSession) -> None:
    result = await session.execute(
        "import pandas as pd\n"
        "pd.DataFrame({'x': [1, 2, 3]}).to_csv('/mnt/data/report.csv', index=False)"
    )
    assert [(f.path, f.status) for f in result.files] == [("/mnt/data/report.csv", "created")]
    assert result.files[0].size == len(b"x\n1\n2\n3\n")
    assert session.read_file("report.csv") == b"x\n1\n2\n3\n"
    again = await session.execute("open('/mnt/data/report.csv', 'a').write('4\\n')")
    assert [(f.path, f.status) for f in again.files] == [("/mnt/data/report.csv", "modified")]
    untouched = await session.execute("print('no files')")
    assert untouched.files == []


async def test_relative_paths_resolve_in_the_workspace(session: AsyncSession) -> None:
    result = await session.execute("import os\nprint(os.getcwd())\nopen('here.txt', 'w')")
    assert result.stdout == "/mnt/data\n"
    assert [f.path for f in result.files] == ["/mnt/data/here.txt"]


@pytest.mark.parametrize(
    "name", ["sales report 2024.csv", "données été ☀.csv", "日本語.csv", "sub dir/nested file.csv"]
)
async def test_input_files_with_awkward_names(session: AsyncSession, name: str) -> None:
    path = session.put_file(name, b"a,b\n1,2\n")
    assert path == f"/mnt/data/{name}"
    result = await session.execute(
        f"import pandas as pd\nprint(pd.read_csv({path!r}).to_dict('records'))"
    )
    assert result.ok, result.error
    assert result.stdout == "[{'a': 1, 'b': 2}]\n"


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "/etc/passwd", "a/../../b", "", "bad\x00name", "/mnt/data/../../etc/x"],
)
def test_hostile_names_are_refused(session: AsyncSession, name: str) -> None:
    with pytest.raises(WorkspaceError):
        session.put_file(name, b"x")


async def test_symlink_planted_by_code_is_not_followed_by_the_host(
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    await session.execute(f"import os\nos.symlink({str(secret)!r}, '/mnt/data/link.txt')")
    with pytest.raises(WorkspaceError):
        session.read_file("link.txt")
    with pytest.raises(WorkspaceError):
        session.put_file("link.txt", b"overwrite through the link")
    assert secret.read_text() == "host only"


async def test_every_supported_file_type_can_be_opened(session: AsyncSession) -> None:
    result = await session.execute(
        "import numpy, pandas, matplotlib, scipy, sklearn, openpyxl, docx, pptx, pypdf, PIL\n"
        "import io, json, tarfile, zipfile, xml.etree.ElementTree as ET\n"
        "pandas.DataFrame({'a': [1]}).to_excel('/mnt/data/t.xlsx')\n"
        "print(pandas.read_excel('/mnt/data/t.xlsx')['a'].tolist())\n"
        "d = docx.Document(); d.add_paragraph('hello'); d.save('/mnt/data/t.docx')\n"
        "print(docx.Document('/mnt/data/t.docx').paragraphs[0].text)\n"
        "p = pptx.Presentation(); p.save('/mnt/data/t.pptx')\n"
        "print(len(pptx.Presentation('/mnt/data/t.pptx').slides))\n"
        "w = pypdf.PdfWriter(); w.add_blank_page(72, 72); w.write('/mnt/data/t.pdf')\n"
        "print(len(pypdf.PdfReader('/mnt/data/t.pdf').pages))\n"
        "PIL.Image.new('RGB', (2, 2)).save('/mnt/data/t.gif')\n"
        "print(PIL.Image.open('/mnt/data/t.gif').size)"
    )
    assert result.ok, result.error
    assert result.stdout.split("\n")[:5] == ["[1]", "hello", "0", "1", "(2, 2)"]
    assert {f.path for f in result.files} >= {
        "/mnt/data/t.xlsx",
        "/mnt/data/t.docx",
        "/mnt/data/t.pptx",
        "/mnt/data/t.pdf",
    }
