"""The REST server driven by the official `openai` SDK: request latency and throughput
(engine.devtools.bench.server_perf).

    python benchmarks/bench_server.py [--iterations 20] [--concurrency 1,4,16] [--runs 64]
        [--pool 0] [--poll-ms 20] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.devtools.bench.server_perf import main

if __name__ == "__main__":
    sys.exit(0 if main()["all_completed"] else 1)
