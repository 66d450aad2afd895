"""2-D neighborhood attention (Hassani et al. 2023, "Neighborhood Attention Transformer").

Tokens are pixels of a grid `side` tokens wide, row-major: token i sits at (i // side, i % side), and
n tokens fill ceil(n / side) rows (n = side² is the paper's square feature map). A query attends the
k × k keys (k = 2·radius + 1) of the window centred on it; at the borders NAT does not shrink the
window but shifts it inside the grid, so every query keeps min(k, height) × min(k, side) keys (fewer
only in a partial last row). Per axis the window starts at clamp(q - radius, 0, length - k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..segments import Seg, interval
from ..spec import P, PatternDef, register
from .base import NeedsNError, Primitive, merge_intervals, stack_chunks

# clamp(x, 0, m) for m >= 0 with only abs, + and //: (|x| - |x - m| + m) / 2 (the sum is always even)
_ROW_START = "((abs(q_idx // {side} - {radius}) - abs(q_idx // {side} - {radius} - {row_room}) + {row_room}) // 2)"
_COL_START = "((abs(q_idx % {side} - {radius}) - abs(q_idx % {side} - {radius} - {col_room}) + {col_room}) // 2)"
# query blocks answered at once hold (chunk, 2k + 1) interval tables, a few copies of them while merged: at most
# _BLOCK_CELLS cells (radius 63 at 2^20, block 128 held 196 MB with the 8,192 block rows at once; 2,056 a chunk)
_BLOCK_CHUNK = 1 << 14
_BLOCK_CELLS = 1 << 19
NEIGHBORHOOD_BLOCK_ROW_UNITS = 12  # a block row's own work in the layout's numpy passes (block_cost_estimate)


def _clamp(x: np.ndarray, room: int) -> np.ndarray:
    return np.clip(x, 0, room)


@dataclass(frozen=True, eq=False)
class Neighborhood(Primitive):
    """Keys in the k × k window (k = 2·radius + 1) around the query on a grid `side` tokens wide, shifted
    inside the grid at its borders (NAT)."""

    side: int
    radius: int
    formula = (
        f"(kv_idx // {{side}} >= {_ROW_START}) & (kv_idx // {{side}} <= {_ROW_START} + {{span}}) & "
        f"(kv_idx % {{side}} >= {_COL_START}) & (kv_idx % {{side}} <= {_COL_START} + {{span}})"
    )
    interval_segments = True

    @property
    def span(self) -> int:
        """k - 1: the window's last row (or column) relative to its first."""
        return 2 * self.radius

    @property
    def full_width(self) -> bool:
        """The window spans every grid column (k >= side): its key rows are whole grid rows, one interval of keys."""
        return self.span + 1 >= self.side

    def height(self, n: int) -> int:
        """Grid rows that n tokens fill (the last may be partial)."""
        return -(-n // self.side)

    def formula_values(self, n):
        if n is None:
            raise NeedsNError("the bottom border depends on n")
        return {
            "side": self.side,
            "radius": self.radius,
            "span": self.span,
            "row_room": max(self.height(n) - self.span - 1, 0),
            "col_room": max(self.side - self.span - 1, 0),
        }

    def starts(self, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """First grid row and first grid column of each query's window."""
        row_room = max(self.height(n) - self.span - 1, 0)
        col_room = max(self.side - self.span - 1, 0)
        return (
            _clamp(rows // self.side - self.radius, row_room),
            _clamp(rows % self.side - self.radius, col_room),
        )

    def segments(self, rows, n):
        rs, cs = self.starts(rows, n)
        if self.full_width:  # whole consecutive grid rows: one interval, not one per key row (radius 57 on 19 columns)
            start = rs * self.side
            end = np.minimum((rs + min(self.span + 1, self.height(n))) * self.side, n)
            return self._causal_clip([interval(start, end, len(rows))], rows)
        width = min(self.span + 1, self.side)
        segs = []
        for t in range(min(self.span + 1, self.height(n))):  # one interval per key row of the window
            start = (rs + t) * self.side + cs
            segs.append(interval(start, np.minimum(start + width, n), len(rows)))
        return self._causal_clip(segs, rows)

    def row_count(self, rows, n):
        """Keys per row in closed form: the window's whole key rows times its width, and its part of the one key
        row that may be cut short (the partial last grid row; the query's own row when causal). Counting the
        2·radius + 1 intervals a row took ~6 ns each: neighborhood(1,024, 57) at 729,400 spent 0.44 s on them."""
        rs, cs = self.starts(rows, n)
        kh, kw = min(self.span + 1, self.height(n)), min(self.span + 1, self.side)
        if self.causal:  # key rows before the query's are whole (earlier grid rows are full); its own up to itself
            y, x = rows // self.side, rows % self.side
            return kw * (y - rs) + np.maximum(np.minimum(cs + kw - 1, x) - cs + 1, 0)
        last = self.height(n) - 1  # the grid row n may leave partial, with n - last·side columns
        cut = rs + kh - 1 >= last  # the window reaches it
        partial = np.maximum(np.minimum(cs + kw, n - last * self.side) - cs, 0)
        return np.where(cut, kw * (kh - 1) + partial, kw * kh)

    def segment_count(self, n):
        return 1 if self.full_width else min(self.span + 1, self.height(n))

    def block_segments(self, brows, n, block):
        step = max(1, min(_BLOCK_CHUNK, _BLOCK_CELLS // (2 * self.span + 3)))
        chunks = [self._block_chunk(brows[lo : lo + step], n, block) for lo in range(0, len(brows), step)]
        return stack_chunks(chunks) if chunks else [interval(0, 0, 0)]

    def _block_chunk(self, brows: np.ndarray, n: int, block: int) -> list[Seg]:
        """The keys of a query block are the windows of at most three pieces of it: the part of its first grid
        row, its full middle rows and the part of its last row. Window starts grow by 0 or 1 per step, so a
        piece's windows cover one row range × one column range."""
        side, span = self.side, self.span
        qlo = brows * block
        qhi = np.minimum(qlo + block, n) - 1
        if self.full_width:
            # window starts never fall as the query moves on, and each window is whole grid rows, so a block's
            # windows run from its first query's first key row to its last query's last: one interval of blocks
            lo = self.starts(qlo, n)[0] * side
            hi = np.minimum((self.starts(qhi, n)[0] + min(span + 1, self.height(n))) * side, n)
            segs = [interval(lo // block, (hi - 1) // block + 1, len(brows))]
            return self._causal_clip(segs, brows)
        ra, rb = qlo // side, qhi // side
        ones = np.ones(len(brows), dtype=np.int64)
        last_col_a = np.where(rb > ra, side - 1, qhi % side)
        pieces = [(ra, ra, qlo % side, last_col_a, ones.astype(bool))]  # (first row, last row, first col, last col)
        pieces.append((rb, rb, 0 * ones, qhi % side, rb > ra))
        lo_parts, hi_parts = [], []
        for r0, r1, c0, c1, present in pieces:
            krs = self.starts(r0 * side, n)[0]
            kre = self.starts(r1 * side, n)[0] + span
            kcs = self.starts(c0, n)[1]
            kce = np.minimum(self.starts(c1, n)[1] + span, side - 1)
            for t in range(span + 1):
                kr = krs + t
                lo = kr * side + kcs
                hi = np.minimum(kr * side + kce, n - 1)
                ok = present & (kr <= kre) & (lo <= hi)
                lo_parts.append(np.where(ok, lo // block, 0))
                hi_parts.append(np.where(ok, hi // block + 1, 0))
        # full middle grid rows (every column queries): key rows rs(ra + 1) .. rs(rb - 1) + span, all columns
        middle = rb - ra >= 2
        first = self.starts((ra + 1) * side, n)[0] * side
        last = np.minimum((self.starts((rb - 1) * side, n)[0] + span + 1) * side, n) - 1
        lo_parts.append(np.where(middle, first // block, 0))
        hi_parts.append(np.where(middle, last // block + 1, 0))
        segs = merge_intervals(np.stack(lo_parts, axis=1), np.stack(hi_parts, axis=1))
        if self.causal:  # earlier key blocks hold only earlier keys; the diagonal block holds the query itself
            segs = self._causal_clip(segs, brows)
        return segs

    def kv_rows(self, cols):
        # Decoding, row i reads the mask at its own length i + 1, where it sits in the last grid row and its
        # window is shifted up against that border: key rows max(0, qr - 2·radius) .. qr. So key (kr, kc) is
        # read by grid rows kr .. kr + 2·radius, at the columns whose window holds kc (a range, as window
        # starts grow by 0 or 1 per column), from the key itself on.
        side, span = self.side, self.span
        kr, kc = cols // side, cols % side
        if self.full_width:  # every column's window holds kc: whole grid rows kr .. kr + 2·radius, one interval
            return [interval(cols, (kr + span + 1) * side, len(cols))]
        c_lo, c_hi = self._reading_columns(kc)
        out = []
        for t in range(span + 1):
            start = (kr + t) * side + c_lo
            end = (kr + t) * side + c_hi + 1
            out.append(interval(np.maximum(start, cols), end, len(cols)))
        return out

    def _reading_columns(self, kc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) grid column of the queries whose window holds key column kc (a window narrower than the
        grid)."""
        side, span, radius = self.side, self.span, self.radius
        col_room = max(side - span - 1, 0)
        if col_room == 0:
            return np.zeros_like(kc), np.full_like(kc, side - 1)
        return np.where(kc <= span, 0, kc - radius), np.where(kc >= col_room, side - 1, kc + radius)

    def kv_last_row(self, cols):
        """The last row that reads each key, decoding: the last key row of kv_rows, at its last column."""
        side, span = self.side, self.span
        kr, kc = cols // side, cols % side
        if self.full_width:
            return (kr + span + 1) * side - 1
        return (kr + span) * side + self._reading_columns(kc)[1]

    def kv_segment_count(self):
        return 1 if self.full_width else self.span + 1

    def kv_reach(self):
        return (self.span + 1) * self.side

    def block_cost_estimate(self, n, block):
        """Work of the block layout: each block row builds 2·(span + 1) + 1 candidate ranges, then merges them.

        About 2 units a range (numpy passes over the block rows, then a sort per row; more where the sort's log
        grows) and 12 a block row (the passes' own per-row work, which dominates at small radii). Measured at
        blocks 1-256, one BLAS thread, no huge pages (2026-12-07): 180 ns a row + 32-63 ns a range, 14-44 ns a
        unit at 2 a range alone, where the budget's unit is ~17 ns; neighborhoodᶜ(1,024, 20) at 137,216, block 1
        ran 0.88 s accepted at 28.7 M units once the engine built every layout the budget accepts.
        """
        nb = -(-n // block)
        ranges = 1 if self.full_width else 2 * (self.span + 1) + 1
        # a range's share grows with the sort's log: 235 ranges a block row ran 30-44 ns a unit at 2 a range
        # (neighborhoodᶜ(992, 58) at 780,288, block 16: 0.95-1.03 s accepted at 30.8 M), 23 a row 14-21
        per_range = max(2.0, ranges.bit_length() / 2)
        return int(nb * (per_range * ranges + NEIGHBORHOOD_BLOCK_ROW_UNITS))

    def constant_rows(self, n):
        """No two neighbouring rows share a key set (the window moves with the query)."""
        return 1


register(
    PatternDef(
        "neighborhood",
        "local",
        "Neighborhood (2-D)",
        "Tokens are pixels of a grid; each attends the k × k pixels around it, the window shifted inside the "
        "grid at its borders.",
        "O(n·k²)",
        (
            P(
                "side",
                int,
                64,
                1,
                1024,
                "Grid width in tokens; n = side² is a square image (NAT: 56 at stage 1).",
                unit="count",
            ),
            P("radius", int, 3, 0, 63, "Window radius: k = 2·radius + 1 keys per axis (NAT: k = 7).", unit="tokens"),
        ),
        lambda p, c: Neighborhood(p["side"], p["radius"], causal=c),
        reference="Neighborhood Attention Transformer (Hassani et al. 2023): kernel 7, windows clamped at borders",
    )
)
