"""`python -m engine.devtools.security [LEVEL...] [--case ID...] [--markdown FILE]`: run the attack
catalogue and print the matrix (what `airlock bench security` shows)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from sandbox import IsolationLevel

from .catalogue import CASES
from .runner import CaseResult, run_matrix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.devtools.security", description=__doc__)
    parser.add_argument(
        "levels",
        nargs="*",
        choices=[str(level) for level in IsolationLevel],
        help="isolation levels (default: all three)",
    )
    parser.add_argument("--case", action="append", default=[], help="run only this case id")
    parser.add_argument("--markdown", type=Path, help="also write the matrix there")
    args = parser.parse_args(argv)
    console = Console()
    cases = [c for c in CASES if not args.case or c.id in args.case]

    def progress(result: CaseResult) -> None:
        console.print(f"{result.level:>10}  {result.case_id:<32} {result.outcome}", highlight=False)

    report = run_matrix(
        [IsolationLevel(lv) for lv in args.levels] or None, cases, progress=progress
    )
    report.print(console)
    if args.markdown:
        args.markdown.write_text(report.markdown(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
