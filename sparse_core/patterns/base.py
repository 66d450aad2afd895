"""Mask expressions: primitives (exact row and block segments), unions and intersections.

A primitive answers two questions exactly, vectorised over rows:
  segments(rows, n)            which keys each query row keeps          (element level)
  block_segments(brows, n, B)  which key blocks each query block keeps  (block level)
Causality is handled inside each primitive, so both answers stay exact for causal variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..segments import Seg, interval

MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Counter-based hash: reproducible random numbers for any row, in any chunking."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def random_subsets(ids: np.ndarray, population: np.ndarray, r: int, seed: int, salt: int) -> np.ndarray:
    """r distinct uniform picks from range(population[i]) per id (Floyd's algorithm), -1 padded.

    One strong hash per id, then a cheap multiply per draw and Lemire's multiply-shift to map
    32 random bits onto [0, t] without a modulo: a million rows in a few tens of milliseconds.
    """
    out = np.full((len(ids), r), -1, dtype=np.int64)
    base = splitmix64(np.uint64(seed) * np.uint64(1_000_003) + np.uint64(salt))
    with np.errstate(over="ignore"):
        row_key = splitmix64(ids.astype(np.uint64) ^ base)
        for k in range(r):
            t = population - r + k  # Floyd: draw from [0, t], take t itself on a repeat
            bits = ((row_key * np.uint64(2 * k + 0x9E3779B1)) ^ (row_key >> np.uint64(29))) >> np.uint64(32)
            pick = ((bits * np.maximum(t + 1, 1).astype(np.uint64)) >> np.uint64(32)).astype(np.int64)
            if k:
                repeat = (out[:, :k] == pick[:, None]).any(axis=1)
                pick = np.where(repeat, t, pick)
            out[:, k] = np.where(t >= 0, pick, -1)
    return out


def block_bounds(brows: np.ndarray, n: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last token of each query block (the last block may be partial)."""
    return brows * block, np.minimum((brows + 1) * block, n) - 1


def merge_intervals(lo: np.ndarray, hi: np.ndarray) -> list[Seg]:
    """Union of m half-open intervals per row as disjoint step-1 segments. lo, hi: (R, m)."""
    if lo.shape[1] == 0:
        return [Seg(np.zeros(len(lo), dtype=np.int64), 1, np.zeros(len(lo), dtype=np.int64))]
    big = np.iinfo(np.int64).max // 4
    empty = hi <= lo
    lo = np.where(empty, big, lo)
    hi = np.where(empty, big, hi)
    order = np.argsort(lo, axis=1, kind="stable")
    lo = np.take_along_axis(lo, order, axis=1)
    hi = np.take_along_axis(hi, order, axis=1)
    reach = np.maximum.accumulate(hi, axis=1)
    starts = np.ones_like(lo, dtype=bool)
    starts[:, 1:] = lo[:, 1:] > reach[:, :-1]
    m = lo.shape[1]
    run_end = np.empty_like(reach)
    run_end[:, m - 1] = reach[:, m - 1]
    for c in range(m - 2, -1, -1):
        run_end[:, c] = np.where(starts[:, c + 1], reach[:, c], run_end[:, c + 1])
    count = np.where(starts & (lo < big), run_end - lo, 0)
    return [Seg(lo[:, c].copy(), 1, count[:, c].copy()) for c in range(m)]


class Expr:
    """A mask expression over query index i and key index j."""

    data_dependent: bool = False

    def terms(self) -> list[tuple[Primitive, ...]]:
        """Disjunctive normal form: a union of intersections of primitives."""
        raise NotImplementedError

    def primitives(self) -> list[Primitive]:
        seen: list[Primitive] = []
        for term in self.terms():
            for p in term:
                if not any(p is q for q in seen):
                    seen.append(p)
        return seen

    def kv_retained(self, n: int) -> int:
        """Keys a decoder must keep cached to generate token n (bounded only for local patterns)."""
        return n

    def __or__(self, other: Expr) -> Expr:
        return Union((self, other))

    def __and__(self, other: Expr) -> Expr:
        return Intersection((self, other))


@dataclass(frozen=True, eq=False)
class Primitive(Expr):
    causal: bool = field(default=False, kw_only=True)

    def terms(self):
        return [(self,)]

    def segments(self, rows: np.ndarray, n: int) -> list[Seg]:
        raise NotImplementedError

    def block_segments(self, brows: np.ndarray, n: int, block: int) -> list[Seg]:
        raise NotImplementedError

    def _causal_clip(self, segs: list[Seg], rows: np.ndarray) -> list[Seg]:
        if not self.causal:
            return segs
        from ..segments import intersect

        limit = interval(0, rows + 1, len(rows))
        return [intersect(s, limit) for s in segs]


@dataclass(frozen=True, eq=False)
class Union(Expr):
    parts: tuple[Expr, ...]

    @property
    def data_dependent(self):  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        return [t for p in self.parts for t in p.terms()]

    def kv_retained(self, n: int) -> int:
        return min(n, sum(p.kv_retained(n) for p in self.parts))


@dataclass(frozen=True, eq=False)
class Intersection(Expr):
    parts: tuple[Expr, ...]

    @property
    def data_dependent(self):  # type: ignore[override]
        return any(p.data_dependent for p in self.parts)

    def terms(self):
        out = [()]
        for p in self.parts:
            out = [a + b for a in out for b in p.terms()]
        return out

    def kv_retained(self, n: int) -> int:
        return min(p.kv_retained(n) for p in self.parts)


class DataDependent(Primitive):
    """A pattern chosen from the tokens' query/key vectors; materialised densely (n is bounded)."""

    data_dependent = True

    def dense(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:  # (n, n) bool
        raise NotImplementedError

    def segments(self, rows, n):  # pragma: no cover - the engine routes these through dense()
        raise TypeError("data-dependent patterns are evaluated densely")

    block_segments = segments
