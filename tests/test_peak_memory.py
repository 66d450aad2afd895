"""Peak memory of `stats`, measured: every pattern's defaults at n = 2^20 (data-dependent ones at their cap)
stay inside the per-request memory budget that sparse_core/limits.py states.

Two independent measurements per pattern, each in a process of its own forked from one that has already
imported the engine (so each pattern starts from the same resident set, and no pattern inherits another's
caches):
  - tracemalloc's peak: every NumPy buffer allocated during the call (NumPy reports its data buffers to
    tracemalloc), temporaries included;
  - resident growth: ru_maxrss (the kernel's high-water mark of resident memory) minus the resident size
    just before the call, which also sees memory tracemalloc cannot (torch, BLAS, the allocator's slack).
The bound is `Budget().memory_bytes`, the budget's "predicted peak above the process's own" (300 MB in all
with the ~35 MB of an engine process): a request that passes the budget must not take more than it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import pytest

from sparse_core import PATTERNS, make, stats
from sparse_core.limits import DATA_DEPENDENT_MAX_N, MAX_N, Budget

STRUCTURED = [name for name, d in PATTERNS.items() if not d.data_dependent]
DATA_DEPENDENT = [name for name, d in PATTERNS.items() if d.data_dependent]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _measure(name: str, n: int) -> dict:
    """In this (fresh, forked) process: stats of the pattern's defaults at n, and what it took."""
    expr = make(name).expr()
    before = _resident_bytes()
    tracemalloc.start()
    cpu = time.process_time()
    s = stats(expr, n)
    cpu = time.process_time() - cpu
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before  # ru_maxrss is in KiB on Linux
    return {
        "name": name,
        "n": n,
        "nnz": s.nnz,
        "block_exact": s.block_exact,
        "traced": traced_peak,
        "rss": grown,
        "cpu": cpu,
    }


def _dense(name: str, n: int) -> dict:
    """The probe's own check: a dense (n, n) bool mask, which both measurements must see."""
    import numpy as np

    before = _resident_bytes()
    tracemalloc.start()
    mask = np.ones((n, n), dtype=bool)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"name": name, "n": n, "nnz": int(mask.sum()), "traced": traced_peak, "rss": grown}


def _forked(name: str, n: int) -> dict:
    """One measurement in a child process (its ru_maxrss is its own), sent back as JSON through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: whatever happens, it ends here and never runs the caller's code
        try:
            os.close(r)
            row = _dense(name, n) if name == "dense" else _measure(name, n)
            out = json.dumps(row).encode()
        except BaseException as e:
            out = json.dumps({"name": name, "error": repr(e)}).encode()
        finally:
            try:
                os.write(w, out)
            finally:
                os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def main(argv: list[str]) -> None:
    """`python -m tests.test_peak_memory NAME:N ...`: one JSON line per pattern."""
    if any(arg.split(":")[0] in DATA_DEPENDENT for arg in argv):
        # torch is part of the process's own memory, as in the server (serve.py imports it at start): the
        # engine imports it lazily for a few scorers, and its ~190 MB of libraries would otherwise be charged
        # to the first request that touches it (structured patterns never import it)
        import torch  # noqa: F401

    for arg in argv:
        name, n = arg.split(":")
        print(json.dumps(_forked(name, int(n))), flush=True)


def _run(cases: list[str]) -> dict[str, dict]:
    """The cases measured in one fresh interpreter (its imports paid once), one fork per case."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # no thread pools across forks
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_peak_memory", *cases], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["name"]: row for row in rows}


@pytest.fixture(scope="module")
def measured() -> dict[str, dict]:
    """Structured patterns at 2^20 and the probe's own check."""
    return _run([f"{name}:{MAX_N}" for name in STRUCTURED] + [f"dense:{1 << 13}"])


@pytest.fixture(scope="module")
def measured_data_dependent() -> dict[str, dict]:
    """Data-dependent patterns at their cap (each scores every pair: ~1-3 s of CPU each)."""
    return _run([f"{name}:{DATA_DEPENDENT_MAX_N}" for name in DATA_DEPENDENT])


def _check(row: dict) -> None:
    limit = Budget().memory_bytes
    assert "error" not in row, row
    mib = {k: round(row[k] / 2**20, 1) for k in ("traced", "rss")}
    assert row["traced"] <= limit, f"{row['name']} at n={row['n']}: traced peak {mib['traced']} MiB > {limit >> 20}"
    assert row["rss"] <= limit, f"{row['name']} at n={row['n']}: resident growth {mib['rss']} MiB > {limit >> 20}"
    # the measurement itself must see the work: a run that allocated nothing measured nothing
    assert row["traced"] > 0


@pytest.mark.parametrize("name", STRUCTURED)
def test_million_token_stats_stay_inside_the_memory_budget(measured, name):
    row = measured[name]
    _check(row)
    assert 0 < row["nnz"] < MAX_N * MAX_N and row["block_exact"]


@pytest.mark.slow
@pytest.mark.parametrize("name", DATA_DEPENDENT)
def test_data_dependent_stats_at_their_cap_stay_inside_the_memory_budget(measured_data_dependent, name):
    _check(measured_data_dependent[name])


def test_the_measurement_sees_a_quadratic_allocation(measured):
    """The probe is not blind: a dense (n, n) mask of 2^13 (64 MiB) shows up in both measurements."""
    row = measured["dense"]
    assert row["traced"] >= row["n"] ** 2 and row["rss"] >= 0.9 * row["n"] ** 2


if __name__ == "__main__":
    main(sys.argv[1:])
