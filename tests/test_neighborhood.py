"""2-D neighborhood attention against the definition of Hassani et al. 2023 (Neighborhood Attention Transformer).

NAT, section 3.1: the neighborhood of a pixel is its k × k nearest pixels; unlike a zero-padded sliding
window it keeps k × k pixels at the borders too, the window being shifted to stay inside the feature map
(their Fig. 3: a corner pixel's neighborhood is the one of the pixel `radius` steps inwards).
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_core import analysis, make
from sparse_core.patterns.neighborhood import Neighborhood
from tests.oracle import oracle_blocks, oracle_mask


def window_1d(q: int, length: int, k: int) -> range:
    """NAT's window along one axis: the k positions around q, slid inside 0 .. length-1 at the borders."""
    if length <= k:
        return range(length)
    start = min(max(q - k // 2, 0), length - k)
    return range(start, start + k)


def oracle_keep(prim: Neighborhood, i: int, j: int, n: int) -> bool:
    """The literal rule tests/oracle.py uses for this primitive: (qr, qc) attends (kr, kc) when both axes'
    windows hold the key; the grid is `side` wide and ceil(n / side) tall, row-major."""
    if prim.causal and j > i:
        return False
    k = 2 * prim.radius + 1
    (qr, qc), (kr, kc) = divmod(i, prim.side), divmod(j, prim.side)
    return kr in window_1d(qr, -(-n // prim.side), k) and kc in window_1d(qc, prim.side, k)


# (3, 2, 20), (4, 5, 16), (5, 2, 23), (2, 63, 50) and (1, 0, 7): windows as wide as the grid or wider, whose key rows
# are one interval (Neighborhood.full_width); (6, 2, 31) is one column short of that
EXAMPLES = [
    (5, 1, 25),
    (8, 2, 64),
    (7, 3, 45),
    (3, 2, 20),
    (9, 0, 30),
    (6, 1, 1),
    (4, 5, 16),
    (5, 2, 23),
    (6, 2, 31),
    (2, 63, 50),
    (1, 0, 7),
]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("side, radius, n", EXAMPLES)
def test_masks_counts_and_blocks_match_the_papers_definition(side, radius, n, causal):
    prim = Neighborhood(side, radius, causal=causal)
    truth = oracle_mask(prim, n)
    assert np.array_equal(analysis.dense_mask(prim, n), truth)
    assert np.array_equal(analysis.row_degree(prim, n), truth.sum(axis=1))
    q, kv = np.arange(n)[:, None], np.arange(n)[None, :]
    assert np.array_equal(np.broadcast_to(prim.predicate(q, kv, n), (n, n)), truth)
    for block in (1, 3, 4, 16):
        assert np.array_equal(analysis.block_layout(prim, n, block).dense(), oracle_blocks(truth, block))


def test_every_pixel_keeps_k_squared_keys_and_corners_share_the_inner_window():
    """The paper's two stated properties on a 14 × 14 map with k = 7 (NAT's kernel)."""
    side, radius = 14, 3
    expr = make("neighborhood", side=side, radius=radius).expr()
    assert analysis.row_degree(expr, side * side).tolist() == [49] * (side * side)
    mask = analysis.dense_mask(expr, side * side)
    assert np.array_equal(mask[0], mask[radius * side + radius])  # corner (0, 0) and (3, 3)
    assert np.array_equal(mask[side - 1], mask[radius * side + side - 1 - radius])  # corner (0, 13) and (3, 10)
    assert np.array_equal(mask[1], mask[0]) and not np.array_equal(
        mask[radius + 1], mask[0]
    )  # (0, 1) shares it, (0, 4) not


@pytest.mark.parametrize("side, radius, n", [(5, 1, 23), (4, 2, 30), (6, 1, 37), (3, 3, 20), (5, 2, 21), (2, 5, 9)])
def test_decode_cache_counts_what_later_rows_read_at_their_own_length(side, radius, n):
    """kv_retained: keys 0..n-1 read by row n-1 or a later row i, each row reading the mask of i + 1 tokens
    (it then sits in the last grid row, its window shifted up against that border)."""
    prim = Neighborhood(side, radius, causal=True)
    horizon = (2 * radius + 2) * side
    read = set()
    for i in range(n - 1, n + horizon):
        read |= {j for j in range(n) if oracle_keep(prim, i, j, i + 1)}
    assert prim.kv_retained(n) == len(read)


def test_scaling_shrinks_the_radius_and_keeps_the_grid():
    from sparse_core.scale import scale_to_n

    scaled = scale_to_n("neighborhood", {"side": 8, "radius": 3}, 64, False)
    assert scaled.params == {"side": 8, "radius": 1} and scaled.density == 9 / 64  # k² = 9 keys per pixel


def test_a_window_as_wide_as_the_grid_is_one_interval_of_keys_a_row():
    """k >= side: every key row of the window is a whole grid row, and they are consecutive, so a row keeps one
    interval (radius 57 on a 19-wide grid was 115 intervals a row: 492 MiB priced for 56,073 tokens, ran 236 MB)."""
    wide, narrow = Neighborhood(19, 57), Neighborhood(19, 8)  # k = 115 and k = 17 on 19 columns
    assert wide.full_width and not narrow.full_width
    assert wide.segment_count(56073) == wide.kv_segment_count() == 1
    assert narrow.segment_count(56073) == 17
    rows = np.arange(0, 56073, 997)
    (seg,) = wide.segments(rows, 56073)
    truth = oracle_mask(Neighborhood(19, 57), 2000)
    for causal in (False, True):  # against the paper's rule, at a size the oracle can draw
        prim = Neighborhood(19, 57, causal=causal)
        oracle = truth & np.tril(np.ones_like(truth)) if causal else truth
        assert np.array_equal(analysis.dense_mask(prim, 2000), oracle)
        assert np.array_equal(analysis.block_layout(prim, 2000, 16).dense(), oracle_blocks(oracle, 16))
    # every row keeps k whole grid rows, 115 x 19 keys, fewer where its window holds the partial last grid row
    assert (seg.count == np.minimum(seg.start + 115 * 19, 56073) - seg.start).all()
    assert (seg.count[:-1] == 115 * 19).all() and seg.count[-1] == 114 * 19 + 56073 % 19
