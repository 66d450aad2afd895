"""The server freezes its long-lived objects once new modules are imported, and not on every rerun."""

import gc
import sys
import types
import uuid
import weakref

from ui import heap


class _Node:
    pass


def test_settle_freezes_after_new_imports_only():
    name = f"_heap_test_{uuid.uuid4().hex}"
    try:
        heap.settle()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert heap.settle() is False and gc.get_freeze_count() == frozen  # nothing new: no collection, no freeze
        sys.modules[name] = types.ModuleType(name)  # a module this process had not loaded before
        node = _Node()
        node.itself = node  # a cycle that only the collector can free
        ref = weakref.ref(node)
        del node
        assert heap.settle() is True and gc.get_freeze_count() >= frozen
        assert ref() is None  # collected before the freeze, not frozen with it
    finally:
        sys.modules.pop(name, None)
        gc.unfreeze()  # the rest of the test process collects as usual


def test_the_app_settles_after_each_page_run():
    source = open("app.py", encoding="utf-8").read()
    assert source.index("navigation.run()") < source.index("heap.settle()")


def test_trim_hands_freed_heap_memory_back_to_the_os():
    # 60 MB in 100 KB pieces (under glibc's mmap threshold: they live in the heap), a piece allocated
    # after them kept alive so the heap's top cannot shrink by itself: only malloc_trim returns the rest
    pieces = [bytearray(100_000) for _ in range(600)]
    for piece in pieces:
        piece[::4096] = b"x" * len(piece[::4096])  # touched: resident
    keep = bytearray(100_000)
    del pieces
    freed_but_resident = heap._rss()
    returned = heap.trim()
    assert returned >= 40 * 2**20, returned / 2**20
    assert heap._rss() <= freed_but_resident - 40 * 2**20
    assert keep is not None
