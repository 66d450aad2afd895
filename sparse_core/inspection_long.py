"""The Inspector past its full maps (512 tokens) up to the model's context, with every (n, n) object bounded.

`inspection.inspect_text` comes here when a text has more than `LONG_FROM` tokens. The question is
the same (what does the pattern change in this model's attention on this text?) and the answer has
the same shape (`LongInspection` offers what `inspection.Inspection` offers to the page), but no
per-head (n, n) map is ever held. The bounds, stated once (n tokens, L layers, H heads, Hkv key/value
heads, d head size, C = `ROWS`):

- **Maps.** Each pass keeps every layer's rotated q and k in float16: 2 · L · (H + Hkv) · n · d bytes
  per pass (SmolLM2 at 8,192 tokens: 377 MB per pass, 755 MB both), linear in n. A data-dependent
  pattern's sparse pass keeps them in float32 instead (754 MB; 1.13 GB both): the maps re-choose each
  head's keys from exactly the floats the pass chose from, so they show the keys it read (float16 q/k
  chose other keys at near-ties). `held_bytes` states it. One head's map is
  recomputed from them on demand, C query rows at a time ((C, n) float32), and pooled by block mean
  to at most `MAP_SIDE` × `MAP_SIDE` (block means keep a row's mass and make the difference map the
  pooling of the difference). One query row (the token view) is recomputed exactly the same way.
- **Dense pass.** Each layer's probabilities exist C rows at a time ((H, C, n) float32: 38 MB for
  SmolLM2 at 8,192) and are reduced at once to mass kept, changed rows, entropy and thumbnails,
  in float32 from the model's own q and k (the numbers are exact; only the maps read float16).
- **Pattern.** Structured: one shared (n, n) bool (64 MB at 8,192), as the Lab holds. Data-dependent
  (`head_masks.RowMasks`, `head_masks`'s choice per head from that layer's float32 q and k): top-k is
  chosen C rows at a time, (H, C, n) scores and bools, never (H, n, n); a rule that reads every token at
  once (LSH, routing, block gating, vertical-slash) is built one head's (n, n) bool at a time and kept
  packed to bits for the layer, H · n² / 8 bytes (75 MB for SmolLM2 at 8,192), plus a structured part's
  shared (n, n) bool. One head's maps hold that head's packed bits (n² / 8) and reuse them per row.
- **Sparse pass.** Structured patterns: the Lab's `LabPass("sparse", method="auto")` through
  `lab_passes.run_pass`: patterns that skip half of the blocks run block-gathered (each query block
  reads only its kept key blocks), others through masked SDPA. Data-dependent patterns choose from the
  sparse pass's own q and k, as a deployed sparse model would, C rows at a time (masked SDPA per
  chunk, the bounds above); the dense-side numbers (mass kept, density, empty rows) use the choice made
  from the dense pass's q and k, as at 512 tokens and below.

Both passes report progress per layer and stop between layers when `stop()` says so
(`lab_passes.PassCancelledError`). The price comes before the work (`price_inspection`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import lab_price, metrics
from .head_masks import RowMasks, allowed, selection_inputs
from .headmaps import THUMB
from .lab_passes import LabPass, PassCancelledError, run_pass
from .models import LoadedModel
from .params import PatternError
from .patterns.base import Expr
from .selection import causal_variant
from .tokens import MAX_DISPLAY_LIMIT, Tokens

LONG_FROM = MAX_DISPLAY_LIMIT  # above this many tokens, maps are pooled and nothing (n, n) per head is kept
MAP_SIDE = 512  # pooled maps are at most MAP_SIDE × MAP_SIDE blocks (for display)
ROWS = 128  # query rows whose probabilities exist at once (per head, or per layer in the dense pass)
VIEWS = 4  # head views a result keeps (each ≤ 2 · MAP_SIDE² float32 maps, plus n² / 8 bytes of packed selection)
Progress = Callable[[int, int, str], Any]

__all__ = [
    "LONG_FROM", "MAP_SIDE", "ROWS", "LongHeadView", "LongInspection", "PassCancelledError", "held_bytes",
    "inspect_long", "pool_mean", "price_inspection", "token_choices",
]  # fmt: skip


SHORT_CHOICES = (32, 64, 128, 256, 384, 512)  # token counts offered up to LONG_FROM


def token_choices(context: int, cap: int) -> list[int]:
    """Token counts to offer for a model of `context` tokens under a deployment cap: the short steps, then
    doubling (1,024, 2,048, …) up to the smaller of the two, which is always offered itself."""
    top = max(2, min(int(context), int(cap)))
    ladder = set(SHORT_CHOICES)
    step = 2 * LONG_FROM
    while step < top:
        ladder.add(step)
        step *= 2
    return sorted({x for x in ladder if x <= top} | {top})


def edges(n: int, side: int = MAP_SIDE) -> np.ndarray:
    """Block edges of an n-long axis pooled to min(side, n) blocks (as even as integers allow)."""
    return np.linspace(0, n, min(side, n) + 1).round().astype(np.int64)


def pool_mean(full: np.ndarray, side: int = MAP_SIDE) -> np.ndarray:
    """(T, S) -> block means (≤ side, ≤ side), the blocks of `edges`: what `LongHeadView` shows, from a whole map."""
    r, c = edges(full.shape[0], side), edges(full.shape[1], side)
    sums = np.add.reduceat(np.add.reduceat(np.asarray(full, dtype=np.float64), r[:-1], axis=0), c[:-1], axis=1)
    return (sums / np.outer(np.diff(r), np.diff(c))).astype(np.float32)


def _check_mask(attention_mask: torch.Tensor | None, t: int, s: int) -> bool:
    """Whether the model's mask is exactly causal (True) or lets every query see every key (False);
    anything else (padding, a sliding window) is refused.

    The pooled maps are recomputed later from q and k alone, so the model's mask must be one the
    engine can rebuild from n. Compared a chunk of rows at a time (no (n, n) comparison held)."""
    if attention_mask is None:
        return False
    cols = torch.arange(s)
    causal = full = True
    for lo in range(0, t, 1024):
        hi = min(t, lo + 1024)
        ok = allowed(attention_mask[..., lo:hi, :], hi - lo, s)
        causal = causal and torch.equal(ok, cols[None, :] <= torch.arange(s - t + lo, s - t + hi)[:, None])
        full = full and bool(ok.all())
    if causal or full:
        return causal
    raise PatternError(
        f"past {LONG_FROM} tokens the inspector reads models whose own mask is causal or none; "
        "this model's mask is neither (padding or a sliding window)"
    )


@dataclass
class _Layer:
    q: torch.Tensor  # (H, n, d) float16 (float32: a data-dependent pattern's sparse pass)
    k: torch.Tensor  # (Hkv, n, d) float16 (likewise)
    scaling: float


def _fix_empty(keep: torch.Tensor, lo: int, offset: int = 0) -> torch.Tensor:
    """`keep` (H, c, S) with each empty row's own token (query lo + r is key lo + r + offset) kept: the Lab's rule."""
    empty = ~keep.any(-1)
    if bool(empty.any()):
        h_idx, r_idx = empty.nonzero(as_tuple=True)
        keep[h_idx, r_idx, r_idx + lo + offset] = True
    return keep


class _DenseLong:
    """The dense pass: fused-free attention in row chunks, reduced at once to every number the page shows."""

    boolean_mask = True  # the model's mask arrives as (n, n) booleans, not float32 (`dispatch.model_mask`)

    def __init__(self, expr: Expr, shared: torch.Tensor | None, stop, progress):
        self.expr, self.shared, self.stop, self.progress = expr, shared, stop, progress
        self.records: list[_Layer] = []
        self.causal: bool | None = None
        self.mass: list[np.ndarray] = []  # per layer (H, n): dense mass inside the pattern ∩ allowed
        self.changed: list[np.ndarray] = []  # per layer (H, n): the pattern drops an allowed key
        self.empty: list[np.ndarray] = []  # per layer (H, n): the pattern keeps no allowed key
        self.kept: list[np.ndarray] = []  # per layer (H,) kept pairs (pattern ∩ allowed)
        self.entropy: list[np.ndarray] = []  # per layer (H,) mean row entropy in bits
        self.thumbs: list[np.ndarray] = []  # per layer (H, s, s) max-pooled
        self.allowed_pairs = 0
        self.layer = 0  # layers run so far (run_pass checks the count)

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        if query.shape[0] != 1:
            raise PatternError("the inspector reads one text at a time (batch size 1)")
        if kwargs.get("softcap"):
            raise PatternError(f"past {LONG_FROM} tokens, models with attention soft-capping are not supported")
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        q, k, v = query[0], key[0], value[0]
        heads, t, _ = q.shape
        s, groups = k.shape[-2], q.shape[0] // k.shape[0]
        if self.causal is None:
            self.causal = _check_mask(attention_mask, t, s)
        self.records.append(_Layer(q.to(torch.float16), k.to(torch.float16), float(scaling)))
        keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
        values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
        per_head = None if self.shared is not None else RowMasks(self.expr, *selection_inputs(q, k, scaling, groups))
        out = torch.empty((heads, t, v.shape[-1]), dtype=q.dtype)
        mass, changed, empty = (np.zeros((heads, t), dtype=x) for x in (np.float32, bool, bool))
        kept, ent = np.zeros(heads, dtype=np.int64), np.zeros(heads)
        e = edges(s, THUMB)
        thumbs = np.zeros((heads, len(e) - 1, len(e) - 1), dtype=np.float32)
        row_bin = np.searchsorted(e, np.arange(t), side="right") - 1
        allowed_pairs = 0
        for lo in range(0, t, ROWS):
            hi = min(t, lo + ROWS)
            width = s - t + hi if self.causal else s  # keys after the chunk's last query are masked anyway
            ok = torch.ones((hi - lo, width), dtype=torch.bool)
            if self.causal:
                ok = torch.arange(width)[None, :] <= torch.arange(s - t + lo, s - t + hi)[:, None]
            sc = torch.matmul(q[:, lo:hi].float(), keys[:, :width].float().transpose(-1, -2)) * scaling
            p = torch.softmax(sc.masked_fill(~ok, -torch.inf), dim=-1)  # (H, c, width)
            out[:, lo:hi] = torch.matmul(p.to(values.dtype), values[:, :width])
            pat = self.shared[lo:hi, :width] if per_head is None else per_head.rows(lo, hi)[..., :width]
            m = pat & ok
            mass[:, lo:hi] = (p * m).sum(-1).numpy()
            changed[:, lo:hi] = (ok & ~m).any(-1).numpy()
            empty[:, lo:hi] = (~m.any(-1)).numpy()
            kept += np.broadcast_to(m.sum((-1, -2)).numpy(), (heads,))
            allowed_pairs += int(ok.sum())
            ent += (-(p * torch.log2(p.clamp_min(1e-12))).sum(-1)).sum(-1).double().numpy()
            pn = p.numpy()
            cols = np.maximum.reduceat(pn, e[:-1][e[:-1] < width], axis=-1)  # (H, c, bins reached)
            bins = row_bin[lo:hi]
            for b in np.unique(bins):
                rows = cols[:, bins == b].max(1)
                thumbs[:, b, : rows.shape[-1]] = np.maximum(thumbs[:, b, : rows.shape[-1]], rows)
        self.mass.append(mass)
        self.changed.append(changed)
        self.empty.append(empty)
        self.kept.append(kept)
        self.entropy.append(ent / t)
        self.thumbs.append(thumbs)
        self.allowed_pairs = allowed_pairs
        self.layer += 1
        self.progress(self.layer, "dense")
        if self.stop is not None and self.stop():
            raise PassCancelledError(f"stopped after layer {len(self.records)}")
        return out.transpose(0, 1)[None].contiguous(), None


@dataclass
class _SparseLong(LabPass):
    """The sparse pass, recording each layer's q and k for the pooled maps: float16 and the Lab's pass for a
    structured pattern; float32 and a selection C rows at a time for a data-dependent one."""

    records: list = field(default_factory=list)
    tick: Callable[[int], Any] | None = None

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        scale = query.shape[-1] ** -0.5 if scaling is None else float(scaling)
        if self.shared is not None:
            self.records.append(_Layer(query[0].to(torch.float16), key[0].to(torch.float16), scale))
            out = super().attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
        else:
            out = self._selected(query, key, value, attention_mask, scale, kwargs)
        if self.tick is not None:
            self.tick(self.layer)
        return out

    def _selected(self, query, key, value, attention_mask, scaling: float, kwargs):
        """One layer of a data-dependent pattern: each ROWS-row chunk chooses its keys and attends to them
        (masked SDPA), so nothing (H, n, n) exists; the maps later choose again from the same float32 q/k
        in the same chunks (`LongInspection._head_rows`), which gives the same keys."""
        if query.shape[0] != 1:
            raise PatternError("the inspector reads one text at a time (batch size 1)")
        if kwargs.get("softcap"):
            raise PatternError(f"past {LONG_FROM} tokens, models with attention soft-capping are not supported")
        assert self.expr is not None
        q, k, v = query[0], key[0], value[0]
        self.records.append(_Layer(q.float(), k.float(), scaling))
        heads, t, _ = q.shape
        s, groups = k.shape[-2], q.shape[0] // k.shape[0]
        keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
        values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
        masks = RowMasks(self.expr, *selection_inputs(q, k, scaling, groups))
        out = torch.empty((heads, t, v.shape[-1]), dtype=q.dtype)
        for lo in range(0, t, ROWS):
            hi = min(t, lo + ROWS)
            ok = allowed(None if attention_mask is None else attention_mask[..., lo:hi, :], hi - lo, s)
            keep = _fix_empty(masks.rows(lo, hi) & ok, lo, s - t)
            out[:, lo:hi] = torch.nn.functional.scaled_dot_product_attention(
                q[None, :, lo:hi], keys[None], values[None], attn_mask=keep[None], scale=scaling
            )[0]
        self.layer += 1
        if self.stop is not None and self.stop():
            raise PassCancelledError(f"stopped after layer {self.layer}")
        return out.transpose(0, 1)[None].contiguous(), None


def held_bytes(layers: int, heads: int, kv_heads: int, head_dim: int, n: int, data_dependent: bool = False) -> int:
    """Bytes a long inspection keeps for its maps: both passes' q and k, float16 (the sparse pass's in float32
    for a data-dependent pattern: the maps re-choose from exactly what the pass chose from)."""
    per_pass = layers * (heads + kv_heads) * n * head_dim
    return per_pass * 2 + per_pass * (4 if data_dependent else 2)


@dataclass(frozen=True)
class LongHeadView:
    """One head at long n: dense, sparse and mask pooled by block mean to ≤ MAP_SIDE², and exact rows on demand."""

    layer: int
    head: int
    dense: np.ndarray  # float32 (P, P) block means of the dense map
    sparse: np.ndarray  # float32 (P, P) block means of the sparse map
    # uint8 (P, P): 1 a kept pair in the block, 0 allowed pairs only dropped, 2 none allowed, 3 no kept pair
    # but an empty row's own token (what it reads instead: `inspection.mask_states`'s code)
    states: np.ndarray
    empty_rows: np.ndarray  # indices of the rows the pattern left empty in this head
    mass_kept: float
    edges: np.ndarray  # (P + 1,) block edges in tokens
    owner: LongInspection = field(repr=False)
    masks: RowMasks | None = field(default=None, repr=False)  # this head's selection (data-dependent), reused by row()

    @property
    def pooled(self) -> bool:
        """Whether a block spans several tokens."""
        return bool((np.diff(self.edges) > 1).any())

    def axis_labels(self, labels: list[str]) -> list[str]:
        """A block's axis label: its first token's label, or "#a–b" when a block spans several tokens."""
        e = self.edges
        return [labels[a] if b - a == 1 else f"#{a}–{b - 1}" for a, b in zip(e[:-1], e[1:], strict=True)]

    def row(self, query: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dense weights, sparse weights, keys read) of one query token, from the stored q and k (float16
        weights); the keys are the ones the sparse pass read. Costs one ROWS-row chunk of the pattern, never
        (n, n): the head's selection (`masks`) is kept with this view."""
        n = self.owner.n
        if not 0 <= query < n:
            raise PatternError(f"token {query} is outside the text (0 … {n - 1})")
        lo = query - query % ROWS  # the chunk the pass chose this row in
        pattern = self.owner._pattern_rows(self.masks, lo, min(n, lo + ROWS))[query - lo : query - lo + 1]
        d, sp, _, keep = self.owner._rows(self.layer, self.head, query, query + 1, pattern)
        return d[0], sp[0], keep[0]


@dataclass
class LongInspection:
    """What `inspection.Inspection` offers the page, at n > LONG_FROM, holding only q/k and per-head numbers."""

    model: str
    pattern: str
    params: dict[str, Any]
    causal: bool
    layers: int
    heads: int
    tokens: Tokens
    summary: Any  # inspection.Summary
    selection: tuple[str, ...]
    mass_kept: np.ndarray  # (L, H)
    thumbnails: np.ndarray  # (L, H, s, s)
    columns: dict[str, np.ndarray]
    seconds: dict
    expr: Expr = field(repr=False)
    shared: torch.Tensor | None = field(repr=False)
    dense_layers: list = field(repr=False)
    sparse_layers: list = field(repr=False)
    empty: np.ndarray = field(repr=False)  # (L, H, n) bool
    long: bool = True
    # the last VIEWS head views: the page redraws a head on every token, scale or toggle change, and one
    # costs ~1 CPU-s at 8,192 tokens (a data-dependent head's selection with it); shared by the sessions
    _views: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _views_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n(self) -> int:
        return len(self.tokens.ids)

    def table(self) -> dict[str, np.ndarray]:
        """One row per (layer, head), as `Inspection.table`."""
        return dict(self.columns)

    def _head_masks(self, layer: int, head: int) -> RowMasks | None:
        """This head's selection (data-dependent; None: structured, the shared mask), from the sparse pass's
        float32 q and k: the floats the pass chose from, so `_pattern_rows` gives the keys it read."""
        if self.shared is not None:
            return None
        rec = self.sparse_layers[layer]
        groups = rec.q.shape[0] // rec.k.shape[0]
        q, k = rec.q[head : head + 1], rec.k[head // groups : head // groups + 1]
        return RowMasks(self.expr, *selection_inputs(q, k, rec.scaling, 1))

    def _pattern_rows(self, masks: RowMasks | None, lo: int, hi: int) -> torch.Tensor:
        """(hi - lo, n) bool: the pattern's rows lo:hi in one head (lo on a ROWS boundary, as the pass chose)."""
        if masks is None:
            assert self.shared is not None
            return self.shared[lo:hi]
        return masks.rows(lo, hi)[0]

    def _probs(self, rec: _Layer, head: int, lo: int, hi: int, keep: torch.Tensor | None) -> np.ndarray:
        n = self.n
        groups = rec.q.shape[0] // rec.k.shape[0]
        sc = torch.matmul(rec.q[head, lo:hi].float(), rec.k[head // groups].float().T) * rec.scaling
        if self.causal:
            sc = sc.masked_fill(torch.arange(n)[None, :] > torch.arange(lo, hi)[:, None], -torch.inf)
        if keep is not None:
            sc = sc.masked_fill(~keep, -torch.inf)
        return torch.softmax(sc, dim=-1).numpy()

    def _rows(
        self, layer: int, head: int, lo: int, hi: int, pattern_rows: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense rows, sparse rows, the pattern ∩ model and the applied mask (empty rows keep themselves) of
        lo:hi, given the pattern's rows lo:hi."""
        n = self.n
        ok = torch.ones((hi - lo, n), dtype=torch.bool)
        if self.causal:
            ok = torch.arange(n)[None, :] <= torch.arange(lo, hi)[:, None]
        pattern = pattern_rows & ok
        keep = _fix_empty(pattern.clone()[None], lo)[0]
        dense = self._probs(self.dense_layers[layer], head, lo, hi, None)
        sparse = self._probs(self.sparse_layers[layer], head, lo, hi, keep)
        return dense, sparse, pattern.numpy(), keep.numpy()

    def head(self, layer: int, head: int, side: int = MAP_SIDE, start: int = 0) -> LongHeadView:
        """One head's maps pooled to ≤ side² over tokens start… (1: without the first token's row and column,
        not its whole block), computed ROWS query rows at a time from the stored q/k. The last `VIEWS` views
        are kept: asking again costs nothing, and `row` reuses the view's selection."""
        if not (0 <= layer < self.layers and 0 <= head < self.heads):
            raise PatternError(f"layer {layer}, head {head} is outside the model ({self.layers}×{self.heads})")
        if not 0 <= start < self.n:
            raise PatternError(f"the maps start at token {start}, outside the text (0 … {self.n - 1})")
        key = (layer, head, side, start)
        with self._views_lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        view = self._head(layer, head, side, start)
        with self._views_lock:
            self._views[key] = view
            while len(self._views) > VIEWS:
                self._views.popitem(last=False)
        return view

    def _head(self, layer: int, head: int, side: int, start: int) -> LongHeadView:
        n = self.n
        e = start + edges(n - start, side)
        p = len(e) - 1
        row_bin = np.searchsorted(e, np.arange(n), side="right") - 1
        dense, sparse = np.zeros((p, p)), np.zeros((p, p))
        kept, allow = np.zeros((p, p), dtype=np.int64), np.zeros((p, p), dtype=np.int64)
        own = np.zeros((p, p), dtype=np.int64)  # empty rows' own tokens (read, but not kept by the pattern)
        masks = self._head_masks(layer, head)
        for lo in range(0, n, ROWS):  # on ROWS boundaries whatever `start` is: the chunks the pass chose in
            hi = min(n, lo + ROWS)
            if hi <= start:
                continue
            d, sp, pattern, keep = self._rows(layer, head, lo, hi, self._pattern_rows(masks, lo, hi))
            ok = (
                np.ones((hi - lo, n), dtype=bool)
                if not self.causal
                else np.arange(n)[None, :] <= np.arange(lo, hi)[:, None]
            )
            first = max(start - lo, 0)  # rows before `start` are left out (row_bin is -1 there)
            bins = row_bin[lo + first : hi]
            for src, acc in ((d, dense), (sp, sparse), (pattern, kept), (ok, allow), (keep & ~pattern, own)):
                np.add.at(acc, bins, np.add.reduceat(src[first:].astype(acc.dtype), e[:-1], axis=1))
        area = np.outer(np.diff(e), np.diff(e))
        states = np.where(kept > 0, 1, np.where(own > 0, 3, np.where(allow > 0, 0, 2))).astype(np.uint8)
        return LongHeadView(
            layer,
            head,
            (dense / area).astype(np.float32),
            (sparse / area).astype(np.float32),
            states,
            np.flatnonzero(self.empty[layer, head]),
            float(self.mass_kept[layer, head]),
            e,
            self,
            masks,
        )


# CPU seconds of one long inspection on SmolLM2 (30 x 9 heads, one torch thread), structured pattern at
# ~10 % density: price = token · n + pair · n², least squares over runs measured on the 2-core machine
# (code of e0b0b30, load 25-37; CPU seconds do not grow with the load as wall time does): 2,048 tokens
# 21.9 s, 4,096 60.5 s, 8,192 204.9 s (the Lab's row price, extrapolated by n², said 50, 199 and 795).
COSTS = {"token": 5.0e-3, "pair": 2.43e-6}
DENSE_SHARE_OF_PRICE = 0.75  # the dense pass's share of the measured wall time (65-84 %; the rest: the sparse pass)
REFERENCE_HEADS = 30 * 9


def price_inspection(model: str, n: int, data_dependent: bool, heads: int | None = None, budget=None):
    """The predicted CPU seconds of a long inspection (`COSTS`), before any work, as a `lab_price.LabPrice`.

    Another model is scaled by its layers × heads (`heads`), as the Lab scales its prices. A data-dependent
    pattern (a per-head selection in each layer of both passes) is priced at the Lab's own ratio of a
    data-dependent row to a structured one at this n (its measured `row_dd`, `dense_job_dd`)."""
    budget = budget or lab_price.LabBudget.from_env()
    scale = 1.0 if model == "smollm2" else (heads or REFERENCE_HEADS) / REFERENCE_HEADS
    total = scale * (COSTS["token"] * n + COSTS["pair"] * float(n) ** 2)
    if data_dependent:
        structured = lab_price.price_rows("smollm2", n, 1, 0, budget=budget).cpu_seconds
        total *= lab_price.price_rows("smollm2", n, 0, 1, budget=budget).cpu_seconds / structured
    dense = DENSE_SHARE_OF_PRICE * total
    return lab_price.LabPrice(model, int(n), 1, dense, total - dense, budget.cpu_seconds, heads)


def refuse_over_budget(price, choices: list[int], data_dependent: bool) -> None:
    """PatternError `in_over_budget` when the price is over the server's budget, naming the most tokens that fit."""
    if not price.over_budget:
        return
    fits = [
        t
        for t in choices
        if t < price.tokens
        and price_inspection(
            price.model, t, data_dependent, price.heads, lab_price.LabBudget(price.budget_seconds)
        ).cpu_seconds
        <= price.budget_seconds
    ]
    fit = max(fits, default=0)
    advice = f"at most {fit:,} tokens" if fit else "fewer tokens"
    raise PatternError(
        f"this inspection would take about {price.cpu_seconds:,.0f} CPU seconds, over this server's "
        f"{price.budget_seconds:,.0f}: choose {advice}",
        "in_over_budget",
        seconds=round(price.cpu_seconds),
        budget=round(price.budget_seconds),
        fit_tokens=fit,
    )


def inspect_long(
    lm: LoadedModel,
    tokens: Tokens,
    pattern: str,
    spec,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> LongInspection:
    """Dense and sparse passes at long n (see the module's bounds); `progress(done, total, stage)` per layer."""
    from .inspection import Summary, selection_names  # the short path's types (it imports this module)
    from .selection import variant_name

    ids, n, layers = tokens.ids, len(tokens.ids), lm.layers
    expr = spec.expr()
    if lm.info.causal:
        expr = causal_variant(expr)
    shared = None
    if not expr.data_dependent:
        from .head_masks import head_mask

        shared = torch.from_numpy(head_mask(expr, n, None, None, {}))
    report = progress or (lambda done, total, stage: None)
    total = 2 * layers
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    dense = _DenseLong(expr, shared, stop, lambda done, stage: report(done, total, stage))
    dense_hidden = run_pass(lm, ids, dense)  # type: ignore[arg-type]  # any object with `attend` is a pass
    seconds["dense"] = time.perf_counter() - start
    start = time.perf_counter()
    sparse = _SparseLong("sparse", expr=expr, shared=shared, method="auto", stop=stop)
    sparse.tick = lambda done: report(layers + done, total, "sparse")
    sparse_hidden = run_pass(lm, ids, sparse)
    seconds["sparse"] = time.perf_counter() - start
    seconds["masks"] = 0.0  # built inside the passes

    mass = np.stack(dense.mass)  # (L, H, n)
    changed = np.stack(dense.changed)
    empty = np.stack(dense.empty)
    kept = np.stack(dense.kept)  # (L, H)
    allowed_pairs = dense.allowed_pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        mass_changed = (mass * changed).sum(-1) / changed.sum(-1)
    rows_changed: np.ndarray = np.asarray(changed.any(axis=(0, 1)))
    cosine = metrics.cosine_rows(dense_hidden.numpy(), sparse_hidden.numpy())
    agreement = agreement_changed = ppl_d = ppl_s = None
    if lm.info.causal:
        logp_d, arg_d, _ = metrics.next_token_stats(lm, dense_hidden, ids)
        logp_s, arg_s, _ = metrics.next_token_stats(lm, sparse_hidden, ids)
        agreement = metrics.agreement(arg_d, arg_s)
        agreement_changed = metrics.agreement(arg_d, arg_s, rows_changed)
        ppl_d, ppl_s = metrics.perplexity_from_logp(logp_d), metrics.perplexity_from_logp(logp_s)
    summary = Summary(
        n=n,
        mass_changed=metrics.mean_over(mass, changed),
        mass_all=float(mass.mean()),
        density=float(kept.sum() / (allowed_pairs * lm.heads * layers)),
        density_raw=float(kept.sum() / (kept.size * n * n)),
        kept_pairs=int(kept.sum()),
        allowed_pairs=int(allowed_pairs * lm.heads * layers),
        changed_rows=int(rows_changed.sum()),
        empty_rows=int(empty.sum()),
        cosine_changed=metrics.mean_over(cosine, rows_changed),
        cosine_all=float(cosine.mean()),
        cosine_worst=float(cosine.min()),
        agreement=agreement,
        agreement_changed=agreement_changed,
        perplexity_dense=ppl_d,
        perplexity_sparse=ppl_s,
    )
    grid_l, grid_h = np.meshgrid(np.arange(layers), np.arange(lm.heads), indexing="ij")
    columns = {
        "layer": grid_l.ravel(),
        "head": grid_h.ravel(),
        "kept": mass.mean(-1).ravel() * 100,
        "entropy": np.stack(dense.entropy).ravel(),
        "kept_changed": mass_changed.ravel() * 100,
        "density": (kept / allowed_pairs).ravel() * 100,
        "empty": empty.sum(-1).ravel().astype(np.int64),
    }
    return LongInspection(
        model=lm.info.key,
        pattern=pattern,
        params=dict(spec.params),
        causal=bool(dense.causal),
        layers=layers,
        heads=lm.heads,
        tokens=tokens,
        summary=summary,
        selection=selection_names(pattern, variant_name(expr)),
        mass_kept=mass.mean(-1),
        thumbnails=np.stack(dense.thumbs),
        columns=columns,
        seconds=seconds,
        expr=expr,
        shared=shared,
        dense_layers=dense.records,
        sparse_layers=sparse.records,
        empty=empty,
    )
