"""Dense vs sparse attention of a real model on real text, through one attention function.

`sparse_explorer` is registered with transformers' AttentionInterface, and the eager mask
builder under the same name with AttentionMaskInterface, so every layer of any model that
dispatches through the interface (BERT, Llama, Qwen2, Gemma 3, ...) calls `sparse_attention`
with its already RoPE-rotated q, k, v and the model's own additive mask (causal, padding,
sliding window). The pattern is added on top of that mask; nothing is model-specific: no hooks,
no RoPE re-application, no hand-made 4-D masks.

A comparison runs two passes:
- dense (depends on model and text only, so it is cached): records each layer's q and k, the
  model's mask, per-head thumbnails and entropy, final hidden states and next-token statistics.
- sparse: applies one mask per layer (shared by all heads for structured patterns, one per head
  for data-dependent ones) and records the same.
Data-dependent masks are chosen per layer and per head from that head's own q/k of the dense
pass (as an oracle selector in the model would see them); the sparse pass applies those masks.
No (L, H, T, T) map is kept: any head's dense or sparse map is recomputed on demand from the
stored q/k (`HeadMaps`), which costs one head's QK^T.

Metrics never count what the pattern did not choose: a row that the pattern leaves empty keeps
the token itself (a softmax over nothing is undefined), is counted in `empty_rows`, and that
substituted diagonal is not counted as kept.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from html import escape

import numpy as np
import torch

from .analysis import dense_mask
from .models import LoadedModel
from .params import PatternError
from .patterns.base import Expr, Intersection, Union
from .patterns.learned import LSH, BlockGating, Routing, TopK, VerticalSlash

DISPLAY_LIMIT = 256  # tokens the inspector draws and keeps maps for
MAX_DISPLAY_LIMIT = 512
IMPLEMENTATION = "sparse_explorer"
THUMB = 32  # thumbnail side of the layers x heads overview


# -- token labels ------------------------------------------------------------------------------
@dataclass
class Tokens:
    """A text's token ids with the labels a person reads on the axes."""

    ids: list[int]
    labels: list[str]  # what a person reads on an axis: characters, never bytes; HTML-escaped
    truncated_chars: int  # characters of the input that did not fit
    total_tokens: int  # tokens the whole text would need (for the notice)
    limit: int
    hover: list[str] = field(default_factory=list)  # original text, token and id; HTML-escaped


# Joiners and selectors that belong inside an emoji sequence: shown as the emoji, not escaped
_KEEP_FORMAT = {0x200D, 0x20E3} | set(range(0xFE00, 0xFE10)) | set(range(0xE0020, 0xE0080))
_FORMAT_NAMES = {0x200D: "ZWJ", 0xFE0E: "VS15", 0xFE0F: "VS16", 0x20E3: "keycap"}


def _visible(piece: str) -> str:
    out = []
    for ch in piece:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("⏎")
        elif ch == "\t":
            out.append("⇥")
        elif unicodedata.category(ch).startswith("C") and ord(ch) not in _KEEP_FORMAT:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if text and all(ord(c) in _KEEP_FORMAT for c in text):  # a lone joiner would be invisible: name it
        text = "".join(f"⟨{_FORMAT_NAMES.get(ord(c), f'U+{ord(c):04X}')}⟩" for c in text)
    return text


def tokenize(lm: LoadedModel, text: str, limit: int = DISPLAY_LIMIT) -> Tokens:
    """Token ids, axis labels and hover texts for the first `limit` tokens of the text."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError("the text is empty: paste some text or pick an example")
    limit = max(2, min(limit, lm.info.max_tokens))
    # Tokenise a generous prefix only: 100,000 characters never reach the model anyway.
    head = text[: limit * 32]
    tok = lm.tokenizer
    enc = tok(head, return_offsets_mapping=True, truncation=True, max_length=limit, add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    special = set(tok.all_special_ids)
    unk = tok.unk_token_id
    pieces = tok.convert_ids_to_tokens(ids)
    labels, hover, previous = [], [], None
    for tid, piece, (start, end) in zip(ids, pieces, offsets, strict=True):
        original = _visible(text[start:end])
        if tid in special and start == end:
            label = piece
        elif unk is not None and tid == unk:
            label = "[UNK]"  # the model saw [UNK], not these characters
        elif (start, end) == previous:
            label = "·" + original  # another byte of the same character
        elif isinstance(piece, str) and piece.startswith("##") and len(piece) > 2:
            label = "##" + original  # WordPiece continuation of the previous word
        else:
            label = original or "∅"
        previous = (start, end)
        labels.append(escape(label, quote=False))  # plotly reads tick text as HTML
        hover.append(escape(f"“{original}” · token {piece} · id {tid}", quote=False))
    covered = max((end for _, end in offsets), default=0)
    total = len(ids)
    if text[covered:].strip():  # something readable was cut: say how much
        total = len(tok(text[:200_000], add_special_tokens=True)["input_ids"])
    cut = len(text[covered:].rstrip()) if total > len(ids) else 0
    return Tokens(ids, labels, cut, total, limit, hover)


# -- the attention function --------------------------------------------------------------------
@dataclass
class _Layer:
    """What one layer's attention call leaves behind: enough to recompute any head's map."""

    q: torch.Tensor  # (H, T, d) rotated queries
    k: torch.Tensor  # (Hkv, S, d) rotated keys
    model_mask: torch.Tensor | None  # (T, S) additive, the model's own (causal, padding, sliding)
    scaling: float
    softcap: float | None

    @property
    def groups(self) -> int:
        return self.q.shape[0] // self.k.shape[0]


class _Run:
    """Per-forward state, found by the attention function through a context variable."""

    def __init__(self, masks: list[torch.Tensor | None] | None = None):
        self.masks = masks  # per layer: None, (T, S) shared or (H, T, S) per-head bool, applied as is
        self.layers: list[_Layer] = []
        self.thumbs: list[torch.Tensor] = []  # per layer (H, s, s)
        self.entropy: list[torch.Tensor] = []  # per layer (H,)


_ACTIVE: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("sparse_explorer_run", default=None)
_REGISTER_LOCK = threading.Lock()
_registered = False


def _scores(
    q: torch.Tensor, k: torch.Tensor, scaling: float, softcap: float | None, model_mask: torch.Tensor | None
) -> torch.Tensor:
    """Pre-softmax scores; the one place they are computed, so recomputed maps match the pass."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scaling
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if model_mask is not None:
        scores = scores + model_mask
    return scores


def _apply(scores: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return scores
    return scores.masked_fill(~keep, torch.finfo(scores.dtype).min)


def _softmax(scores: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)


def sparse_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """AttentionInterface function: eager attention plus the active run's pattern and recording."""
    run = _ACTIVE.get()
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    groups = query.shape[1] // key.shape[1]
    keys = key.repeat_interleave(groups, dim=1) if groups > 1 else key  # GQA: head h reads kv head h // groups
    values = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    model_mask = attention_mask[:, :, :, : keys.shape[-2]] if attention_mask is not None else None
    softcap = kwargs.get("softcap")
    scores = _scores(query, keys, scaling, softcap, model_mask)  # (B, H, T, S)
    if run is not None:
        index = len(run.layers)
        keep = run.masks[index] if run.masks is not None else None
        scores = _apply(scores, keep)
        run.layers.append(_Layer(query[0], key[0], None if model_mask is None else model_mask[0, 0], scaling, softcap))
    probs = _softmax(scores, query.dtype)
    if run is not None:
        p = probs[0]  # (H, T, S)
        side = min(THUMB, p.shape[-1], p.shape[-2])
        run.thumbs.append(torch.nn.functional.adaptive_max_pool2d(p, side))
        run.entropy.append(-(p * torch.log2(p.clamp_min(1e-12))).sum(-1).mean(-1))
    if dropout and module.training:
        probs = torch.nn.functional.dropout(probs, p=dropout)
    out = torch.matmul(probs, values).transpose(1, 2).contiguous()
    return out, probs


def use_sparse_attention(model) -> None:
    """Route the model's attention through `sparse_attention` (plain eager outside a comparison)."""
    global _registered
    with _REGISTER_LOCK:
        if not _registered:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface, eager_mask

            AttentionInterface.register(IMPLEMENTATION, sparse_attention)
            AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)  # the model's mask, as additive floats
            _registered = True
        if getattr(model.config, "_attn_implementation", None) != IMPLEMENTATION:
            model.set_attn_implementation(IMPLEMENTATION)


# -- maps on demand ----------------------------------------------------------------------------
class HeadMaps:
    """(L, H, T, S) attention maps, computed per head or layer on demand from the stored q/k.

    Index it like the array it stands for: maps[l, h] -> (T, S), maps[l] -> (H, T, S);
    anything else (or np.asarray) materialises every map, which costs memory.
    """

    def __init__(self, layers: list[_Layer], masks: list | None = None):
        self._layers = layers
        self._masks = masks  # per layer: None, (T, S) bool, or packed (H, T, ceil(S/8)) uint8
        first = layers[0]
        self.shape = (len(layers), first.q.shape[0], first.q.shape[1], first.k.shape[1])
        self.ndim = 4
        self.dtype = np.dtype(np.float32)
        self.thumbs: np.ndarray | None = None  # (L, H, s, s), filled by the pass that made the maps

    def _keep(self, layer: int, heads: slice | int) -> torch.Tensor | None:
        m = self._masks[layer] if self._masks is not None else None
        if m is None:
            return None
        if isinstance(m, torch.Tensor):
            return m
        bits = np.unpackbits(m[heads], axis=-1, count=self.shape[-1]).astype(bool)
        return torch.from_numpy(bits)

    @torch.inference_mode()
    def _maps(self, layer: int, heads: slice | int) -> np.ndarray:
        rec = self._layers[layer]
        q = rec.q[heads]
        kv = np.arange(rec.q.shape[0])[heads] // rec.groups
        k = rec.k[torch.as_tensor(kv)]
        scores = _apply(_scores(q, k, rec.scaling, rec.softcap, rec.model_mask), self._keep(layer, heads))
        return _softmax(scores, torch.float32).numpy()

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._maps(int(index), slice(None))
        if isinstance(index, tuple) and len(index) == 2 and all(isinstance(i, (int, np.integer)) for i in index):
            return self._maps(int(index[0]), int(index[1]))
        return np.asarray(self)[index]

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = np.stack([self._maps(layer, slice(None)) for layer in range(self.shape[0])])
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype) -> np.ndarray:
        return np.asarray(self).astype(dtype)


def additive_mask(keep: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """(T, T) bool -> (1, 1, T, T) additive float mask; a boolean 4-D mask is silently wrong under eager."""
    mask = torch.zeros((1, 1, *keep.shape), dtype=dtype)
    mask[0, 0][~torch.as_tensor(keep)] = torch.finfo(dtype).min
    return mask


@dataclass
class Forward:
    """What one forward pass keeps: summaries, the stored q/k for maps on demand, outputs."""

    attentions: HeadMaps  # (L, H, T, T) on demand; index [l, h] for one head
    hidden: np.ndarray  # (T, D) final hidden states (after the model's final norm)
    logits: np.ndarray | None  # (T, V) for causal LMs when asked for (compare keeps only the two below)
    queries: np.ndarray | None = None  # (T, d) of the selected head, as the model computed them
    keys: np.ndarray | None = None
    thumbs: np.ndarray | None = None  # (L, H, s, s) max-pooled maps for the overview
    entropy: np.ndarray | None = None  # (L, H) mean row entropy in bits
    argmax: np.ndarray | None = None  # (T,) next-token argmax, causal LMs
    logp_next: np.ndarray | None = None  # (T - 1,) log p(actual next token), causal LMs
    layers: list = field(default_factory=list, repr=False)
    seconds: float = 0.0


@torch.inference_mode()
def _run(lm: LoadedModel, ids: list[int], masks: list | None, keep_logits: bool, packed: list | None) -> Forward:
    use_sparse_attention(lm.model)
    run = _Run(masks)
    token = _ACTIVE.set(run)
    start = time.perf_counter()
    try:
        out = lm.model(torch.tensor([ids]), output_hidden_states=True)
    finally:
        _ACTIVE.reset(token)
    seconds = time.perf_counter() - start
    if masks is not None and len(run.layers) != len(masks):
        raise PatternError(f"the model ran {len(run.layers)} attention layers, expected {len(masks)}")
    if not run.layers:
        raise PatternError(
            f"{type(lm.model).__name__} does not route attention through transformers' "
            "AttentionInterface, so the inspector cannot see or change it"
        )
    hidden = out.hidden_states[-1][0].float().numpy()
    logits = argmax = logp = None
    if lm.info.causal and getattr(out, "logits", None) is not None:
        full = out.logits[0].float()
        argmax = full.argmax(-1).numpy()
        nxt = torch.tensor(ids[1:])
        logp = torch.log_softmax(full[:-1], dim=-1)[torch.arange(len(ids) - 1), nxt].numpy()
        logits = full.numpy() if keep_logits else None
    maps = HeadMaps(run.layers, packed if packed is not None else masks)
    maps.thumbs = torch.stack(run.thumbs).numpy()
    return Forward(
        maps,
        hidden,
        logits,
        thumbs=maps.thumbs,
        entropy=torch.stack(run.entropy).float().numpy(),
        argmax=argmax,
        logp_next=logp,
        layers=run.layers,
        seconds=seconds,
    )


def forward(
    lm: LoadedModel, ids: list[int], keep: np.ndarray | None = None, capture: tuple[int, int] | None = None
) -> Forward:
    """One pass with an optional (T, T) mask shared by every layer and head."""
    masks = None
    if keep is not None:
        shared = torch.as_tensor(np.asarray(keep, dtype=bool))
        masks = [shared] * lm.layers
    result = _run(lm, ids, masks, keep_logits=True, packed=None)
    if capture is not None:
        result.queries, result.keys = _head_qk(result, *capture)
    return result


def _head_qk(run: Forward, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    rec = run.layers[layer]
    return rec.q[head].float().numpy(), rec.k[head // rec.groups].float().numpy()


_DENSE: OrderedDict = OrderedDict()
_DENSE_LOCK = threading.Lock()
DENSE_CACHE_SIZE = 4
# A pass keeps every layer's q and k: ~24 MB for SmolLM2 at 256 tokens, ~47 MB at 512. Four long
# SmolLM2 texts would hold ~190 MB for good in a shared server; the byte bound keeps two of those.
DENSE_CACHE_BYTES = 128 * 2**20


def forward_bytes(run: Forward) -> int:
    """Bytes a kept pass holds: each layer's stored q, k and model mask, plus its summaries."""
    storages = {}
    for rec in run.layers:
        for t in (rec.q, rec.k, rec.model_mask):
            if t is not None:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    arrays = (run.hidden, run.logits, run.thumbs, run.entropy, run.argmax, run.logp_next)
    return sum(storages.values()) + sum(a.nbytes for a in arrays if a is not None)


def dense_run(lm: LoadedModel, ids: list[int]) -> Forward:
    """The dense pass, cached by (model, token ids): changing only the pattern skips it."""
    key = (lm.info.key, id(lm.model), tuple(ids))
    with _DENSE_LOCK:
        if key in _DENSE:
            _DENSE.move_to_end(key)
            return _DENSE[key]
    result = _run(lm, ids, None, keep_logits=False, packed=None)
    with _DENSE_LOCK:
        _DENSE[key] = result
        # the newest pass always stays, however large: the comparison that asked for it is using it
        while len(_DENSE) > DENSE_CACHE_SIZE or (
            len(_DENSE) > 1 and sum(forward_bytes(r) for r in _DENSE.values()) > DENSE_CACHE_BYTES
        ):
            _DENSE.popitem(last=False)
    return result


# -- patterns per layer and head ---------------------------------------------------------------
SELECTION_RULES = {
    "topk": "Each query keeps the k keys with the highest scores q·k of this head; no look-ahead beyond the "
    "model's own mask.",
    "lsh": "Reformer: each token's (q+k)/2 of this head is hashed by random rotations; a query keeps the keys in "
    "its bucket. A bucket depends only on the token's own vector: no look-ahead.",
    "routing": "Routing Transformer: this head's queries and keys are centred, put on the unit sphere and "
    "clustered by k-means with one set of centroids; a query keeps the keys of its cluster. The "
    "centroids are fitted on all tokens of the text (look-ahead; fine for an encoder).",
    "routing_online": "Routing Transformer, online (used on causal LMs): tokens arrive in order and update the "
    "shared centroids as they come (online k-means on centred unit vectors); a key keeps the "
    "cluster it got on arrival, so row t depends only on tokens up to t.",
    "block_gating": "MoBA: each query keeps its own block and the top_blocks − 1 other blocks with the highest "
    "q · mean(keys of the block); causal models consider only past blocks.",
    "vertical_slash": "MInference: the key columns and diagonals with the most attention mass. Original "
    "estimate: from the last last_q queries of the text, used for every row (look-ahead). "
    "Causal estimate (used on causal LMs): row t uses queries t − last_q + 1 … t only.",
    "nsa": "NSA selection: each query keeps its own block and the best-scoring past blocks (MoBA rule), plus a "
    "causal sliding window.",
}


def selection_rule(name: str, causal: bool = False) -> str | None:
    """One sentence on how a data-dependent pattern chooses its keys (None for structured ones)."""
    rule = SELECTION_RULES.get(name)
    if name == "vertical_slash":
        rule += " Running now: the causal estimate." if causal else " Running now: the original (last) estimate."
    if name == "routing" and causal:
        rule = SELECTION_RULES["routing_online"]
    return rule


def causal_variant(expr: Expr) -> Expr:
    """The same pattern for a causal LM: data-dependent parts causal, look-ahead estimates replaced."""
    if isinstance(expr, VerticalSlash) and expr.estimate == "last":
        return dataclasses.replace(expr, estimate="causal", causal=True)
    if isinstance(expr, Routing) and expr.estimate == "batch":
        return dataclasses.replace(expr, estimate="online", causal=True)
    if expr.data_dependent and not isinstance(expr, (Union, Intersection)) and not expr.causal:
        return dataclasses.replace(expr, causal=True)
    if isinstance(expr, Union):
        return Union(tuple(causal_variant(p) for p in expr.parts))
    if isinstance(expr, Intersection):
        return Intersection(tuple(causal_variant(p) for p in expr.parts))
    return expr


_RULE_OF = {TopK: "topk", LSH: "lsh", Routing: "routing", BlockGating: "block_gating", VerticalSlash: "vertical_slash"}


def _rules(expr: Expr) -> str | None:
    out = []
    for prim in expr.primitives():
        name = _RULE_OF.get(type(prim))
        if name is None:
            continue
        if isinstance(prim, VerticalSlash):
            rule = SELECTION_RULES[name] + f" Running now: the {prim.estimate} estimate."
        elif isinstance(prim, Routing):
            rule = SELECTION_RULES["routing_online" if prim.estimate == "online" else name]
        else:
            rule = SELECTION_RULES[name]
        if rule not in out:
            out.append(rule)
    return " ".join(out) or None


def _head_mask(expr: Expr, n: int, q: np.ndarray | None, k: np.ndarray | None, structured: dict) -> np.ndarray:
    """The pattern for a layer's heads: q, k (H, n, d) -> (H, n, n); structured only (None) -> (n, n).

    Structured primitives are computed once per comparison; data-dependent ones per head, all heads
    at once where the primitive offers `dense_heads`.
    """
    shape = (n, n) if q is None else (q.shape[0], n, n)
    out = np.zeros(shape, dtype=bool)
    for term in expr.terms():
        acc = np.ones(shape, dtype=bool)
        for prim in term:
            if prim.data_dependent:
                batched = getattr(prim, "dense_heads", None)
                acc &= batched(q, k) if batched else np.stack([prim.dense(q[h], k[h]) for h in range(q.shape[0])])
            else:
                if id(prim) not in structured:
                    structured[id(prim)] = dense_mask(prim, n)
                acc &= structured[id(prim)]
        out |= acc
    return out


@dataclass
class _LayerStats:
    applied: torch.Tensor  # (T, S) or (H, T, S) bool, empty rows fixed
    pattern: torch.Tensor  # the same before the fix, intersected with the model's mask
    mass: np.ndarray  # (H, T) dense mass inside the pattern
    changed: np.ndarray  # (H, T) rows where the pattern drops a key the model could attend
    empty: np.ndarray  # (H, T)
    kept: np.ndarray  # (H,) kept pairs
    allowed: int  # pairs the model could attend in this layer


@torch.inference_mode()
def _layer_stats(rec: _Layer, pattern: torch.Tensor) -> _LayerStats:
    heads = rec.q.shape[0]
    k = rec.k.repeat_interleave(rec.groups, dim=0) if rec.groups > 1 else rec.k
    probs = _softmax(_scores(rec.q, k, rec.scaling, rec.softcap, rec.model_mask), torch.float32)  # (H, T, S)
    t, s = probs.shape[-2:]
    allowed = torch.ones((t, s), dtype=torch.bool) if rec.model_mask is None else rec.model_mask == 0
    kept = pattern & allowed  # (T, S) or (H, T, S)
    empty = ~kept.any(-1)
    fix = torch.zeros_like(kept)
    diag = torch.arange(min(t, s))
    fix[..., diag, diag] = empty[..., diag]
    mass = (probs * kept).sum(-1)  # (H, T)
    dropped = (allowed & ~kept).any(-1)
    kept_pairs = kept.sum((-1, -2))
    return _LayerStats(
        kept | fix,
        kept,
        mass.numpy(),
        np.broadcast_to(dropped.numpy(), (heads, t)),
        np.broadcast_to(empty.numpy(), (heads, t)),
        np.broadcast_to(kept_pairs.numpy(), (heads,)).astype(np.int64),
        int(allowed.sum()),
    )


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
        n = self.keep.shape[-1]
        m = self.layer_masks[layer]
        if isinstance(m, torch.Tensor):
            m = m.numpy()
        applied = np.unpackbits(m[head], axis=-1, count=n).astype(bool) if m.dtype == np.uint8 else m
        return applied, np.flatnonzero(self.empty[layer, head])


def mass_kept(attentions: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(L, H, T, T) attention, (T, T) mask -> (L, H) mean share of each row's mass kept."""
    return np.einsum("lhij,ij->lh", attentions.astype(np.float32), keep.astype(np.float32)) / keep.shape[0]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows."""
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def perplexity(logits: np.ndarray, ids: list[int]) -> float:
    """exp(mean next-token negative log-likelihood) over the text."""
    if len(ids) < 2:
        return float("nan")
    logp = torch.log_softmax(torch.as_tensor(logits[:-1], dtype=torch.float32), dim=-1)
    nll = -logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return float(torch.exp(nll.mean()))


def _variant_name(expr: Expr) -> str | None:
    names = []
    for prim in expr.primitives():
        if isinstance(prim, VerticalSlash):
            names.append(f"vertical-slash: {prim.estimate} estimate")
        elif isinstance(prim, Routing):
            names.append(f"routing: {prim.estimate} k-means")
    return "; ".join(names) or None


def compare(lm: LoadedModel, tokens: Tokens, expr: Expr, qk_source: tuple[int, int] = (0, 0)) -> Comparison:
    """Dense and sparse passes of the model on the tokens, with every metric the inspector shows."""
    n = len(tokens.ids)
    if lm.info.causal:
        expr = causal_variant(expr)  # next-token logits must not depend on later tokens
    start = time.perf_counter()
    cached = (lm.info.key, id(lm.model), tuple(tokens.ids)) in _DENSE
    dense = dense_run(lm, tokens.ids)
    t_dense = time.perf_counter() - start
    layer_sel, head_sel = qk_source
    if not (0 <= layer_sel < lm.layers and 0 <= head_sel < lm.heads):
        raise PatternError(f"layer {layer_sel}, head {head_sel} is outside the model ({lm.layers}×{lm.heads})")

    start = time.perf_counter()
    structured: dict = {}
    shared = None if expr.data_dependent else torch.from_numpy(_head_mask(expr, n, None, None, structured))
    stats: list[_LayerStats] = []
    for rec in dense.layers:
        if shared is not None:
            pattern = shared
        else:
            # a uniform rescale of q makes q·k/√d equal the model's own scores (rankings are unchanged)
            # contiguous copies: the model hands over transposed views
            q = np.ascontiguousarray((rec.q.float() * (rec.scaling * rec.q.shape[-1] ** 0.5)).numpy())
            k = np.ascontiguousarray(rec.k.float().numpy())
            kv = np.ascontiguousarray(k[np.arange(q.shape[0]) // rec.groups])  # (H, n, d): head h reads h // groups
            pattern = torch.from_numpy(_head_mask(expr, n, q, kv, structured))
        stats.append(_layer_stats(rec, pattern))
    t_masks = time.perf_counter() - start

    masks = [s.applied for s in stats]
    packed = None
    if shared is None:  # per-head masks: keep them packed for the on-demand sparse maps
        packed = [np.packbits(m.numpy(), axis=-1) for m in masks]
    start = time.perf_counter()
    sparse = _run(lm, tokens.ids, masks, keep_logits=False, packed=packed)
    t_sparse = time.perf_counter() - start

    mass = np.stack([s.mass for s in stats])  # (L, H, T)
    changed = np.stack([s.changed for s in stats])  # (L, H, T)
    empty = np.stack([s.empty for s in stats])
    kept = np.stack([s.kept for s in stats])  # (L, H)
    allowed = np.array([s.allowed for s in stats])  # (L,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass_changed = (mass * changed).sum(-1) / changed.sum(-1)
    sel = stats[layer_sel]
    applied = sel.applied if sel.applied.ndim == 2 else sel.applied[head_sel]
    pattern = sel.pattern if sel.pattern.ndim == 2 else sel.pattern[head_sel]
    fixed = np.flatnonzero(empty[layer_sel, head_sel])
    rows_changed = changed.any(axis=(0, 1))
    cosine = cosine_rows(dense.hidden, sparse.hidden)

    agreement = agreement_changed = ppl_d = ppl_s = None
    if lm.info.causal and dense.argmax is not None:
        same = dense.argmax == sparse.argmax
        agreement = float(same.mean())
        agreement_changed = float(same[rows_changed].mean()) if rows_changed.any() else None
        ppl_d = float(np.exp(-dense.logp_next.mean())) if n > 1 else float("nan")
        ppl_s = float(np.exp(-sparse.logp_next.mean())) if n > 1 else float("nan")
    dense = dataclasses.replace(dense, queries=None, keys=None)  # the cached pass is shared: never mutate it
    dense.queries, dense.keys = _head_qk(dense, layer_sel, head_sel)
    sparse.queries, sparse.keys = _head_qk(sparse, layer_sel, head_sel)
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
        mass_kept_changed_mean=float(mass[changed].mean()) if changed.any() else float("nan"),
        cosine_changed_mean=float(cosine[rows_changed].mean()) if rows_changed.any() else float("nan"),
        agreement_changed=agreement_changed,
        density=float(kept.sum() / (allowed.sum() * lm.heads)),
        density_raw=float(kept.sum() / (kept.size * n * n)),
        density_heads=kept / allowed[:, None],
        kept_pairs=int(kept.sum()),
        allowed_pairs=int(allowed.sum() * lm.heads),
        entropy=dense.entropy,
        thumbs_dense=dense.thumbs,
        thumbs_sparse=sparse.thumbs,
        selection_rule=_rules(expr),
        variant=_variant_name(expr),
        dense_cached=cached,
        layer_masks=packed or masks,
        empty=empty,
        seconds={"dense": t_dense, "masks": t_masks, "sparse": t_sparse},
    )


def thumbnails(attentions, size: int = THUMB) -> np.ndarray:
    """(L, H, T, T) -> (L, H, s, s) max-pooled maps for the layers x heads overview."""
    if isinstance(attentions, HeadMaps) and attentions.thumbs is not None and size == THUMB:
        return attentions.thumbs  # pooled inside the pass (adaptive max-pooling bins)
    attentions = np.asarray(attentions, dtype=np.float32)
    t = attentions.shape[-1]
    s = min(size, t)
    edges = np.linspace(0, t, s + 1).astype(int)
    rows = np.maximum.reduceat(attentions, edges[:-1], axis=2)
    return np.maximum.reduceat(rows, edges[:-1], axis=3)
