"""The Learn page's per-process caches compute each key once, however many sessions ask at the same moment."""

from __future__ import annotations

import sys
import threading

import pytest

from ui import learn_data as D


def _in(thread: threading.Thread, names: set[str]) -> bool:
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name in names:
            return True
        frame = frame.f_back
    return False


def _race(fn, args, monkeypatch, owner, target: str, threads: int = 4) -> tuple[int, list]:
    """`threads` callers behind a barrier call fn(*args) while its first computation is held open until every
    other caller is computing too or done (no lock) or waiting inside the cache's wrapper (locked); counts
    the threads that computed (called owner.<target>, replaced by a counter) and returns every caller's result."""
    real = getattr(owner, target)
    started: list[threading.Thread] = []
    calls = []
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def counting(*a, **k):
        me = threading.current_thread()
        calls.append(me)
        if len(calls) == 1:  # the first computation waits (on state) for the others to arrive
            others = [t for t in started if t is not me]
            while not all(not t.is_alive() or _in(t, {"wrapper", "counting"}) for t in others):
                threading.Event().wait(0.001)
        return real(*a, **k)

    monkeypatch.setattr(owner, target, counting)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = fn(*args)

    started.extend(threading.Thread(target=call, args=(i,)) for i in range(threads))
    for t in started:
        t.start()
    for t in started:
        t.join()
    return len({id(t) for t in calls}), results


def test_four_sessions_asking_for_gains_together_compute_it_once(monkeypatch):
    """Issue 9: with functools.cache, four threads behind a barrier each computed D.gains(4096)."""
    D.gains.cache_clear()
    computing_threads, results = _race(D.gains, (4096,), monkeypatch, D, "curve")
    assert computing_threads == 1
    assert all(r is results[0] for r in results)  # every caller got the one result


def test_the_dense_run_is_computed_once_for_a_class(monkeypatch):
    D.dense_run.cache_clear()
    D.price.cache_clear()
    computing_threads, results = _race(D.dense_run, (), monkeypatch, D.A, "tokenize")
    assert computing_threads == 1 and all(r is results[0] for r in results)


def test_once_keeps_keys_apart_bounds_its_size_and_does_not_cache_a_failure():
    made = []

    @D.once(maxsize=2)
    def square(x):
        made.append(x)
        if x < 0:
            raise ValueError("negative")
        return x * x

    assert [square(2), square(3), square(2)] == [4, 9, 4] and made == [2, 3]
    square(4)  # evicts 3, the least recently used
    assert square(3) == 9 and made == [2, 3, 4, 3]
    for _ in range(2):
        with pytest.raises(ValueError):
            square(-1)
    assert made.count(-1) == 2
