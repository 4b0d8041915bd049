"""`airlock demo`: the built-in analysis, end to end, with the scripted transcript."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat

from engine.cli import demo_data
from tests.cli_helpers import airlock


def test_sample_data_is_deterministic_and_self_made() -> None:
    assert demo_data.sales_csv() == demo_data.sales_csv()
    rows = list(csv.DictReader(demo_data.sales_csv().splitlines()))
    assert len(rows) == 12 * len(demo_data.REGIONS)
    assert set(rows[0]) == {"month", "region", "units", "revenue"}
    transcript = demo_data.scripted_transcript()
    assert "'Region'" in transcript[0]["code"]  # the realistic mistake
    assert "plt.savefig('/mnt/data/sales_by_region.png'" in transcript[2]["code"]
    assert "plt.show()" in transcript[2]["code"]
    assert "sandbox:/mnt/data/sales_summary.csv" in transcript[-1]["text"]


def test_demo_without_a_model_runs_the_scripted_analysis(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = airlock(
        tmp_path, "demo", "--out", str(out), "--scripted", "--data-dir", str(tmp_path / "store")
    )
    assert done.returncode == 0, done.stderr + done.stdout
    shown = done.stdout
    assert "SCRIPTED DEMO" in shown and "not a model" in shown
    error = shown.index("KeyError: 'Region'")
    retry = shown.index("retry 1", error)
    top = demo_data.summaries()[0]
    assert shown.index(f"{top.region} brought in the most revenue", retry)
    assert (out / "sales.csv").read_text() == demo_data.sales_csv()
    assert (out / "sales_by_region.png").read_bytes().startswith(b"\x89PNG")
    summary = list(csv.DictReader((out / "sales_summary.csv").read_text().splitlines()))
    assert [r["region"] for r in summary] == [s.region for s in demo_data.summaries()]
    assert float(summary[0]["total_revenue"]) == top.revenue
    notebook = nbformat.read(str(out / demo_data.NOTEBOOK_NAME), as_version=4)
    nbformat.validate(notebook)
    assert sum(c.cell_type == "code" for c in notebook.cells) == 3
    assert "sandbox:/mnt/data/sales_by_region.png" in shown


def test_demo_with_no_model_configured_says_it_is_scripted(tmp_path: Path) -> None:
    from models.resolve import gguf_files

    if gguf_files():
        import pytest

        pytest.skip("a GGUF on this machine would be used as the demo's model")
    out = tmp_path / "demo"
    done = airlock(tmp_path, "demo", "--out", str(out), "--data-dir", str(tmp_path / "store"))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "SCRIPTED DEMO" in done.stdout
    assert (out / "sales_summary.csv").is_file()
