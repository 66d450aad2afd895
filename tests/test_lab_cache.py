"""The lab's row cache under threads: every session's script thread reads and writes it at once."""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from sparse_core import lab_cache


def _inside(thread: threading.Thread, function: str) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def test_an_eviction_between_a_lookup_and_its_move_cannot_fail_the_reader(monkeypatch):
    """Another session's put evicted the key between `key in _MEMORY` and `move_to_end(key)`: KeyError.

    The put is started at exactly that point; the reader then waits until the put has either finished
    (unlocked: the race happens) or is blocked on the cache's lock (locked: it cannot happen)."""
    monkeypatch.setenv("SPARSE_LAB_DISK_CACHE", "0")
    writer_done = threading.Event()
    writer: list[threading.Thread] = []

    class Racing(OrderedDict):
        def __contains__(self, key):
            found = super().__contains__(key)
            if key == "k0" and not writer:
                writer.append(threading.Thread(target=lambda: (lab_cache.cache_put("new", 1), writer_done.set())))
                writer[0].start()
                while not writer_done.is_set() and not _inside(writer[0], "_remember"):
                    writer_done.wait(0.001)  # a state poll: the put finished, or is waiting for the lock
            return found

    memory = Racing((f"k{i}", i) for i in range(lab_cache._MEMORY_SIZE))  # k0 is the oldest: the next evicted
    monkeypatch.setattr(lab_cache, "_MEMORY", memory)
    assert lab_cache.cache_get("k0") == 0
    writer[0].join()
    assert "new" in memory and len(memory) == lab_cache._MEMORY_SIZE


def test_a_disk_hit_stays_within_the_memory_bound(monkeypatch, tmp_path):
    monkeypatch.setattr(lab_cache, "_cache_folder", lambda: tmp_path)
    monkeypatch.setattr(lab_cache, "_MEMORY", OrderedDict())
    for i in range(lab_cache._MEMORY_SIZE + 8):
        lab_cache.cache_put(f"k{i}", i)
    assert lab_cache.cache_get("k0") == 0  # evicted from memory, read back from disk
    assert len(lab_cache._MEMORY) == lab_cache._MEMORY_SIZE and next(reversed(lab_cache._MEMORY)) == "k0"
