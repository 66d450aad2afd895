"""The lab's measuring passes: dense with mass kept per mask, sparse with a pattern applied, and decode steps.

Each pass is a `LabPass` that the one registered attention function (`dispatch`) hands every
layer to. No (L, H, T, T) map is kept: in the dense pass each layer's probabilities are computed
in row chunks and reduced at once to per-head mass kept for every requested mask; the sparse pass
applies its mask per layer (shared, or per head for data-dependent patterns selected from that
pass's own q/k, as a deployed sparse model would) and records only counts; a decode step gathers
only the cache positions its pattern row keeps.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import dispatch
from .analysis import dense_mask
from .head_masks import ROW_CHUNK, allowed, head_masks, with_self
from .lab_args import DEFAULT_METHOD
from .metrics import next_token_stats
from .models import LoadedModel
from .params import PatternError
from .patterns.base import Expr
from .patterns.learned import BlockGating, TopK, top_per_row

SELECT_CHUNK = 256  # query rows per chunk of a data-dependent selection: (H, 256, S) scores, 75 MB at S = 8,192
BLOCK = 64  # block size of the block-sparse execution and of the FLOPs share
# the structured prefill's query segments (`_block_plan`): at most this many rows, at least this many
# (short segments run small, slow matmuls), and one call's overhead counted as this many pairs (at 8,192
# tokens, 4,000-16,000 gave the same layer time within noise for streaming and BigBird at 10 %)
SEGMENT_MAX = 128
SEGMENT_MIN = 8
SEGMENT_CALL_PAIRS = 8192
# Measured on this 2-core machine (benchmarks/lab.py --methods, one torch thread, shared cores):
# a 5 % window ran 12.1 s block-gathered vs 17.0 s SDPA-with-mask vs 20.1 s eager at 1,024 tokens
# and 16.5 / 23.9 / 48.2 s at 2,048; BigBird at 10 % (small blocks, scattered random blocks) ran
# 14.4 s gathered vs 11.5 s SDPA at 1,024 but 15.1 vs 19.3 s at 2,048. So "auto" gathers blocks
# when a block kernel would skip at least half of the blocks, and otherwise runs SDPA with a
# boolean mask. Eager is the slowest.
AUTO_BLOCKS_BELOW = 0.5  # executed-block share under which the block gather wins

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MODEL_LOCK = threading.Lock()  # one lab pass per process at a time: the passes are CPU-bound and long


class PassCancelledError(Exception):
    """A pass stopped between two layers because its `stop()` became true (a cancel)."""


@dataclass
class Job:
    """One mask whose dense mass the dense pass measures: a shared (T, T) mask or a per-head builder."""

    key: str
    expr: Expr
    shared: torch.Tensor | None  # (T, T) bool, structured patterns
    mass: list = field(default_factory=list)  # per layer (H,) mean over all rows
    mass_changed: list = field(default_factory=list)  # per layer (H,) mean over changed rows (nan: none)


@dataclass
class LabPass:
    """Per-forward state of a lab pass, found by the registered attention function through `dispatch.running`."""

    mode: str  # dense | sparse | decode
    n_total: int = 0  # decode: the mask's size (prompt + new tokens)
    jobs: list[Job] = field(default_factory=list)  # dense
    expr: Expr | None = None  # sparse / decode
    shared: torch.Tensor | None = None  # sparse / decode: (N, N) bool for structured patterns
    method: str = DEFAULT_METHOD
    layer: int = 0
    changed: torch.Tensor | None = None  # sparse: (T,) rows where some layer/head drops an allowed key
    kept: list = field(default_factory=list)  # sparse: per layer (H,) kept pairs (pattern ∩ allowed)
    executed: list = field(default_factory=list)  # sparse: per layer (H,) pairs a block kernel computes
    allowed_pairs: int = 0
    allowed_executed: int = 0
    empty: list = field(default_factory=list)  # sparse: per layer (H,) rows left empty
    reads: list | None = None  # decode: (layer, query position, key positions read) when instrumented
    # dense without jobs: (id of the model's mask, whether it is exactly causal), checked once per forward
    causal_mask: tuple[tuple, bool] | None = None
    # decode-mode prefill of a structured pattern: per query segment (lo, hi, key positions, (c, K) mask),
    # built once per forward (every layer shares the pattern) for the (t, s) it was built for
    plan: tuple[tuple[int, int], list] | None = None
    structured: dict = field(default_factory=dict)  # id(primitive) -> (N, N) bool, parts of a composite
    # checked after every layer (a long prefill at 8,192 tokens takes a minute): true stops the forward
    stop: Callable[[], bool] | None = None
    # the model's mask arrives as booleans (`dispatch.model_mask`): no (n, n) float32 mask is built
    boolean_mask: bool = True

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        """One layer of this pass: dense with mass kept, sparse with the pattern, or one decode step."""
        if query.shape[0] != 1:
            raise PatternError("the lab runs one text at a time (batch size 1)")
        if kwargs.get("softcap"):
            raise PatternError("models with attention logit soft-capping are not supported by the lab")
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        q, k, v = query[0], key[0], value[0]  # (H, T, d), (Hkv, S, d)
        groups = q.shape[0] // k.shape[0]
        t, s = q.shape[-2], k.shape[-2]
        if self.mode == "decode" and t == 1:
            out = _decode_step(self, q, k, v, scaling, groups)
        elif self.mode == "decode" and _plain_causal(self, attention_mask, t, s):
            # a prompt (or its suffix after a cached prefix) read under the pattern, executed sparsely
            if self.shared is not None:
                out = _gathered_layer(self, q, k, v, scaling, groups)
            else:
                out = _selected_layer(self, q, k, v, scaling, groups)
        elif self.mode == "dense" and not self.jobs:
            out = _plain_layer(self, q, k, v, attention_mask, scaling, groups)
        else:
            ok = allowed(attention_mask, t, s)
            if self.mode == "dense":
                keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
                values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
                model_mask = None if attention_mask is None else attention_mask[0, 0, :, :s]
                out = _dense_layer(self, q, keys, values, ok, scaling, model_mask)
            else:
                out = _sparse_layer(self, q, k, v, ok, scaling, groups)
        self.layer += 1
        if self.stop is not None and self.stop():
            raise PassCancelledError(f"stopped after layer {self.layer}")
        return out.transpose(0, 1)[None].contiguous(), None


def _plain_layer(run: LabPass, q, k, v, attention_mask, scaling, groups) -> torch.Tensor:
    """Dense attention with nothing to measure: one fused SDPA call (no probabilities kept).

    The chunked path of `_dense_layer` exists to reduce probabilities to mass kept; without jobs it
    only costs time (21.5 s vs 7.9 s CPU for a 2,048-token SmolLM2 prefill here, one thread). A
    square, exactly causal model mask runs as `is_causal` (the fused kernel skips the masked half);
    otherwise (a cached prefix, padding, a sliding window) the model's own boolean mask is passed."""
    t, s = q.shape[-2], k.shape[-2]
    mask = None
    if attention_mask is not None:
        ident = (id(attention_mask), tuple(attention_mask.shape))  # shape too: a freed mask's id can recur
        if run.causal_mask is None or run.causal_mask[0] != ident:
            square = t == s and attention_mask.shape[-2] == t and attention_mask.shape[-1] >= s
            run.causal_mask = (ident, square and _is_causal(attention_mask, t, s))
        if not run.causal_mask[1]:
            mask = allowed(attention_mask, t, s)
    is_causal = attention_mask is not None and mask is None and t > 1
    return torch.nn.functional.scaled_dot_product_attention(
        q[None], k[None], v[None], attn_mask=mask, is_causal=is_causal, scale=scaling, enable_gqa=groups > 1
    )[0]


def _plain_causal(run: LabPass, attention_mask, t: int, s: int) -> bool:
    """Whether the model's mask is exactly causal for t queries that end the s keys (once per forward).

    The sparse decode-mode prefill assumes it (SmolLM2); any other mask (padding, a sliding window)
    takes the general path, which intersects the pattern with the model's own mask."""
    if attention_mask is None:
        return False
    ident = (id(attention_mask), tuple(attention_mask.shape), "offset")
    if run.causal_mask is None or run.causal_mask[0] != ident:
        fits = attention_mask.shape[-2] == t and attention_mask.shape[-1] >= s
        run.causal_mask = (ident, fits and _is_causal(attention_mask, t, s))
    return run.causal_mask[1]


def _is_causal(attention_mask: torch.Tensor, t: int, s: int, chunk: int = 1024) -> bool:
    """Whether the model's additive mask lets query r (position s - t + r) see exactly keys 0..s - t + r.

    Compared a chunk of rows at a time: at 8,192 tokens a whole (t, s) comparison held 134 MB more."""
    cols = torch.arange(s)
    for lo in range(0, t, chunk):
        hi = min(t, lo + chunk)
        want = cols[None, :] <= torch.arange(s - t + lo, s - t + hi)[:, None]
        rows = attention_mask[:, :, lo:hi]  # additive floats or booleans (`dispatch.model_mask`)
        if not torch.equal(allowed(rows, hi - lo, s), want):
            return False
    return True


def _block_plan(run: LabPass, t: int, s: int) -> list:
    """Per query segment: (lo, hi, kept key positions, (hi - lo, K) bool mask over those keys).

    A segment is a run of consecutive query rows that reads the union of their kept keys, gathered
    token by token, so a segment's work is its length × that union. Segments are cut where the
    rows' key sets part: each one is the prefix of the next `SEGMENT_MAX` rows that minimises
    (length × union + `SEGMENT_CALL_PAIRS`) / kept pairs, the constant standing for one gather and
    SDPA call. Fixed 64-row blocks over 64-key blocks executed BigBird at 10 % at 8,192 tokens
    (its fitted block is 71, so every query block straddled two of its blocks and their different
    random blocks) at 2.46× its kept pairs, 0.31 s a layer here; these segments follow its blocks
    (1.09×, 0.14 s, as streaming's 0.14 s). Built once per forward (every layer shares the pattern)
    from the shared (N, N) mask, a few rows at a time; it holds about the kept pairs as bools."""
    if run.plan is not None and run.plan[0] == (t, s):
        return run.plan[1]
    assert run.shared is not None
    offset = s - t
    cols = torch.arange(s)
    plan = []
    lo = 0
    while lo < t:
        hi = min(t, lo + SEGMENT_MAX)
        rows = torch.arange(offset + lo, offset + hi)
        sub = run.shared[offset + lo : offset + hi, :s] & (cols[None, :] <= rows[:, None])
        empty = ~sub.any(-1)
        if bool(empty.any()):  # an empty row reads its own token (the lab's rule)
            sub[empty, rows[empty]] = True
        seen = sub.any(0)
        first = sub[:, seen].to(torch.uint8).argmax(0)  # the first row that reads each key (argmax: first max)
        union = torch.bincount(first, minlength=hi - lo).cumsum(0)  # keys read by rows lo..lo + i
        cost = (torch.arange(1, hi - lo + 1) * union + SEGMENT_CALL_PAIRS) / sub.sum(-1).cumsum(0)
        cost[: min(SEGMENT_MIN, hi - lo) - 1] = torch.inf
        length = int(torch.argmin(cost)) + 1
        sub = sub[:length]
        idx = sub.any(0).nonzero().flatten()
        plan.append((lo, lo + length, idx, sub[:, idx].contiguous()))
        lo += length
    run.plan = ((t, s), plan)
    return plan


def _gathered_layer(run: LabPass, q, k, v, scaling, groups) -> torch.Tensor:
    """A structured pattern executed sparsely: each query segment reads only the keys its rows keep.

    Work is about the kept pairs (see `_block_plan`); memory is one segment's gather. A segment whose
    rows all read all its keys runs SDPA without a mask."""
    heads, t, _ = q.shape
    s = k.shape[-2]
    out = torch.empty((heads, t, v.shape[-1]), dtype=q.dtype)
    for lo, hi, idx, sub in _block_plan(run, t, s):
        kk, vv = k.index_select(-2, idx), v.index_select(-2, idx)
        mask = None if bool(sub.all()) else sub
        out[:, lo:hi] = torch.nn.functional.scaled_dot_product_attention(
            q[None, :, lo:hi], kk[None], vv[None], attn_mask=mask, scale=scaling, enable_gqa=groups > 1
        )[0]
    return out


def rows_rule(prim, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(H, T, S) keys a data-dependent primitive keeps for T queries q (H, T, d) ending the S keys k (H, S, d).

    Query r is position S - T + r and sees keys up to it (causal). Each row's choice depends only on
    its own query and the keys up to it, so a cached prefix's choices stay valid when a prompt is
    extended, and one new query at decode scores every cached key (Quest / MoBA style)."""
    h, t = q.shape[0], q.shape[-2]
    s = k.shape[-2]
    pos = torch.arange(s - t, s)
    visible = torch.arange(s)[None, :] <= pos[:, None]  # (T, S)
    scores = torch.einsum("htd,hsd->hts", q.float(), k.float()).masked_fill(~visible, -torch.inf)
    if isinstance(prim, TopK):
        # the engine's rule (TopK.dense: argpartition's choice, by selection on values), 5x faster than topk
        flat = scores.reshape(h * t, s).numpy()  # (H·T, S), a view
        width = np.tile((pos + 1).numpy(), h)
        keep = torch.from_numpy(top_per_row(flat, min(prim.k, s), width, drop_neg_inf=True)).reshape(h, t, s)
        return keep & visible  # rows with fewer than k visible keys took some -inf ones
    if isinstance(prim, BlockGating):
        b = prim.block
        own = pos // b  # (T,)
        keep = ((torch.arange(s)[None, :] >= (own * b)[:, None]) & visible).expand(h, t, s).clone()  # own block
        nb = s // b  # complete blocks among the keys
        others = prim.top_blocks - 1
        if others > 0 and nb > 0:
            # the engine's rule (BlockGating.dense) exactly: float32 sums, then float64 means and scores. The
            # float32 mean and scores this had chose other blocks at near-ties than the lab's sparse pass (NumPy
            # `dense`), 4e-4 apart in SmolLM2's hidden states.
            sums = k[:, : nb * b].float().numpy().reshape(h, nb, b, -1).sum(axis=2)  # NumPy's summation order
            pooled = torch.from_numpy(sums.astype(np.float64) / b)  # (H, nb, d)
            gate = torch.einsum("htd,hbd->htb", q.double(), pooled)
            earlier = torch.arange(nb)[None, :] < own[:, None]  # (T, nb): complete blocks before the own one
            gate = gate.masked_fill(~earlier, -torch.inf)
            top = torch.topk(gate, min(others, nb), dim=-1).indices
            chosen = torch.zeros((h, t, nb), dtype=torch.bool).scatter_(-1, top, True)
            chosen &= earlier  # a row with fewer earlier blocks than `others` took some -inf ones
            keep[..., : nb * b] |= chosen.repeat_interleave(b, dim=-1)
        return keep
    raise PatternError(
        f"decoding with '{type(prim).__name__}' has no one-query selection rule yet (topk and block_gating have)",
        "memory_no_decode_rule",
    )


def _selection(run: LabPass, q, keys, lo: int, hi: int) -> torch.Tensor:
    """(H, c, S) keys the pattern keeps for queries lo:hi of q (H, T, d) over keys (H, S, d), with self."""
    assert run.expr is not None
    t, s = q.shape[-2], keys.shape[-2]
    qc = q[:, lo:hi]
    keep = torch.zeros((q.shape[0], hi - lo, s), dtype=torch.bool)
    k_view = keys[:, : s - t + hi]  # keys after the chunk's last query are invisible to it
    for term in run.expr.terms():
        acc = torch.ones((q.shape[0], hi - lo, k_view.shape[-2]), dtype=torch.bool)
        for prim in term:
            if prim.data_dependent:
                acc &= rows_rule(prim, qc, k_view)
            else:  # a structured part of a composite: its rows, from one (N, N) mask per pass
                if id(prim) not in run.structured:
                    run.structured[id(prim)] = torch.from_numpy(dense_mask(prim, max(run.n_total, s)))
                acc &= run.structured[id(prim)][s - t + lo : s - t + hi, : k_view.shape[-2]]
        keep[..., : k_view.shape[-2]] |= acc
    rows = torch.arange(lo, hi) + (s - t)
    keep &= torch.arange(s)[None, None, :] <= rows[None, :, None]
    empty = ~keep.any(-1)
    if bool(empty.any()):  # an empty row reads its own token (the lab's rule)
        h_idx, r_idx = empty.nonzero(as_tuple=True)
        keep[h_idx, r_idx, rows[r_idx]] = True
    return keep


def _selected_layer(run: LabPass, q, k, v, scaling, groups) -> torch.Tensor:
    """A data-dependent pattern's prefill in query chunks: each chunk scores its visible keys, keeps its choice
    and attends to it (masked SDPA), so at most (H, SELECT_CHUNK, S) is held."""
    heads, t, _ = q.shape
    keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
    values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
    out = torch.empty((heads, t, v.shape[-1]), dtype=q.dtype)
    for lo in range(0, t, SELECT_CHUNK):
        hi = min(t, lo + SELECT_CHUNK)
        keep = _selection(run, q, keys, lo, hi)
        out[:, lo:hi] = torch.nn.functional.scaled_dot_product_attention(
            q[None, :, lo:hi], keys[None], values[None], attn_mask=keep[None], scale=scaling
        )[0]
    return out


def _executed(keep: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """Pairs a block-sparse kernel computes: every (query block, key block) with a kept pair, edges clipped."""
    block = block or BLOCK
    t, s = keep.shape[-2:]
    tb, sb = -(-t // block), -(-s // block)
    padded = torch.zeros((*keep.shape[:-2], tb * block, sb * block), dtype=torch.bool)
    padded[..., :t, :s] = keep
    blocks = padded.reshape(*keep.shape[:-2], tb, block, sb, block).any(-1).any(-2)  # (..., tb, sb)
    heights = torch.full((tb,), block, dtype=torch.int64)
    heights[-1] = t - (tb - 1) * block
    widths = torch.full((sb,), block, dtype=torch.int64)
    widths[-1] = s - (sb - 1) * block
    return (blocks * heights[:, None] * widths[None, :]).sum((-1, -2))


def _pass_mask(run: LabPass, q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int) -> torch.Tensor:
    t, s = q.shape[-2], k.shape[-2]
    if run.shared is not None:
        return run.shared[s - t : s, :s]
    if t != s:  # queries after a cached prefix: head_masks reads square (T, T) only; the row rule has the offset
        keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
        chunks = [_selection(run, q, keys, lo, min(t, lo + SELECT_CHUNK)) for lo in range(0, t, SELECT_CHUNK)]
        return torch.cat(chunks, dim=1)
    if run.expr is None:
        raise PatternError("a sparse pass without a shared mask needs its pattern (expr)")
    return head_masks(run.expr, q, k, scaling, groups)


def _dense_layer(run: LabPass, q, keys, values, allowed, scaling, model_mask) -> torch.Tensor:
    """Dense attention in row chunks; each chunk's probabilities are reduced to mass kept per job."""
    heads, t, _ = q.shape
    s = keys.shape[-2]
    out = torch.empty((heads, t, values.shape[-1]), dtype=q.dtype)
    per_head = {j.key: head_masks(j.expr, q, keys, scaling, 1) for j in run.jobs if j.shared is None}
    mass = {j.key: torch.zeros((heads, t)) for j in run.jobs}
    changed = {j.key: torch.zeros((heads, t), dtype=torch.bool) for j in run.jobs}
    for lo in range(0, t, ROW_CHUNK):
        hi = min(t, lo + ROW_CHUNK)
        scores = torch.matmul(q[:, lo:hi], keys.transpose(-1, -2)) * scaling
        if model_mask is not None:
            chunk = model_mask[lo:hi]  # booleans (`dispatch.model_mask`) as eager_mask's additive floats
            chunk = torch.where(chunk, 0.0, torch.finfo(scores.dtype).min) if chunk.dtype == torch.bool else chunk
            scores = scores + chunk
        probs = torch.softmax(scores.float(), dim=-1)
        out[:, lo:hi] = torch.matmul(probs.to(values.dtype), values)
        ok = allowed[lo:hi]
        for j in run.jobs:
            m = (j.shared[lo:hi, :s] if j.shared is not None else per_head[j.key][:, lo:hi]) & ok
            mass[j.key][:, lo:hi] = (probs * m).sum(-1)
            changed[j.key][:, lo:hi] = (ok & ~m).any(-1)
    for j in run.jobs:
        j.mass.append(mass[j.key].mean(-1).numpy())
        c = changed[j.key]
        count = c.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            j.mass_changed.append(((mass[j.key] * c).sum(-1) / count).numpy())
    return out


def _blocks_attention(q, keys, values, keep, scaling) -> torch.Tensor:
    """Block-sparse execution: each query block reads only the key blocks where its mask keeps a pair."""
    heads, t, _ = q.shape
    s = keys.shape[-2]
    out = torch.zeros((heads, t, values.shape[-1]), dtype=q.dtype)
    for lo in range(0, t, BLOCK):
        hi = min(t, lo + BLOCK)
        rows = keep[..., lo:hi, :]  # (c, S) or (H, c, S)
        cols = rows.reshape(-1, s).any(0)
        kb = cols[: (s // BLOCK) * BLOCK].reshape(-1, BLOCK).any(-1).nonzero().flatten()
        idx = (kb[:, None] * BLOCK + torch.arange(BLOCK)).flatten()
        if s % BLOCK and bool(cols[(s // BLOCK) * BLOCK :].any()):
            idx = torch.cat([idx, torch.arange((s // BLOCK) * BLOCK, s)])
        sub = rows[..., idx]
        out[:, lo:hi] = torch.nn.functional.scaled_dot_product_attention(
            q[None, :, lo:hi], keys[None, :, idx], values[None, :, idx], attn_mask=sub, scale=scaling
        )[0]
    return out


def _sparse_layer(run: LabPass, q, key, value, allowed, scaling, groups) -> torch.Tensor:
    heads, t, _ = q.shape
    s = key.shape[-2]
    pattern = _pass_mask(run, q, key, scaling, groups) & allowed
    keep, empty = with_self(pattern, t, s)
    drops = (allowed & ~pattern).any(-1)
    drops = drops if drops.ndim == 1 else drops.any(0)
    run.changed = drops if run.changed is None else run.changed | drops
    run.kept.append(np.broadcast_to(pattern.sum((-1, -2)).numpy(), (heads,)).copy())
    run.executed.append(np.broadcast_to(_executed(keep).numpy(), (heads,)).copy())
    run.empty.append(np.broadcast_to(empty.sum(-1).numpy(), (heads,)).copy())
    if run.layer == 0:
        run.allowed_pairs = int(allowed.sum())
        run.allowed_executed = int(_executed(allowed))
    keys = key.repeat_interleave(groups, dim=0) if groups > 1 else key
    values = value.repeat_interleave(groups, dim=0) if groups > 1 else value
    method = run.method
    if method == "auto":
        share = float(run.executed[-1].sum()) / (run.allowed_executed * heads)
        method = "blocks" if share <= AUTO_BLOCKS_BELOW else "sdpa"
    if method == "blocks":
        return _blocks_attention(q, keys, values, keep, scaling)
    if method == "eager":
        scores = torch.matmul(q, keys.transpose(-1, -2)) * scaling
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        return torch.matmul(torch.softmax(scores, dim=-1), values)
    return torch.nn.functional.scaled_dot_product_attention(
        q[None], keys[None], values[None], attn_mask=keep, scale=scaling
    )[0]


def _decode_step(run: LabPass, q, key, value, scaling, groups) -> torch.Tensor:
    """One new token: gather only the cache positions its pattern row keeps, then attend to those."""
    s = key.shape[-2]
    position = s - 1
    if run.shared is None:  # data-dependent: the new query scores every cached key to choose what to read
        keys = key.repeat_interleave(groups, dim=0) if groups > 1 else key
        values = value.repeat_interleave(groups, dim=0) if groups > 1 else value
        keep = _selection(run, q, keys, 0, 1)  # (H, 1, S)
        if run.reads is not None:
            run.reads.append((run.layer, position, keep[:, 0].nonzero().tolist()))
        return torch.nn.functional.scaled_dot_product_attention(
            q[None], keys[None], values[None], attn_mask=keep[None], scale=scaling
        )[0]  # masked SDPA gives what a gather of the kept keys gives
    row = run.shared[position, :s]
    kept = row.nonzero().flatten()
    if kept.numel() == 0:
        kept = torch.tensor([position])
    if run.reads is not None:
        run.reads.append((run.layer, position, kept.tolist()))
    k = key.index_select(-2, kept)
    v = value.index_select(-2, kept)
    k = k.repeat_interleave(groups, dim=0) if groups > 1 else k
    v = v.repeat_interleave(groups, dim=0) if groups > 1 else v
    return torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], scale=scaling)[0]


class PeakRSS:
    """CPU seconds and the peak resident memory above the start of a block, sampled every `every` seconds.

    torch's CPU allocator keeps no statistics, so the process's RSS (/proc/self/statm) is sampled by
    a thread; the peak minus the RSS at the start is what the block added at its worst. Memory the
    allocator kept from earlier work and reused is not counted (a lower bound, within a sample)."""

    def __init__(self, every: float = 0.002):
        self.every = every
        self.cpu_seconds = 0.0
        self.peak_bytes = 0
        self._start = self._peak = 0
        self._cpu = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        """Resident bytes of this process now (0 where /proc is missing)."""
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * PAGE
        except OSError:
            return 0

    def peak_so_far(self) -> int:
        """The peak above the start that the sampling thread has seen up to now (inside the block)."""
        return max(0, self._peak - self._start)

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self._peak = max(self._peak, self.rss())

    def __enter__(self) -> PeakRSS:
        self._start = self._peak = self.rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu_seconds = time.process_time() - self._cpu
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self.rss())
        self.peak_bytes = max(0, self._peak - self._start)


def kv_cache_bytes(lm: LoadedModel, positions: int) -> int:
    """Bytes of keys and values a decoder holds for `positions` cached tokens (all layers, KV heads, fp32)."""
    config: Any = getattr(lm.model, "config", None)
    heads = int(getattr(config, "num_attention_heads", lm.heads))
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return int(lm.layers * 2 * kv_heads * head_dim * 4 * positions)


@torch.inference_mode()
def run_pass(lm: LoadedModel, ids: list[int], run: LabPass) -> torch.Tensor:
    """The model's final hidden states (T, D) under the lab pass `run`."""
    with MODEL_LOCK:
        dispatch.use(lm.model)
        with dispatch.running(run):
            out = lm.model.base_model(input_ids=torch.tensor([ids]), use_cache=False)
    if run.layer != lm.layers:
        raise PatternError(
            f"{type(lm.model).__name__} ran {run.layer} attention layers through the lab, expected {lm.layers}: "
            "it does not route attention through transformers' AttentionInterface"
        )
    return out.last_hidden_state[0].float()


@dataclass
class DensePass:
    """What the lab keeps of the dense pass: final hidden states and next-token statistics."""

    hidden: torch.Tensor  # (T, D)
    logp_next: np.ndarray | None  # (T - 1,)
    argmax: np.ndarray | None  # (T,)
    seconds: float


def ids_hash(ids: Sequence[int]) -> str:
    """Short stable hash of token ids (cache keys)."""
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:24]


_DENSE: OrderedDict = OrderedDict()
_DENSE_SIZE = 2


def dense_pass(lm: LoadedModel, ids: list[int], jobs: list[Job], stop: Callable[[], bool] | None = None) -> DensePass:
    """The dense pass, once per (model, text); jobs get their mass kept as the layers run. `stop` is the
    pass's after-every-layer hook (`LabPass.stop`): the Lab page reports progress layer by layer with it."""
    key = (lm.info.key, id(lm.model), ids_hash(ids))
    cached = _DENSE.get(key)
    if cached is not None and not jobs:
        return cached
    start = time.perf_counter()
    hidden = run_pass(lm, ids, LabPass("dense", jobs=jobs, stop=stop))
    if cached is not None:
        return cached
    logp = argmax = None
    if lm.info.causal:
        logp, argmax, _ = next_token_stats(lm, hidden, ids)
    result = DensePass(hidden, logp, argmax, time.perf_counter() - start)
    _DENSE[key] = result
    while len(_DENSE) > _DENSE_SIZE:
        _DENSE.popitem(last=False)
    return result


_PLAIN: OrderedDict = OrderedDict()


def plain_dense_cost(lm: LoadedModel, ids: list[int], stop: Callable[[], bool] | None = None) -> tuple[float, int]:
    """(CPU seconds, peak bytes) of one plain dense prefill (fused SDPA, nothing measured), once per text.

    What a sparse pass is compared with: the dense pass of the lab also reduces probabilities to mass
    kept per mask, which a deployed dense model never does."""
    key = (lm.info.key, id(lm.model), ids_hash(ids))
    if key not in _PLAIN:
        with PeakRSS() as cost:
            run_pass(lm, ids, LabPass("dense", jobs=[], stop=stop))  # stop: as in dense_pass
        _PLAIN[key] = (cost.cpu_seconds, cost.peak_bytes)
        while len(_PLAIN) > _DENSE_SIZE:
            _PLAIN.popitem(last=False)
    return _PLAIN[key]


def clear_dense() -> None:
    """Forget the cached dense passes."""
    _DENSE.clear()
    _PLAIN.clear()
