"""`airlock exec` and `airlock doctor`, driven as a user would: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AIRLOCK = [sys.executable, "-m", "engine"]


def airlock(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIRLOCK, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=300,
        cwd=Path(__file__).parent.parent,
    )


def test_exec_json_runs_cells_in_one_session(tmp_path: Path) -> None:
    data = tmp_path / "my data.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    first = tmp_path / "one.py"
    first.write_text(
        "import pandas as pd\ndf = pd.read_csv('/mnt/data/my data.csv')\n"
        "df.to_csv('/mnt/data/out.csv')\nprint(df.x.sum())"
    )
    second = tmp_path / "two.py"
    second.write_text("import matplotlib.pyplot as plt\nplt.plot(df.y)")
    out = tmp_path / "out"
    done = airlock(
        "exec", "--json", "--file", str(data), "--out", str(out), str(first), str(second)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["isolation"] in ("bubblewrap", "namespaces", "none")
    one, two = report["cells"]
    assert one["status"] == "completed" and one["error"] is None
    call = one["tool_call"]
    assert call["type"] == "code_interpreter" and call["id"].startswith("call_")
    assert call["code_interpreter"]["input"] == first.read_text()
    assert call["code_interpreter"]["outputs"] == [{"type": "logs", "logs": "4\n"}]
    assert [f["path"] for f in one["files"]] == ["/mnt/data/out.csv"]
    assert (out / "out.csv").read_text().startswith(",x,y")
    image_outputs = [
        o for o in two["tool_call"]["code_interpreter"]["outputs"] if o["type"] == "image"
    ]
    assert len(image_outputs) == 1
    assert image_outputs[0]["image"]["file_id"].startswith("file-")
    assert Path(two["images"][0]["path"]).read_bytes().startswith(b"\x89PNG")
    assert Path(two["images"][0]["path"]).parent == out


def test_exec_failing_cell_exits_1_with_error(tmp_path: Path) -> None:
    done = airlock("exec", "--json", "-", stdin="raise ValueError('nope')")
    assert done.returncode == 1
    cell = json.loads(done.stdout)["cells"][0]
    assert cell["status"] == "failed"
    assert cell["error"]["name"] == "ValueError" and cell["error"]["value"] == "nope"
    assert "ValueError" in cell["tool_call"]["code_interpreter"]["outputs"][0]["logs"]


def test_exec_human_output_and_timeout(tmp_path: Path) -> None:
    cell = tmp_path / "slow.py"
    cell.write_text("import time\ntime.sleep(30)")
    done = airlock("exec", "--timeout", "1", str(cell))
    assert done.returncode == 1
    assert "TimeoutError" in done.stdout


def test_exec_usage_errors_are_clear() -> None:
    missing = airlock("exec", "/no/such/cell.py")
    assert missing.returncode == 2
    assert "no such cell file: /no/such/cell.py" in missing.stderr
    bad_input = airlock("exec", "--file", "/no/such/input.csv", "-", stdin="1")
    assert bad_input.returncode == 2 and "no such input file" in bad_input.stderr
    bad_level = airlock("exec", "--isolation", "paper", "-", stdin="1")
    assert bad_level.returncode == 2
    assert len(bad_level.stderr.strip().splitlines()) == 1 and "paper" in bad_level.stderr


def test_doctor_reports_levels() -> None:
    done = airlock("doctor", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [level["level"] for level in report["levels"]] == ["bubblewrap", "namespaces", "none"]
    available = [lvl["level"] for lvl in report["levels"] if lvl["available"]]
    assert report["best"] == available[0]
    assert report["missing_modules"] == []
    human = airlock("doctor")
    assert "Sessions run at" in human.stdout
