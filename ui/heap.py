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
