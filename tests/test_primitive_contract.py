"""A primitive that breaks its contract fails where it answers, with a message naming it (issue 21)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from sparse_core import analysis
from sparse_core.patterns.expr import Primitive, PrimitiveContractError
from sparse_core.patterns.window import Window
from sparse_core.segments import Seg, interval


@dataclass(frozen=True, eq=False)
class OffByOneBlocks(Primitive):
    """The diagonal, with a block answer that runs one block past the end (the bug issue 21 met)."""

    formula = "q_idx == kv_idx"

    def segments(self, rows, n):
        return [interval(rows, rows + 1, len(rows))]

    def block_segments(self, brows, n, block):
        return [interval(brows, brows + 2, len(brows))]


@dataclass(frozen=True, eq=False)
class WrongShape(Primitive):
    """Segments with one row too few."""

    def segments(self, rows, n):
        return [Seg(np.zeros(len(rows) - 1, dtype=np.int64), 1, np.ones(len(rows) - 1, dtype=np.int64))]


def test_a_block_index_past_the_last_block_names_the_primitive():
    with pytest.raises(PrimitiveContractError, match=r"OffByOneBlocks\(.*\)\.block_segments\(n=20, block=4\)") as e:
        analysis.block_layout(OffByOneBlocks(), 20, 4).dense()
    assert "key blocks 4 .. 5 on row 4" in str(e.value) and "outside 0 .. 4" in str(e.value)
    assert analysis.row_degree(OffByOneBlocks(), 20).tolist() == [1] * 20  # its segments are fine


def test_wrong_shapes_and_keys_past_n_are_caught():
    with pytest.raises(PrimitiveContractError, match=r"WrongShape\(.*\)\.segments\(n=9\): segment 0 has start"):
        analysis.row_degree(WrongShape(), 9)
    assert analysis.row_degree(Window(2), 9).sum() == 9 + 2 * 8 + 2 * 7  # a correct primitive passes
