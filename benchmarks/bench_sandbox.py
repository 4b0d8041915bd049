"""Sandbox micro-benchmarks, side by side in one run (engine.devtools.bench.sandbox_perf).

python benchmarks/bench_sandbox.py [--rounds 200] [--sessions 20] [--json]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.devtools.bench.sandbox_perf import main

if __name__ == "__main__":
    asyncio.run(main())
