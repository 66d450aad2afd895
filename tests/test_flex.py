"""FlexAttention BlockMasks built from the engine equal a masked dense reference."""

import numpy as np
import pytest
import torch
from torch.nn.attention.flex_attention import flex_attention

from sparse_core import analysis, flex, make

# Eager FlexAttention is the point here: a small, exact reference path (speed is benchmarked elsewhere).
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


@pytest.mark.parametrize(
    "name, params, block",
    [
        ("window", {"window": 7}, 16),
        ("bigbird", {"block": 16}, 16),
        ("bigbird", {"block": 16}, 32),
        ("strided", {"stride": 16}, 16),
        ("fixed", {"stride": 32, "summary": 4}, 16),
        ("longformer", {"window": 20, "global_tokens": 3}, 32),
        ("streaming", {"sinks": 4, "window": 30}, 32),
        ("random", {"random_keys": 5}, 32),
        ("topk", {"k": 8}, 32),
    ],
)
def test_block_mask_matches_masked_dense_attention(name, params, block):
    n = 150
    expr = make(name, **params).expr()
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, n, 16) for _ in range(3))
    out = flex_attention(q, k, v, block_mask=flex.to_block_mask(expr, n, block))
    dense = torch.as_tensor(analysis.dense_mask(expr, n))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_mask_mod_reproduces_the_mask_pair_by_pair():
    n = 70
    expr = make("dilated", window=3, dilation=3).expr() | make("global", global_tokens=2).expr()
    mod = flex.mask_mod(expr, n)
    q_idx = torch.arange(n)[:, None].expand(n, n)
    kv_idx = torch.arange(n)[None, :].expand(n, n)
    got = torch.vmap(torch.vmap(lambda a, b: mod(0, 0, a, b)))(q_idx, kv_idx).numpy()
    assert np.array_equal(got, analysis.dense_mask(expr, n))


def test_full_blocks_are_separated_from_partial_ones():
    bm = flex.to_block_mask(make("block", block=32).expr(), 128, 32)
    assert int(bm.full_kv_num_blocks.sum()) == 4 and int(bm.kv_num_blocks.sum()) == 0
