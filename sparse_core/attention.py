"""The inspector's comparison of a model's dense and sparse attention on one text, built from named passes and metrics.

`compare` runs `passes.dense_run` (cached: it depends on model and text only), chooses each
layer's mask with `head_masks` (structured patterns once, data-dependent ones per head from that
head's own q/k of the dense pass, as an oracle selector in the model would see them), measures each
layer against its dense pass with `metrics.layer_stats`, runs `passes.masked_pass` with those masks
and reduces both passes with the functions in `metrics`. All of it goes through the one registered
attention function of `dispatch`, so nothing is model-specific: no hooks, no RoPE re-application,
no hand-made 4-D masks.

Metrics never count what the pattern did not choose: a row that the pattern leaves empty keeps
the token itself (a softmax over nothing is undefined), is counted in `empty_rows`, and that
substituted diagonal is not counted as kept.

The names pages, tests and benchmarks imported from here before the split (tokenize, forward,
HeadMaps, thumbnails, selection rules, metrics ...) are re-exported below.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import metrics
from .dispatch import IMPLEMENTATION
from .dispatch import use as use_sparse_attention
from .head_masks import head_mask
from .headmaps import THUMB, HeadMaps, LayerRecord, thumbnails
from .metrics import LayerStats, cosine_rows, layer_stats, mass_kept, perplexity
from .models import LoadedModel
from .params import PatternError
from .passes import (
    DENSE_CACHE_BYTES,
    DENSE_CACHE_SIZE,
    Forward,
    additive_mask,
    dense_cached,
    dense_run,
    forward,
    forward_bytes,
    head_qk,
    masked_pass,
)
from .patterns.base import Expr
from .selection import SELECTION_RULES, causal_variant, rules, selection_rule, variant_name
from .tokens import DISPLAY_LIMIT, MAX_DISPLAY_LIMIT, Tokens, _visible, tokenize

__all__ = [
    "DENSE_CACHE_BYTES", "DENSE_CACHE_SIZE", "DISPLAY_LIMIT", "IMPLEMENTATION", "MAX_DISPLAY_LIMIT",
    "SELECTION_RULES", "THUMB", "Comparison", "Forward", "HeadMaps", "LayerRecord", "LayerStats", "Tokens",
    "_visible", "additive_mask", "causal_variant", "compare", "cosine_rows", "dense_run", "forward",
    "forward_bytes", "mass_kept", "perplexity", "selection_rule", "thumbnails", "tokenize", "use_sparse_attention",
]  # fmt: skip


# -- the comparison ----------------------------------------------------------------------------
@dataclass
class Comparison:
    """Dense vs sparse on one text: masks, per-head summaries and every metric the page shows."""

    tokens: Tokens
    keep: np.ndarray  # (T, T) mask applied to the selected head: pattern ∩ model mask, empty rows keep self
    dense: Forward
    sparse: Forward
    mass_kept: np.ndarray  # (L, H): mean over all rows of dense attention mass inside the pattern
    cosine: np.ndarray  # (T,) cosine similarity of final hidden states, dense vs sparse
    agreement: float | None  # causal LMs: share of positions whose next-token argmax agrees
    perplexity_dense: float | None
    perplexity_sparse: float | None
    qk_source: tuple[int, int] | None  # (layer, head) whose own mask `keep` shows, for data-dependent patterns
    rows_fixed: int  # rows of `keep` the pattern left empty; they keep themselves and count as not kept
    # -- added: honest numbers --------------------------------------------------------------------
    keep_pattern: np.ndarray | None = None  # (T, T) `keep` without the substituted diagonals
    fixed_rows: np.ndarray | None = None  # indices of the rows of `keep` that were empty
    per_head: bool = False  # data-dependent: each (layer, head) has its own mask
    empty_rows: np.ndarray | None = None  # (L, H) empty rows per head
    changed_rows: np.ndarray | None = None  # (T,) rows where the pattern drops a key in some layer/head
    mass_kept_changed: np.ndarray | None = None  # (L, H) mean over the rows that head's pattern changes (nan: none)
    mass_kept_all_mean: float = float("nan")  # mean over every (layer, head, row)
    mass_kept_changed_mean: float = float("nan")  # mean over changed (layer, head, row) only
    cosine_changed_mean: float = float("nan")  # mean over changed rows (nan: none changed)
    agreement_changed: float | None = None  # next-token agreement over changed rows
    density: float = float("nan")  # kept pairs / pairs the model could attend (causal triangle for LMs)
    density_raw: float = float("nan")  # kept pairs / T²
    density_heads: np.ndarray | None = None  # (L, H) density relative to what the model could attend
    kept_pairs: int = 0  # summed over layers and heads, substituted diagonals excluded
    allowed_pairs: int = 0
    entropy: np.ndarray | None = None  # (L, H) dense mean row entropy in bits
    thumbs_dense: np.ndarray | None = None  # (L, H, s, s)
    thumbs_sparse: np.ndarray | None = None
    selection_rule: str | None = None  # one sentence, data-dependent patterns only
    variant: str | None = None  # e.g. "vertical-slash: causal estimate"
    dense_cached: bool = False
    seconds: dict = field(default_factory=dict)  # dense, masks, sparse
    layer_masks: list | None = field(default=None, repr=False)  # per layer: (T, T) bool or packed (H, T, T/8)
    empty: np.ndarray | None = field(default=None, repr=False)  # (L, H, T) rows each head's pattern left empty

    def head_mask(self, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
        """(applied (T, T) mask, indices of its empty rows) of any head, without another pass."""
        if self.layer_masks is None or self.empty is None:
            raise PatternError("this comparison kept no per-layer masks")
        n = self.keep.shape[-1]
        m = self.layer_masks[layer]
        if isinstance(m, torch.Tensor):
            m = m.numpy()
        applied = np.unpackbits(m[head], axis=-1, count=n).astype(bool) if m.dtype == np.uint8 else m
        return applied, np.flatnonzero(self.empty[layer, head])


def _layer_patterns(expr: Expr, dense: Forward, n: int) -> list[LayerStats]:
    """Each layer's pattern (shared, or per head from that head's dense q/k) measured against the dense pass."""
    structured: dict = {}
    if not expr.data_dependent:
        shared = torch.from_numpy(head_mask(expr, n, None, None, structured))  # (T, T)
        return [layer_stats(rec, shared) for rec in dense.layers]
    out = []
    for rec in dense.layers:
        # a uniform rescale of q makes q·k/√d equal the model's own scores (rankings are unchanged)
        # contiguous copies: the model hands over transposed views
        q = np.ascontiguousarray((rec.q.float() * (rec.scaling * rec.q.shape[-1] ** 0.5)).numpy())
        k = np.ascontiguousarray(rec.k.float().numpy())
        kv = np.ascontiguousarray(k[np.arange(q.shape[0]) // rec.groups])  # (H, n, d): head h reads h // groups
        out.append(layer_stats(rec, torch.from_numpy(head_mask(expr, n, q, kv, structured))))  # (H, T, T)
    return out


def compare(lm: LoadedModel, tokens: Tokens, expr: Expr, qk_source: tuple[int, int] = (0, 0)) -> Comparison:
    """Dense and sparse passes of the model on the tokens, with every metric the inspector shows."""
    n = len(tokens.ids)
    if lm.info.causal:
        expr = causal_variant(expr)  # next-token logits must not depend on later tokens
    layer_sel, head_sel = qk_source
    if not (0 <= layer_sel < lm.layers and 0 <= head_sel < lm.heads):
        raise PatternError(f"layer {layer_sel}, head {head_sel} is outside the model ({lm.layers}×{lm.heads})")
    start = time.perf_counter()
    cached = dense_cached(lm, tokens.ids)
    dense = dense_run(lm, tokens.ids)
    t_dense = time.perf_counter() - start

    start = time.perf_counter()
    stats = _layer_patterns(expr, dense, n)
    t_masks = time.perf_counter() - start

    masks = [s.applied for s in stats]
    packed = None
    if expr.data_dependent:  # per-head masks: keep them packed for the on-demand sparse maps
        packed = [np.packbits(m.numpy(), axis=-1) for m in masks]
    start = time.perf_counter()
    sparse = masked_pass(lm, tokens.ids, masks, keep_logits=False, packed=packed)
    t_sparse = time.perf_counter() - start

    mass = np.stack([s.mass for s in stats])  # (L, H, T)
    changed = np.stack([s.changed for s in stats])  # (L, H, T)
    empty = np.stack([s.empty for s in stats])  # (L, H, T)
    kept = np.stack([s.kept for s in stats])  # (L, H)
    allowed = np.array([s.allowed for s in stats])  # (L,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass_changed = (mass * changed).sum(-1) / changed.sum(-1)
    sel = stats[layer_sel]
    applied = sel.applied if sel.applied.ndim == 2 else sel.applied[head_sel]
    pattern = sel.pattern if sel.pattern.ndim == 2 else sel.pattern[head_sel]
    fixed = np.flatnonzero(empty[layer_sel, head_sel])
    rows_changed: np.ndarray = np.asarray(changed.any(axis=(0, 1)))
    cosine = cosine_rows(dense.hidden, sparse.hidden)

    agreement = agreement_changed = ppl_d = ppl_s = None
    if (
        lm.info.causal
        and dense.argmax is not None
        and sparse.argmax is not None
        and dense.logp_next is not None
        and sparse.logp_next is not None
    ):
        agreement = metrics.agreement(dense.argmax, sparse.argmax)
        agreement_changed = metrics.agreement(dense.argmax, sparse.argmax, rows_changed)
        ppl_d = metrics.perplexity_from_logp(dense.logp_next)
        ppl_s = metrics.perplexity_from_logp(sparse.logp_next)
    dense = dataclasses.replace(dense, queries=None, keys=None)  # the cached pass is shared: never mutate it
    dense.queries, dense.keys = head_qk(dense, layer_sel, head_sel)
    sparse.queries, sparse.keys = head_qk(sparse, layer_sel, head_sel)
    data_dependent = expr.data_dependent
    return Comparison(
        tokens,
        applied.numpy(),
        dense,
        sparse,
        mass.mean(-1),
        cosine,
        agreement,
        ppl_d,
        ppl_s,
        (layer_sel, head_sel) if data_dependent else None,
        int(len(fixed)),
        keep_pattern=pattern.numpy(),
        fixed_rows=fixed,
        per_head=data_dependent,
        empty_rows=empty.sum(-1),
        changed_rows=rows_changed,
        mass_kept_changed=mass_changed,
        mass_kept_all_mean=float(mass.mean()),
        mass_kept_changed_mean=metrics.mean_over(mass, changed),
        cosine_changed_mean=metrics.mean_over(cosine, rows_changed),
        agreement_changed=agreement_changed,
        density=float(kept.sum() / (allowed.sum() * lm.heads)),
        density_raw=float(kept.sum() / (kept.size * n * n)),
        density_heads=kept / allowed[:, None],
        kept_pairs=int(kept.sum()),
        allowed_pairs=int(allowed.sum() * lm.heads),
        entropy=dense.entropy,
        thumbs_dense=dense.thumbs,
        thumbs_sparse=sparse.thumbs,
        selection_rule=rules(expr),
        variant=variant_name(expr),
        dense_cached=cached,
        layer_masks=packed or masks,
        empty=empty,
        seconds={"dense": t_dense, "masks": t_masks, "sparse": t_sparse},
    )
