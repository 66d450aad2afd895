"""Process settings the budget's prices were measured under; the CLI and the server apply them.

- One BLAS thread: the budget prices k-means (routing) on one thread. With OpenBLAS's own threads spinning on a
  loaded machine routing(1,000, 5) cost 3.5 s CPU against 0.31 s.
- No transparent huge pages for numpy's arrays: numpy asks the kernel for huge pages on every large array
  (madvise), and on this machine (THP "madvise", defrag "madvise") the kernel then compacts memory inline to
  find them. random(8) at 2^20 (285 MB) measured user 0.19 s every time but system 0.02-1.41 s across
  16 fresh processes: the 2-3x tails the budget searches saw on 150-290 MB requests. Without huge pages the
  same request took system 0.14-0.20 s in 8 of 8 (user 0.18-0.24 s): a little slower at best, never 3x.
"""

from __future__ import annotations

import os
from typing import Any

# OpenBLAS builds numpy may load, newest first: numpy's own wheels (scipy-openblas, 64-bit ints), then plain ones
_BLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
HUGEPAGE_ENV = "NUMPY_MADVISE_HUGEPAGE"  # numpy's own switch, read when numpy is imported

# What a server sets before numpy and torch are imported (app.py, serve.py, the budget search's workers)
SERVER_ENV = {"OMP_NUM_THREADS": "1", HUGEPAGE_ENV: "0"}


def _loaded_openblas() -> list[Any]:
    """The OpenBLAS libraries this process has loaded (read from /proc/self/maps; none where it is unreadable)."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    libs = []
    for path in paths:
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libs


def one_blas_thread() -> int:
    """Run BLAS on one thread, as the server does, unless the user chose a thread count.

    OMP_NUM_THREADS cannot be set here: OpenBLAS reads it when numpy loads, and the package imports numpy before
    this runs. So the loaded library's own setter is called (what threadpoolctl does, without the dependency).
    Returns how many libraries were set."""
    if any(os.environ.get(name, "").strip() for name in BLAS_ENV):
        return 0
    done = 0
    for lib in _loaded_openblas():
        setter = next((getattr(lib, name) for name in _BLAS_SETTERS if hasattr(lib, name)), None)
        if setter is not None:
            setter(1)
            done += 1
    return done


def no_huge_pages() -> bool:
    """Stop numpy asking for transparent huge pages, unless the user set NUMPY_MADVISE_HUGEPAGE.

    Returns whether the setting changed. numpy reads its variable only at import, so a process that imported it
    already is switched through numpy's own setter (private, hence looked up and skipped where absent)."""
    if os.environ.get(HUGEPAGE_ENV, "").strip():
        return False
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        return False
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:
        return False
    return bool(setter(False))


def calibrated() -> None:
    """Both settings, for a process that runs requests under the budget (the CLI)."""
    one_blas_thread()
    no_huge_pages()
