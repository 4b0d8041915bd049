# A small analysis, as a model would write it: data in /mnt/data, a summary, a chart, a CSV.
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt

rng = np.random.default_rng(7)
months = pd.period_range("2025-01", periods=12, freq="M").astype(str)
sales = pd.DataFrame({
    "month": np.repeat(months, 3),
    "region": ["north", "south", "west"] * 12,
    "revenue": rng.normal(100, 15, 36).round(2),
})
summary = sales.groupby("region")["revenue"].agg(["sum", "mean", "max"]).round(2)
print(summary)
summary.to_csv("/mnt/data/summary_by_region.csv")

pivot = sales.pivot(index="month", columns="region", values="revenue")
pivot.plot(title="Monthly revenue by region", figsize=(8, 4))
plt.ylabel("revenue")
plt.tight_layout()
