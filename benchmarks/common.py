"""Shared helpers for the benchmark scripts: machine description and timing."""

from __future__ import annotations

import os
import platform
import time
import tracemalloc
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import torch

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, torch {torch.__version__}"
    )


def measure(fn, repeat: int = 3) -> tuple[float, float]:
    """(best seconds, peak MiB of Python/NumPy allocations) over `repeat` runs."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        tracemalloc.start()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    return best, peak
