"""The server process's heap: keep the garbage collector's full passes off the request path.

With torch, transformers, Streamlit and Plotly imported the process tracks ~250,000 objects that
live as long as it does, and each full (generation 2) collection walks all of them: ~170 ms on
this machine, more with models loaded, paid inside whichever rerun happens to trigger it (seen as
300-450 ms outliers on reruns that take 60-200 ms). `gc.freeze()` moves the objects alive now into
a generation the collector never scans. No Streamlit here.
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_modules_frozen = 0


def settle() -> bool:
    """After a run that imported new modules: collect once, then freeze what is left. True if it froze.

    Only when the module count grew, so this happens a handful of times per process (the first visit
    of each page), and the one full collection first keeps this run's garbage out of the frozen set.
    """
    global _modules_frozen
    if len(sys.modules) == _modules_frozen:
        return False
    with _lock:
        if len(sys.modules) == _modules_frozen:
            return False
        gc.collect()
        gc.freeze()
        _modules_frozen = len(sys.modules)
    return True


def trim() -> int:
    """Collect, then hand freed heap memory back to the OS (glibc's malloc_trim); bytes of RSS returned.

    Memory freed by Python, NumPy or torch stays in glibc's arenas, counted in RSS, until malloc_trim
    releases it (measured: the +289 MB left after a class without MALLOC_ARENA_MAX was all returned by
    it). A no-op (0) where the C library has no malloc_trim."""
    import ctypes
    import ctypes.util

    before = _rss()
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return 0
    return max(0, before - _rss())


def _rss() -> int:
    """This process's resident bytes (Linux /proc; 0 elsewhere)."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
