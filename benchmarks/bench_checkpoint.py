"""Thread checkpoints: how long saving and restoring a kernel's namespace takes, and how big the
checkpoint is, for namespaces of DataFrames of about 1, 100 and 1000 MB.

    python benchmarks/bench_checkpoint.py                 # 1, 100, 1000 MB
    python benchmarks/bench_checkpoint.py --sizes 1,100 --json

Each size: a sandboxed kernel builds the frames (10 float64 columns each, at most 100 MB per
frame), `save_checkpoint` writes them out (pickled inside the sandbox, copied out and digested
by the host), the kernel is closed, and a new kernel gets them back with `restore_checkpoint`;
the restored frames are checked against a checksum computed before saving. Times are wall
seconds on this machine; "pickle" is the part spent pickling in the kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox import AsyncSession, Limits, SandboxConfig
from sandbox.checkpoint import restore_checkpoint, save_checkpoint

MB = 1024 * 1024
#: Room for the largest namespace, its pickling and its loading (the data is held once in
#: the kernel, and once more while a record is read back).
CONFIG = SandboxConfig(
    limits=Limits(timeout=600, memory_mb=6144, max_file_mb=512, max_workspace_mb=4096, tmp_mb=64)
)

BUILD = """
import numpy as np, pandas as pd
rows_per_mb = {rows_per_mb}
frames = []
left = {size_mb}
i = 0
while left > 0:
    mb = min(100, left)
    globals()[f'frame_{{i}}'] = pd.DataFrame(
        np.random.default_rng(i).random((rows_per_mb * mb, 10)),
        columns=[f'c{{j}}' for j in range(10)])
    left -= mb
    i += 1
checksum = sum(float(globals()[f'frame_{{k}}'].values.sum()) for k in range(i))
print(i, round(checksum, 3))
"""
CHECK = "print(round(sum(float(globals()[f'frame_{{k}}'].values.sum()) for k in range({n})), 3))"


async def measure(size_mb: int, folder: Path) -> dict[str, Any]:
    rows_per_mb = MB // (10 * 8)
    async with await AsyncSession.start(CONFIG) as first:
        built = await first.execute(BUILD.format(rows_per_mb=rows_per_mb, size_mb=size_mb))
        if not built.ok:
            raise RuntimeError(f"building {size_mb} MB failed: {built.error}")
        count, checksum = built.stdout.split()
        started = time.perf_counter()
        saved = await save_checkpoint(first, folder, max_bytes=2 * size_mb * MB + 64 * MB)
        save_s = time.perf_counter() - started
    async with await AsyncSession.start(CONFIG) as second:
        started = time.perf_counter()
        restored = await restore_checkpoint(second, folder)
        restore_s = time.perf_counter() - started
        if restored.error or restored.missing:
            raise RuntimeError(f"restore of {size_mb} MB: {restored.error} {restored.missing}")
        check = await second.execute(CHECK.format(n=int(count)))
    if check.stdout.strip() != checksum:
        raise RuntimeError(f"{size_mb} MB came back different: {check.stdout!r} != {checksum}")
    return {
        "namespace_mb": size_mb,
        "frames": int(count),
        "checkpoint_mb": round(saved.namespace_bytes / MB, 1),
        "chunks": len(saved.chunks),
        "save_s": round(save_s, 2),
        "pickle_s": round(saved.pickle_seconds, 2),
        "restore_s": round(restore_s, 2),
        "save_mb_per_s": round(saved.namespace_bytes / MB / save_s, 1),
        "restore_mb_per_s": round(saved.namespace_bytes / MB / restore_s, 1),
    }


async def main_async(sizes: list[int], root: Path) -> list[dict[str, Any]]:
    results = []
    for size in sizes:
        folder = root / f"ckpt-{size}"
        results.append(await measure(size, folder))
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000", help="namespace sizes in MB")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--dir", type=Path, default=None, help="where checkpoints are written")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    root = args.dir or Path(tempfile.mkdtemp(prefix="airlock-ckpt-bench-"))
    try:
        results = asyncio.run(main_async(sizes, root))
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    header = ("namespace", "checkpoint", "chunks", "save", "pickle", "restore")
    print("{:>10} {:>11} {:>6} {:>8} {:>8} {:>8}".format(*header))
    for r in results:
        print(
            f"{r['namespace_mb']:>7} MB {r['checkpoint_mb']:>8} MB {r['chunks']:>6} "
            f"{r['save_s']:>6} s {r['pickle_s']:>6} s {r['restore_s']:>6} s"
        )


if __name__ == "__main__":
    main()
