"""Human-readable sizes, the engine's one way to write them: `512 B`, `1.5 KB`, `2.0 MB`.

Binary units (1 KB = 1024 bytes), one decimal from KB up, GB the largest. Two others exist on
purpose: `assist/kernel_side.py` writes the same format with its own copy, since it runs inside
the sandbox where the engine cannot be imported; `models.provision.size_text` writes model
downloads in decimal units, as package indexes give them (the CLI shows model sizes with it).
"""

from __future__ import annotations


def human_size(size: float) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:g} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
