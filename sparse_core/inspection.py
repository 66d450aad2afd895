"""The Inspector's question in one call: what does a sparse pattern change in a model's attention on a text?

`inspect_text` tokenises the text, builds the pattern for the model (causal variants on causal LMs),
runs `attention.compare` (a cached dense pass, the per-head masks, the masked pass and the metrics)
and returns an `Inspection`: the tokens, the page's summary numbers, the per-head table and, on
demand, one head's dense and sparse maps with the mask the model applied (`Inspection.head`).
Nothing here draws or translates: the page reads widgets, calls this, and hands the arrays to
`ui.inspector_figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .attention import Comparison, compare
from .inspection_long import LONG_FROM, LongInspection, Progress, inspect_long
from .models import LoadedModel
from .params import PatternError
from .registry import get, make
from .tokens import DISPLAY_LIMIT, Tokens, tokenize

DENSE_SHARE = 0.9  # above this share of the pairs a model could attend, a "sparse" pattern is announced as dense
MASK_STATES = ("dropped", "kept", "outside", "empty")  # values 0..3 of `mask_states`


def mask_states(applied: np.ndarray, allowed: np.ndarray | None, empty_rows: Any = ()) -> np.ndarray:
    """(T, T) uint8 per pair: 0 dropped, 1 kept, 2 outside what the model could attend, 3 an empty row's own token."""
    pattern = np.asarray(applied, dtype=bool)
    allowed = np.ones_like(pattern) if allowed is None else np.asarray(allowed, dtype=bool)
    codes = np.where(allowed, np.where(pattern & allowed, 1, 0), 2).astype(np.uint8)
    for row in empty_rows:
        if 0 <= row < codes.shape[0] and row < codes.shape[1]:
            codes[row, row] = 3
    return codes


@dataclass(frozen=True)
class Summary:
    """The numbers at the top of the page; "changed" means over the rows the pattern changes (nan/None: none)."""

    n: int
    mass_changed: float
    mass_all: float
    density: float  # kept pairs / pairs the model could attend (the causal triangle for causal LMs)
    density_raw: float  # kept pairs / T²
    kept_pairs: int
    allowed_pairs: int
    changed_rows: int
    empty_rows: int
    cosine_changed: float
    cosine_all: float
    cosine_worst: float
    agreement: float | None  # causal LMs only
    agreement_changed: float | None
    perplexity_dense: float | None
    perplexity_sparse: float | None

    @property
    def dense(self) -> bool:
        """Whether the pattern keeps (nearly) every pair here, so its numbers show almost no loss."""
        return self.density > DENSE_SHARE


@dataclass(frozen=True)
class HeadView:
    """One head: dense and sparse (T, T) maps, the mask the model applied and each pair's state."""

    layer: int
    head: int
    dense: np.ndarray  # float32 (T, T)
    sparse: np.ndarray  # float32 (T, T), exactly zero outside `applied`
    applied: np.ndarray  # bool (T, T): the pattern ∩ the model's mask, empty rows keeping their own token
    states: np.ndarray  # uint8 (T, T), see `mask_states`
    empty_rows: np.ndarray  # indices of the rows the pattern left empty in this head
    mass_kept: float  # mean share of the dense row mass inside the pattern

    def row(self, query: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dense weights, sparse weights, kept keys) of one query token, for the token view."""
        if not 0 <= query < self.dense.shape[0]:
            raise PatternError(f"token {query} is outside the text (0 … {self.dense.shape[0] - 1})")
        return self.dense[query], self.sparse[query], self.applied[query]


@dataclass(frozen=True)
class Inspection:
    """A model's dense and sparse attention on one text under one pattern, with every number the page shows."""

    model: str
    pattern: str
    params: dict[str, Any]  # as the pattern ran (validated, defaults filled in)
    causal: bool
    layers: int
    heads: int
    tokens: Tokens
    comparison: Comparison
    summary: Summary
    selection: tuple[
        str, ...
    ]  # names of the selection rules that run (data-dependent patterns), e.g. ("routing_online",)

    long = False  # maps at full resolution (see `inspection_long` past LONG_FROM tokens)

    @property
    def n(self) -> int:
        """Tokens inspected."""
        return len(self.tokens.ids)

    @property
    def seconds(self) -> dict:
        """Seconds of the dense pass, the masks and the sparse pass."""
        return self.comparison.seconds

    @property
    def thumbnails(self) -> np.ndarray:
        """(L, H, s, s) max-pooled dense maps for the layers × heads overview."""
        thumbs = self.comparison.thumbs_dense
        assert thumbs is not None  # every pass pools its maps
        return thumbs

    @property
    def mass_kept(self) -> np.ndarray:
        """(L, H) mean share of the dense mass inside the pattern."""
        return self.comparison.mass_kept

    def head(self, layer: int, head: int) -> HeadView:
        """One head's maps and mask, recomputed from the stored q/k (one head's QK^T)."""
        if not (0 <= layer < self.layers and 0 <= head < self.heads):
            raise PatternError(f"layer {layer}, head {head} is outside the model ({self.layers}×{self.heads})")
        c = self.comparison
        dense = np.asarray(c.dense.attentions[layer, head], dtype=np.float32)
        sparse = np.asarray(c.sparse.attentions[layer, head], dtype=np.float32)
        applied, empty = c.head_mask(layer, head)
        applied = np.asarray(applied, dtype=bool)
        allowed = np.tril(np.ones_like(applied)) if self.causal else None
        return HeadView(
            layer,
            head,
            dense,
            sparse,
            applied,
            mask_states(applied, allowed, empty),
            np.asarray(empty, dtype=np.int64),
            float(c.mass_kept[layer, head]),
        )

    def table(self) -> dict[str, np.ndarray]:
        """One row per (layer, head): mass kept (all rows and changed rows), density and empty rows in %
        and counts, dense entropy in bits; columns keyed by name for the page to translate."""
        c = self.comparison
        layers, heads = np.meshgrid(np.arange(self.layers), np.arange(self.heads), indexing="ij")
        columns: dict[str, np.ndarray] = {
            "layer": layers.ravel(),
            "head": heads.ravel(),
            "kept": c.mass_kept.ravel() * 100,
            "entropy": np.asarray(c.entropy).ravel(),
        }
        if c.mass_kept_changed is not None:
            columns["kept_changed"] = c.mass_kept_changed.ravel() * 100
        if c.density_heads is not None:
            columns["density"] = c.density_heads.ravel() * 100
        if c.empty_rows is not None:
            columns["empty"] = c.empty_rows.ravel().astype(np.int64)
        return columns


def selection_names(pattern: str, variant: str | None) -> tuple[str, ...]:
    """The selection rules a data-dependent pattern runs, by name: the pattern's own, then the estimate it uses."""
    if not get(pattern).data_dependent:
        return ()
    variant = variant or ""
    names = ["routing_online" if pattern == "routing" and "online" in variant else pattern]
    if pattern == "vertical_slash":
        names.append("vs_causal" if "causal" in variant else "vs_last")
    return tuple(names)


def summarize(c: Comparison) -> Summary:
    """The page's numbers from a comparison."""
    n = len(c.tokens.ids)
    empty = int(np.sum(c.empty_rows)) if c.empty_rows is not None else int(c.rows_fixed)
    return Summary(
        n=n,
        mass_changed=c.mass_kept_changed_mean,
        mass_all=c.mass_kept_all_mean,
        density=c.density,
        density_raw=c.density_raw,
        kept_pairs=c.kept_pairs,
        allowed_pairs=c.allowed_pairs,
        changed_rows=int(np.sum(c.changed_rows)) if c.changed_rows is not None else n,
        empty_rows=empty,
        cosine_changed=c.cosine_changed_mean,
        cosine_all=float(c.cosine.mean()),
        cosine_worst=float(c.cosine.min()),
        agreement=c.agreement,
        agreement_changed=c.agreement_changed,
        perplexity_dense=c.perplexity_dense,
        perplexity_sparse=c.perplexity_sparse,
    )


def inspect_text(
    lm: LoadedModel,
    text: str,
    pattern: str,
    params: Mapping[str, Any],
    max_tokens: int = DISPLAY_LIMIT,
    tokens: Tokens | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> Inspection | LongInspection:
    """The model's dense and sparse attention on the first `max_tokens` tokens of `text` under `pattern(params)`.

    `tokens` may be passed when the caller already tokenised the text (the page needs n first, for
    its parameter widgets). Bad text or parameters raise `PatternError` with a message for a person.
    Past `LONG_FROM` tokens the maps are pooled and nothing (n, n) per head is kept
    (`inspection_long`); there `progress(done, total, stage)` is called per layer and `stop()` checked
    between layers (`PassCancelledError`).
    """
    if tokens is None:
        tokens = tokenize(lm, text, max_tokens)
    causal = lm.info.causal
    spec = make(pattern, causal, **dict(params))
    if len(tokens.ids) > LONG_FROM:
        return inspect_long(lm, tokens, pattern, spec, progress, stop)
    comparison = compare(lm, tokens, spec.expr())
    return Inspection(
        model=lm.info.key,
        pattern=pattern,
        params=dict(spec.params),
        causal=causal,
        layers=lm.layers,
        heads=lm.heads,
        tokens=tokens,
        comparison=comparison,
        summary=summarize(comparison),
        selection=selection_names(pattern, comparison.variant),
    )
