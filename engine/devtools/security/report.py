"""The attack catalogue's results: one `CaseResult` per case and level, and the
`SecurityReport` matrix they make, as Markdown or a rich table."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox import IsolationLevel

from .catalogue import AttackCase


class Outcome(enum.StrEnum):
    HELD = "held"
    BREACHED = "breached"
    NOT_APPLICABLE = "n/a"
    ERROR = "error"


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    category: str
    level: IsolationLevel
    outcome: Outcome
    detail: str
    seconds: float = 0.0
    #: The end of what the attack printed (and the host side saw), for reading the evidence.
    output: str = ""


@dataclass
class SecurityReport:
    """Outcomes by case and level."""

    levels: list[IsolationLevel]
    cases: tuple[AttackCase, ...]
    results: dict[tuple[str, IsolationLevel], CaseResult] = field(default_factory=dict)

    def add(self, result: CaseResult) -> None:
        self.results[(result.case_id, result.level)] = result

    def get(self, case_id: str, level: IsolationLevel) -> CaseResult | None:
        return self.results.get((case_id, level))

    def counts(self, level: IsolationLevel) -> Counter[Outcome]:
        return Counter(r.outcome for (_, lv), r in self.results.items() if lv is level)

    def failures(self) -> list[CaseResult]:
        """Breaches and errors, level by level."""
        return [r for r in self.results.values() if r.outcome in (Outcome.BREACHED, Outcome.ERROR)]

    def markdown(self, *, details: bool = True) -> str:
        header = "| case | category | " + " | ".join(map(str, self.levels)) + " |"
        lines = [header, "|" + "---|" * (2 + len(self.levels))]
        for case in self.cases:
            cells = []
            for level in self.levels:
                result = self.get(case.id, level)
                outcome = result.outcome if result else Outcome.NOT_APPLICABLE
                cells.append(
                    f"**{outcome.upper()}**"
                    if outcome in (Outcome.BREACHED, Outcome.ERROR)
                    else str(outcome)
                )
            lines.append(f"| {case.id} | {case.category} | " + " | ".join(cells) + " |")
        totals = []
        for level in self.levels:
            count = self.counts(level)
            totals.append(
                f"{count[Outcome.HELD]} held, {count[Outcome.BREACHED]} breached, "
                f"{count[Outcome.NOT_APPLICABLE]} n/a, {count[Outcome.ERROR]} error"
            )
        lines.append("| **total** | | " + " | ".join(totals) + " |")
        if details:
            failures = self.failures()
            if failures:
                lines += ["", "Breaches and errors:", ""]
                lines += [
                    f"- `{r.case_id}` at {r.level}: {r.outcome}: "
                    f"{r.detail.replace(chr(10), ' ')[:300]}"
                    for r in failures
                ]
        return "\n".join(lines) + "\n"

    def rich_table(self) -> Any:
        from rich.table import Table

        style = {
            Outcome.HELD: "green",
            Outcome.BREACHED: "bold red",
            Outcome.NOT_APPLICABLE: "dim",
            Outcome.ERROR: "bold yellow",
        }
        table = Table(title="Airlock attack catalogue by isolation level")
        table.add_column("case")
        table.add_column("category", style="dim")
        for level in self.levels:
            table.add_column(str(level), justify="center")
        for case in self.cases:
            cells = []
            for level in self.levels:
                result = self.get(case.id, level)
                outcome = result.outcome if result else Outcome.NOT_APPLICABLE
                cells.append(f"[{style[outcome]}]{outcome}[/]")
            table.add_row(case.id, str(case.category), *cells)
        table.add_section()
        table.add_row(
            "total held",
            "",
            *(f"{self.counts(lv)[Outcome.HELD]}/{len(self.cases)}" for lv in self.levels),
        )
        return table

    def print(self, console: Any = None, *, details: bool = True) -> None:
        from rich.console import Console

        console = console or Console()
        console.print(self.rich_table())
        if details:
            for result in self.failures():
                console.print(
                    f"[bold]{result.case_id}[/] at {result.level}: {result.outcome}: "
                    f"{result.detail[:300]}",
                    markup=True,
                    highlight=False,
                )
