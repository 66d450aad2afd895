"""A small shared memo of data-dependent masks, keyed by the pattern's parameters and the vectors' digest."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import fields

import numpy as np

# One explorer rerun asks for the same data-dependent mask three times (row degrees, block layout,
# view), each scoring all n^2 pairs again. A few masks are kept, keyed by the pattern's parameters
# and a digest of the vectors: a 4096^2 mask is 16 MiB, so the bound holds about two of them.
DENSE_MEMO_BYTES = 40 << 20
_dense_memo: OrderedDict[tuple, np.ndarray] = OrderedDict()
_dense_memo_lock = threading.Lock()
# Other memos of dense masks built from these (analysis keeps whole expressions): cleared together.
DENSE_MEMO_CLEARERS: list = []


def _digest(a: np.ndarray) -> bytes:
    a = np.ascontiguousarray(a)
    h = hashlib.blake2b(repr((a.dtype.str, a.shape)).encode(), digest_size=16)
    h.update(a.data if a.size else b"")  # the raw bytes, without a copy
    return h.digest()


def clear_dense_memo() -> None:
    """Forget every memoised data-dependent mask (tests, memory pressure)."""
    with _dense_memo_lock:
        _dense_memo.clear()
    for clear in DENSE_MEMO_CLEARERS:
        clear()


def _memoised(method):
    """Wrap a `dense(q, k)` so equal parameters and equal vectors score once; callers get a private copy."""

    def dense(self, q, k):
        q, k = np.asarray(q), np.asarray(k)
        try:
            params = tuple((f.name, getattr(self, f.name)) for f in fields(self))
            key = (type(self), params, _digest(q), _digest(k))
            hash(key)
        except TypeError:  # unhashable parameters: nothing to key on
            return method(self, q, k)
        with _dense_memo_lock:
            hit = _dense_memo.get(key)
            if hit is not None:
                _dense_memo.move_to_end(key)
        if hit is not None:
            return hit.copy()
        mask = method(self, q, k)
        if mask.nbytes <= DENSE_MEMO_BYTES // 2:
            kept = mask.copy()
            kept.flags.writeable = False
            with _dense_memo_lock:
                _dense_memo[key] = kept
                total = sum(m.nbytes for m in _dense_memo.values())
                while total > DENSE_MEMO_BYTES and len(_dense_memo) > 1:
                    total -= _dense_memo.popitem(last=False)[1].nbytes
        return mask

    dense.__doc__ = method.__doc__
    dense.__name__ = method.__name__
    dense.__qualname__ = method.__qualname__
    dense.__wrapped__ = method
    return dense
