"""Bridges to PyTorch FlexAttention: a BlockMask from the engine's block layout, and a mask_mod.

`BlockMask.from_kv_blocks` takes the layout directly (milliseconds at 16k), instead of
`create_block_mask`, which evaluates mask_mod on all n^2 pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from .analysis import block_layout, block_pair_counts, dense_mask
from .patterns.base import Expr
from .segments import Seg


def _segment_tables(segs: list[Seg], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    start = torch.as_tensor(np.stack([s.start for s in segs], axis=1), device=device)  # (n, m)
    count = torch.as_tensor(np.stack([s.count for s in segs], axis=1), device=device)  # (n, m)
    step = torch.as_tensor([s.step for s in segs], device=device)  # (m,)
    return start, count, step


def mask_mod(expr: Expr, n: int, device: str = "cpu"):
    """A FlexAttention mask_mod equal to the engine's mask; parameters live in captured tensors,
    so one compiled kernel serves every parameter value of the same shape."""
    if expr.data_dependent:
        table = torch.as_tensor(dense_mask(expr, n), device=device)

        def dense_mod(b, h, q_idx, kv_idx):
            return table[q_idx, kv_idx]

        return dense_mod

    rows = np.arange(n, dtype=np.int64)
    prims = expr.primitives()
    tables = [_segment_tables(p.segments(rows, n), device) for p in prims]
    term_index = [[next(i for i, q in enumerate(prims) if q is p) for p in term] for term in expr.terms()]

    def member(t, q_idx, kv_idx):
        start, count, step = tables[t]
        offset = kv_idx - start[q_idx]  # (m,)
        hit = (offset >= 0) & (offset % step == 0) & (offset // step < count[q_idx])
        return hit.any()

    def segment_mod(b, h, q_idx, kv_idx):
        keep = torch.zeros((), dtype=torch.bool, device=q_idx.device)
        for term in term_index:
            inside = torch.ones((), dtype=torch.bool, device=q_idx.device)
            for t in term:
                inside = inside & member(t, q_idx, kv_idx)
            keep = keep | inside
        return keep

    return segment_mod


def to_block_mask(expr: Expr, n: int, block: int = 128, device: str = "cpu", with_full_blocks: bool = True):
    """A BlockMask from the engine's exact layout. Fully kept blocks skip mask_mod entirely."""
    from torch.nn.attention.flex_attention import BlockMask

    layout = block_layout(expr, n, block)
    nb = layout.n_blocks
    qi, kj = layout.pairs()
    full = np.zeros(len(qi), dtype=bool)
    if with_full_blocks and len(qi):
        counts = block_pair_counts(expr, n, block, qi, kj) if not expr.data_dependent else None
        if counts is None:
            mask = dense_mask(expr, n)
            counts = np.array([mask[a * block:(a + 1) * block, c * block:(c + 1) * block].sum()
                               for a, c in zip(qi, kj, strict=True)])
        heights = np.minimum((qi + 1) * block, n) - qi * block
        widths = np.minimum((kj + 1) * block, n) - kj * block
        full = counts == heights * widths

    def pack(sel):
        i, j = qi[sel], kj[sel]
        num = np.bincount(i, minlength=nb)
        idx = np.zeros((nb, nb), dtype=np.int32)  # FlexAttention wants one slot per key block
        slot = np.arange(len(i)) - np.repeat(np.cumsum(num) - num, num)
        idx[i, slot] = j
        return (torch.as_tensor(num, dtype=torch.int32, device=device)[None, None],
                torch.as_tensor(idx, device=device)[None, None])

    kv_num, kv_idx = pack(~full)
    full_num, full_idx = pack(full) if with_full_blocks else (None, None)
    return BlockMask.from_kv_blocks(
        kv_num, kv_idx, full_num, full_idx, BLOCK_SIZE=block,
        mask_mod=mask_mod(expr, n, device), seq_lengths=(n, n),
    )
