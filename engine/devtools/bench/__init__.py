"""Benchmarks through Airlock's own engine and sandbox: `airlock bench SUITE`.

Suites: `humaneval-oracle` (the executor), `humanevalfix` (the retry loop), `dabench` (data
analysis with a model), `perf` (sandbox micro-benchmarks). Each writes one JSON line per task
to OUT/results.jsonl, then summary.md, summary.json, plots and config.json; see `harness`.
"""

from .harness import SUITES, BenchError, BenchRun, make_suite, run_suite
from .records import TaskRecord, read_records
from .suite import BenchTask, SuiteOptions

__all__ = [
    "SUITES",
    "BenchError",
    "BenchRun",
    "BenchTask",
    "SuiteOptions",
    "TaskRecord",
    "make_suite",
    "read_records",
    "run_suite",
]
