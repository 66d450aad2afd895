"""The base of patterns chosen from the tokens' vectors (LSH, top-k, routing, block gating)."""

from __future__ import annotations

import numpy as np

from .dense_memo import _memoised
from .expr import Primitive


class DataDependent(Primitive):
    """A pattern chosen from the tokens' query/key vectors; materialised densely (n is bounded).

    Subclasses define `dense(q, k)`; it is memoised (see DENSE_MEMO_BYTES), so it must depend on the
    dataclass fields and the vectors only.
    """

    data_dependent = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "dense" in cls.__dict__:
            cls.dense = _memoised(cls.__dict__["dense"])

    def dense(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:  # (n, n) bool
        """The (n, n) mask chosen from these vectors."""
        raise NotImplementedError

    def segments(self, rows, n):  # pragma: no cover - the engine routes these through dense()
        raise TypeError("data-dependent patterns are evaluated densely")

    def block_segments(self, brows, n, block):  # pragma: no cover - routed through dense() as well
        raise TypeError("data-dependent patterns are evaluated densely")
