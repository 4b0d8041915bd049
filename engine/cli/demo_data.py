"""The built-in demo: sample data made here (no third-party data), the question asked about it,
and the scripted transcript replayed when no model is configured.

The data: monthly sales of one product line in four regions over 2024, generated
deterministically (a fixed-seed random walk around a seasonal curve), so every run of the demo
sees the same numbers. The scripted transcript shows the loop as a model runs it, mistake
included: a first cell with a wrong column name (KeyError), the retry that fixes it, a chart and
a summary file, and an answer whose numbers are computed from the same data.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

CSV_NAME = "sales.csv"
CHART_NAME = "sales_by_region.png"
SUMMARY_NAME = "sales_summary.csv"
NOTEBOOK_NAME = "airlock-demo.ipynb"
YEAR = 2024
#: region -> (units in an average month, price per unit, growth per month)
REGIONS = {
    "North": (430, 44.0, 0.010),
    "South": (560, 31.0, -0.008),
    "East": (300, 47.5, 0.028),
    "West": (480, 36.0, 0.003),
}

#: Asked of the default model too (a 1.5B one): one question, two files, each named.
QUESTION = (
    f"{CSV_NAME} holds our monthly sales by region for {YEAR}. Compute and print each region's "
    "total revenue and the name of the region with the highest total. Save a line chart of "
    f"monthly revenue by region as /mnt/data/{CHART_NAME} and a per-region summary (total "
    f"revenue and total units) as /mnt/data/{SUMMARY_NAME}, and link both in your answer."
)


@dataclass(frozen=True)
class Row:
    month: str
    region: str
    units: int
    revenue: float


def sales_rows() -> list[Row]:
    rng = random.Random(YEAR)
    rows = []
    for month in range(1, 13):
        season = 1 + 0.18 * math.sin((month - 3) / 12 * 2 * math.pi)  # peaks in early summer
        for region, (base, price, growth) in REGIONS.items():
            noise = 1 + rng.uniform(-0.07, 0.07)
            units = round(base * season * (1 + growth) ** (month - 1) * noise)
            rows.append(Row(f"{YEAR}-{month:02d}", region, units, round(units * price, 2)))
    return rows


def sales_csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["month", "region", "units", "revenue"])
    for row in sales_rows():
        writer.writerow([row.month, row.region, row.units, f"{row.revenue:.2f}"])
    return out.getvalue()


def write_sales_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CSV_NAME
    path.write_text(sales_csv(), encoding="utf-8")
    return path


# ---------------------------------------------------------------- the scripted transcript

FIRST_CELL = f"""\
import pandas as pd

df = pd.read_csv('/mnt/data/{CSV_NAME}')
print(df.head())
totals = df.groupby('Region')['Revenue'].sum()
totals"""

RETRY_CELL = """\
# The columns are lower-case; check them and total revenue by region.
print(df.columns.tolist())
totals = df.groupby('region')['revenue'].sum().sort_values(ascending=False)
print(totals.round(2))"""

CHART_CELL = f"""\
import matplotlib.pyplot as plt

monthly = df.pivot_table(index='month', columns='region', values='revenue', aggfunc='sum')
ax = monthly[totals.index].plot(figsize=(9, 5), marker='o')
ax.set_title('Monthly revenue by region, {YEAR}')
ax.set_xlabel('Month')
ax.set_ylabel('Revenue ($)')
ax.grid(alpha=0.3)
plt.tight_layout()
plt.savefig('/mnt/data/{CHART_NAME}', dpi=120)
plt.show()

summary = pd.DataFrame({{
    'total_revenue': totals.round(2),
    'total_units': df.groupby('region')['units'].sum(),
    'best_month': monthly.idxmax(),
    'h2_vs_h1_growth_pct': ((monthly.iloc[6:].sum() / monthly.iloc[:6].sum() - 1) * 100).round(1),
}}).loc[totals.index]
summary.to_csv('/mnt/data/{SUMMARY_NAME}', index_label='region')
print(summary)"""


@dataclass(frozen=True)
class RegionSummary:
    region: str
    revenue: float
    units: int
    best_month: str
    growth_pct: float


def summaries() -> list[RegionSummary]:
    """What the chart cell computes, computed here for the scripted answer."""
    rows = sales_rows()
    result = []
    for region in REGIONS:
        mine = [r for r in rows if r.region == region]
        first = sum(r.revenue for r in mine[:6])
        second = sum(r.revenue for r in mine[6:])
        best = max(mine, key=lambda r: r.revenue)
        result.append(
            RegionSummary(
                region,
                round(sum(r.revenue for r in mine), 2),
                sum(r.units for r in mine),
                best.month,
                round((second / first - 1) * 100, 1),
            )
        )
    return sorted(result, key=lambda s: s.revenue, reverse=True)


def scripted_answer() -> str:
    regions = summaries()
    total = sum(s.revenue for s in regions)
    top, low = regions[0], regions[-1]
    fastest = max(regions, key=lambda s: s.growth_pct)
    lines = [
        f"**{top.region}** brought in the most revenue in {YEAR}: "
        f"${top.revenue:,.0f} ({top.revenue / total:.0%} of ${total:,.0f} overall); "
        f"{low.region} brought in the least (${low.revenue:,.0f}).",
        "",
        "| Region | Revenue | Units | Best month | H2 vs H1 |",
        "|---|---:|---:|---|---:|",
        *(
            f"| {s.region} | ${s.revenue:,.0f} | {s.units:,} | {s.best_month} | "
            f"{s.growth_pct:+.1f}% |"
            for s in regions
        ),
        "",
        f"Every region's best month falls between {min(s.best_month for s in regions)} and "
        f"{max(s.best_month for s in regions)}; {fastest.region} has "
        f"the strongest second half ({fastest.growth_pct:+.1f}% on the first).",
        "",
        f"- Chart: [{CHART_NAME}](sandbox:/mnt/data/{CHART_NAME})",
        f"- Summary: [{SUMMARY_NAME}](sandbox:/mnt/data/{SUMMARY_NAME})",
    ]
    return "\n".join(lines)


def scripted_transcript() -> list[dict[str, str]]:
    """Item n answers the n-th model call of the run (see models.scripted)."""
    return [
        {"code": FIRST_CELL},
        {"code": RETRY_CELL},
        {"code": CHART_CELL},
        {"text": scripted_answer()},
    ]
