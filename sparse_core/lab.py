"""Pattern Lab: which pattern keeps the most of a model, at which budget, on this text.

`run_lab(model_key, text, patterns, budgets)` fits every pattern to every density budget
(`fit.fit`, exact counts) and measures, against one dense pass of the model on the text:
- for every model: attention mass kept inside the pattern (overall, per layer, per head) and the
  cosine of the final hidden states;
- for a causal LM: perplexity (dense and sparse), next-token agreement with dense, and the KL
  divergence KL(dense ‖ sparse) of the next-token distributions, over the positions that the pattern
  changes and over all positions.

Everything runs through one attention function registered with transformers' AttentionInterface
(`sparse_lab`); outside a lab pass it hands over to the inspector's `sparse_attention`, so the
model keeps working for the inspector. No (L, H, T, T) map is kept: in the dense pass each layer's
probabilities are computed in row chunks and reduced at once to per-head mass kept for every
requested mask; the sparse pass applies its mask per layer (shared, or per head for
data-dependent patterns selected from that pass's own q/k, as a deployed sparse model would) and
records only counts. `continue_text` decodes greedily with the pattern applied to the KV cache:
in each decode step only the kept cache positions are gathered and read.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import attention as A
from . import models
from .analysis import dense_mask
from .fit import FIT_RULES, fit
from .params import PatternError
from .patterns.base import Expr
from .patterns.learned import TopK
from .registry import get, make

IMPLEMENTATION = "sparse_lab"
MAX_TOKENS = 2048  # SmolLM2 (and local models up to their own limit)
DEFAULT_TOKENS = 1024
MAX_NEW_TOKENS = 48
BLOCK = 64  # block size of the block-sparse execution and of the FLOPs share
ROW_CHUNK = 512  # dense pass: probabilities of this many query rows at a time
DEFAULT_BUDGETS = (0.02, 0.05, 0.1, 0.25)
METHODS = ("auto", "sdpa", "blocks", "eager")
# Measured on this 2-core machine (benchmarks/lab.py --methods, one torch thread, shared cores):
# a 5 % window ran 12.1 s block-gathered vs 17.0 s SDPA-with-mask vs 20.1 s eager at 1,024 tokens
# and 16.5 / 23.9 / 48.2 s at 2,048; BigBird at 10 % (small blocks, scattered random blocks) ran
# 14.4 s gathered vs 11.5 s SDPA at 1,024 but 15.1 vs 19.3 s at 2,048. So "auto" gathers blocks
# when a block kernel would skip at least half of the blocks, and otherwise runs SDPA with a
# boolean mask. Eager is the slowest.
DEFAULT_METHOD = "auto"
AUTO_BLOCKS_BELOW = 0.5  # executed-block share under which the block gather wins
QUALITY_COLUMNS = ("ppl_change", "kl_changed", "agreement", "mass_kept", "cosine")

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]


# -- the attention function --------------------------------------------------------------------
@dataclass
class _Job:
    """One mask whose dense mass the dense pass measures: a shared (T, T) mask or a per-head builder."""

    key: str
    expr: Expr
    shared: torch.Tensor | None  # (T, T) bool, structured patterns
    mass: list = field(default_factory=list)  # per layer (H,) mean over all rows
    mass_changed: list = field(default_factory=list)  # per layer (H,) mean over changed rows (nan: none)


@dataclass
class _Pass:
    """Per-forward state of a lab pass, found by the attention function through a context variable."""

    mode: str  # dense | sparse | decode
    n_total: int = 0  # decode: the mask's size (prompt + new tokens)
    jobs: list[_Job] = field(default_factory=list)  # dense
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


_ACTIVE: contextvars.ContextVar[_Pass | None] = contextvars.ContextVar("sparse_lab_pass", default=None)
_REGISTER_LOCK = threading.Lock()
_registered = False
_MODEL_LOCK = threading.Lock()  # one lab pass per process at a time: the model object is shared


def _use(model) -> None:
    global _registered
    with _REGISTER_LOCK:
        if not _registered:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface, eager_mask

            AttentionInterface.register(IMPLEMENTATION, lab_attention)
            AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)
            _registered = True
        if getattr(model.config, "_attn_implementation", None) != IMPLEMENTATION:
            model.set_attn_implementation(IMPLEMENTATION)


def _allowed(attention_mask: torch.Tensor | None, t: int, s: int) -> torch.Tensor:
    """(T, S) bool: what the model itself lets each query attend (causal, padding, sliding window)."""
    if attention_mask is None:
        return torch.ones((t, s), dtype=torch.bool)
    return attention_mask[0, 0, :, :s] == 0


def _with_self(keep: torch.Tensor, t: int, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows the pattern leaves empty keep the token itself (a softmax over nothing is undefined)."""
    empty = ~keep.any(-1)
    if not bool(empty.any()):
        return keep, empty
    fixed = keep.clone()
    rows = torch.arange(t)
    cols = rows + (s - t)
    fixed[..., rows, cols] |= empty
    return fixed, empty


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


def _topk_heads(prim: TopK, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Every head's top-k at once with torch (the engine's TopK rule: k best scores, causal keys only)."""
    heads, n, _ = q.shape
    out = torch.zeros((heads, n, n), dtype=torch.bool)
    kk = min(prim.k, n)
    for lo in range(0, n, ROW_CHUNK):
        hi = min(n, lo + ROW_CHUNK)
        s = torch.matmul(q[:, lo:hi], k.transpose(-1, -2))
        if prim.causal:
            s = s.masked_fill(torch.arange(n)[None, :] > torch.arange(lo, hi)[:, None], float("-inf"))
        top = torch.topk(s, kk, dim=-1, sorted=False).indices
        chunk = torch.zeros_like(s, dtype=torch.bool).scatter_(-1, top, True)
        out[:, lo:hi] = chunk & torch.isfinite(s)
    return out


def _head_masks(expr: Expr, q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int) -> torch.Tensor:
    """(H, T, S) masks of a data-dependent pattern, each head's from its own q and k.

    Structured primitives are built once; top-k runs batched in torch (every head at once), the
    other data-dependent primitives head by head through the engine's `dense`.
    """
    heads, n = q.shape[0], q.shape[-2]
    qf = q.float() * (scaling * q.shape[-1] ** 0.5)  # q·k/√d then equals the model's own scores
    kf = (k.repeat_interleave(groups, dim=0) if groups > 1 else k).float()
    out = torch.zeros((heads, n, n), dtype=torch.bool)
    cache: dict = {}
    for term in expr.terms():
        acc = torch.ones((heads, n, n), dtype=torch.bool)
        for prim in term:
            if id(prim) not in cache:
                if isinstance(prim, TopK):
                    cache[id(prim)] = _topk_heads(prim, qf, kf)
                elif prim.data_dependent:
                    qs, ks = qf.numpy(), kf.numpy()
                    cache[id(prim)] = torch.from_numpy(np.stack([prim.dense(qs[h], ks[h]) for h in range(heads)]))
                else:
                    cache[id(prim)] = torch.from_numpy(dense_mask(prim, n))
            acc &= cache[id(prim)]
        out |= acc
    return out


def _pass_mask(run: _Pass, q: torch.Tensor, k: torch.Tensor, scaling: float, groups: int) -> torch.Tensor:
    t, s = q.shape[-2], k.shape[-2]
    if run.shared is not None:
        return run.shared[s - t : s, :s]
    return _head_masks(run.expr, q, k, scaling, groups)


def _dense_layer(run: _Pass, q, keys, values, allowed, scaling, model_mask) -> torch.Tensor:
    """Dense attention in row chunks; each chunk's probabilities are reduced to mass kept per job."""
    heads, t, _ = q.shape
    s = keys.shape[-2]
    out = torch.empty((heads, t, values.shape[-1]), dtype=q.dtype)
    per_head = {j.key: _head_masks(j.expr, q, keys, scaling, 1) for j in run.jobs if j.shared is None}
    mass = {j.key: torch.zeros((heads, t)) for j in run.jobs}
    changed = {j.key: torch.zeros((heads, t), dtype=torch.bool) for j in run.jobs}
    for lo in range(0, t, ROW_CHUNK):
        hi = min(t, lo + ROW_CHUNK)
        scores = torch.matmul(q[:, lo:hi], keys.transpose(-1, -2)) * scaling
        if model_mask is not None:
            scores = scores + model_mask[lo:hi]
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


def _sparse_layer(run: _Pass, q, key, value, allowed, scaling, groups) -> torch.Tensor:
    heads, t, _ = q.shape
    s = key.shape[-2]
    pattern = _pass_mask(run, q, key, scaling, groups) & allowed
    keep, empty = _with_self(pattern, t, s)
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


def _decode_step(run: _Pass, q, key, value, scaling, groups) -> torch.Tensor:
    """One new token: gather only the cache positions its pattern row keeps, then attend to those."""
    s = key.shape[-2]
    position = s - 1
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


def lab_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """AttentionInterface function of the lab; outside a lab pass it is the inspector's attention."""
    run = _ACTIVE.get()
    if run is None:
        return A.sparse_attention(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
    if query.shape[0] != 1:
        raise PatternError("the lab runs one text at a time (batch size 1)")
    if kwargs.get("softcap"):
        raise PatternError("models with attention logit soft-capping are not supported by the lab")
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    q, k, v = query[0], key[0], value[0]  # (H, T, d), (Hkv, S, d)
    groups = q.shape[0] // k.shape[0]
    t, s = q.shape[-2], k.shape[-2]
    if run.mode == "decode" and t == 1:
        out = _decode_step(run, q, k, v, scaling, groups)
    else:
        allowed = _allowed(attention_mask, t, s)
        if run.mode == "dense":
            keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
            values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
            model_mask = None if attention_mask is None else attention_mask[0, 0, :, :s]
            out = _dense_layer(run, q, keys, values, allowed, scaling, model_mask)
        else:
            out = _sparse_layer(run, q, k, v, allowed, scaling, groups)
    run.layer += 1
    return out.transpose(0, 1)[None].contiguous(), None


# -- passes ------------------------------------------------------------------------------------
def _logits(lm: models.LoadedModel, hidden: torch.Tensor) -> torch.Tensor:
    logits = lm.model.get_output_embeddings()(hidden).float()
    cap = getattr(lm.model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


@torch.inference_mode()
def _forward(lm: models.LoadedModel, ids: list[int], run: _Pass) -> torch.Tensor:
    """The model's final hidden states (T, D) under the lab pass `run`."""
    with _MODEL_LOCK:
        _use(lm.model)
        token = _ACTIVE.set(run)
        try:
            out = lm.model.base_model(input_ids=torch.tensor([ids]), use_cache=False)
        finally:
            _ACTIVE.reset(token)
    if run.layer != lm.layers:
        raise PatternError(
            f"{type(lm.model).__name__} ran {run.layer} attention layers through the lab, expected {lm.layers}: "
            "it does not route attention through transformers' AttentionInterface"
        )
    return out.last_hidden_state[0].float()


@dataclass
class _Dense:
    hidden: torch.Tensor  # (T, D)
    logp_next: np.ndarray | None  # (T - 1,)
    argmax: np.ndarray | None  # (T,)
    seconds: float


@torch.inference_mode()
def _next_token_stats(lm, hidden: torch.Tensor, ids: list[int], dense_hidden: torch.Tensor | None = None):
    """Chunked over positions so a (T, vocab) logits matrix never exists: log p(next), argmax, and KL."""
    t = hidden.shape[0]
    nxt = torch.tensor(ids[1:] + [0])
    logp, argmax, kl = np.zeros(t), np.zeros(t, dtype=np.int64), np.zeros(t)
    for lo in range(0, t, 256):
        hi = min(t, lo + 256)
        ls = torch.log_softmax(_logits(lm, hidden[lo:hi]), dim=-1)
        logp[lo:hi] = ls[torch.arange(hi - lo), nxt[lo:hi]].numpy()
        argmax[lo:hi] = ls.argmax(-1).numpy()
        if dense_hidden is not None:
            ld = torch.log_softmax(_logits(lm, dense_hidden[lo:hi]), dim=-1)
            kl[lo:hi] = (ld.exp() * (ld - ls)).sum(-1).clamp_min(0).numpy()
    return logp[:-1], argmax, kl


_DENSE: OrderedDict = OrderedDict()
_DENSE_SIZE = 2


def _dense(lm: models.LoadedModel, ids: list[int], jobs: list[_Job]) -> _Dense:
    """The dense pass, once per (model, text); jobs get their mass kept as the layers run."""
    key = (lm.info.key, id(lm.model), _ids_hash(ids))
    cached = _DENSE.get(key)
    if cached is not None and not jobs:
        return cached
    start = time.perf_counter()
    hidden = _forward(lm, ids, _Pass("dense", jobs=jobs))
    if cached is not None:
        return cached
    logp = argmax = None
    if lm.info.causal:
        logp, argmax, _ = _next_token_stats(lm, hidden, ids)
    result = _Dense(hidden, logp, argmax, time.perf_counter() - start)
    _DENSE[key] = result
    while len(_DENSE) > _DENSE_SIZE:
        _DENSE.popitem(last=False)
    return result


# -- caching -----------------------------------------------------------------------------------
def _ids_hash(ids: Sequence[int]) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:24]


def text_hash(text: str) -> str:
    """Short stable hash of a text (cache keys, file names)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _cache_folder() -> Path | None:
    if os.environ.get("SPARSE_LAB_DISK_CACHE", "1") == "0":
        return None
    return models.cache_dir() / "lab"


_MEMORY: OrderedDict = OrderedDict()
_MEMORY_SIZE = 512


def _cache_get(key: str):
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    folder = _cache_folder()
    if folder is None:
        return None
    path = folder / f"{key}.json"
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    _MEMORY[key] = value
    return value


def _cache_put(key: str, value) -> None:
    _MEMORY[key] = value
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)
    folder = _cache_folder()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(value))
        os.replace(tmp, folder / f"{key}.json")  # atomic: a reader sees the whole row or none
    except OSError:
        pass  # a read-only disk only costs the cache


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def clear_cache(memory_only: bool = False) -> None:
    """Forget cached rows (and the cached dense passes)."""
    _MEMORY.clear()
    _DENSE.clear()
    folder = _cache_folder()
    if not memory_only and folder is not None and folder.exists():
        for path in folder.glob("*.json"):
            path.unlink(missing_ok=True)


# -- the lab -----------------------------------------------------------------------------------
def _model_id(lm: models.LoadedModel) -> str:
    return f"{lm.info.key}|{lm.info.source}|{lm.layers}x{lm.heads}"


def parse_budgets(values) -> list[float]:
    """Budgets as shares in (0, 1]; '5%' and '0.05' both mean 5 %."""
    if isinstance(values, str):
        values = [v for v in values.replace(";", ",").split(",") if v.strip()]
    out = []
    for v in values:
        text = str(v).strip()
        try:
            share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise PatternError(
                f"a budget must be a share like 0.05 or 5%, got {text!r}", "bad_budget", value=text
            ) from None
        if not (0 < share <= 1) or math.isnan(share):
            raise PatternError(
                f"a budget must be between 0 and 1 (or 0% and 100%), got {text!r}", "bad_budget", value=text
            )
        if share not in out:
            out.append(share)
    if not out:
        raise PatternError("give at least one budget, e.g. 0.05,0.1", "bad_budget", value="")
    return out


def parse_patterns(values) -> list[str]:
    """Pattern names, checked against the fittable ones."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    out = []
    for name in values:
        get(name)
        if name not in FIT_RULES:
            raise PatternError(
                f"pattern '{name}' has no fittable parameter; fittable: {', '.join(FIT_RULES)}",
                "not_fittable",
                name=name,
                known=", ".join(FIT_RULES),
            )
        if name not in out:
            out.append(name)
    if not out:
        raise PatternError("choose at least one pattern")
    return out


def lab_patterns(causal: bool) -> list[str]:
    """The patterns the lab offers for a model (encoders get the ones that can run bidirectionally too)."""
    return [n for n in FIT_RULES if causal or get(n).causal != "always"]


def _expr(lm: models.LoadedModel, name: str, params: dict) -> Expr:
    spec = make(name, lm.info.causal, **params)
    expr = spec.expr()
    return A.causal_variant(expr) if lm.info.causal else expr


def _finite(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


@torch.inference_mode()
def _measure(lm, ids, dense: _Dense, name: str, params: dict, mass: dict, method: str) -> dict:
    """One sparse pass and every number of its row."""
    n = len(ids)
    expr = _expr(lm, name, params)
    shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, n))
    run = _Pass("sparse", expr=expr, shared=shared, method=method)
    start = time.perf_counter()
    hidden = _forward(lm, ids, run)
    seconds = time.perf_counter() - start
    changed = run.changed.numpy()
    cos = torch.nn.functional.cosine_similarity(hidden, dense.hidden, dim=-1).numpy()
    kept = np.stack(run.kept)  # (L, H)
    row = {
        "density_measured": float(kept.sum() / (run.allowed_pairs * kept.size)),
        "flops_share": float(np.stack(run.executed).sum() / (run.allowed_executed * kept.size)),
        "empty_rows": int(np.stack(run.empty).sum()),
        "changed_share": float(changed.mean()),
        "mass_kept": mass["all"],
        "mass_kept_changed": mass["changed"],
        "cosine": float(cos.mean()),
        "cosine_changed": _finite(cos[changed].mean()) if changed.any() else None,
        "mass_layers": mass["layers"],
        "mass_heads": mass["heads"],
        "seconds": seconds,
    }
    if lm.info.causal:
        logp, argmax, kl = _next_token_stats(lm, hidden, ids, dense.hidden)
        same = argmax == dense.argmax
        # position t predicts token t + 1; the last position has no target, so perplexity uses T - 1
        nll_d, nll_s = -dense.logp_next.mean(), -logp.mean()
        row |= {
            "ppl_dense": float(np.exp(nll_d)),
            "ppl_sparse": float(np.exp(nll_s)),
            "ppl_change": float(np.exp(nll_s - nll_d) - 1),
            "agreement": float(same.mean()),
            "agreement_changed": float(same[changed].mean()) if changed.any() else None,
            "kl_changed": float(kl[changed].mean()) if changed.any() else 0.0,
            "kl_all": float(kl.mean()),
        }
    return row


def _mass_summary(job: _Job) -> dict:
    heads = np.stack(job.mass)  # (L, H)
    changed = np.stack(job.mass_changed)
    return {
        "all": float(heads.mean()),
        "changed": _finite(np.nanmean(changed)) if np.isfinite(changed).any() else None,
        "layers": heads.mean(-1).round(6).tolist(),
        "heads": heads.round(6).tolist(),
    }


COLUMNS = [
    "model", "tokens", "pattern", "budget", "solved", "value", "params", "density", "density_measured",
    "flops_share", "mass_kept", "mass_kept_changed", "cosine", "cosine_changed", "ppl_dense", "ppl_sparse",
    "ppl_change", "agreement", "agreement_changed", "kl_changed", "kl_all", "changed_share", "empty_rows",
    "seconds", "cached",
]  # fmt: skip


def tokens_for(lm: models.LoadedModel, text: str, max_tokens: int) -> list[int]:
    """The token ids the lab runs on: the text's first max_tokens tokens (bounded by the model)."""
    limit = min(int(max_tokens), MAX_TOKENS if lm.info.key in models.MODELS else lm.info.max_tokens)
    return A.tokenize(lm, text, limit).ids


def run_lab(
    model_key: str,
    text: str,
    patterns: Sequence[str] | str,
    budgets: Sequence[float] | str = DEFAULT_BUDGETS,
    max_tokens: int = DEFAULT_TOKENS,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    method: str = DEFAULT_METHOD,
    cached_only: bool = False,
) -> pd.DataFrame:
    """One row per (pattern, budget): fitted parameters, density, FLOPs share and every quality metric.

    `cached_only=True` computes nothing: it returns the rows already cached (a page shows them at once).

    `df.attrs["mass_layers"]` / `["mass_heads"]` hold per-layer (L,) and per-head (L, H) mass kept by row
    label "pattern@budget"; `df.attrs["cancelled"]` says whether `cancel()` stopped the run early.
    """
    names = parse_patterns(patterns)
    shares = parse_budgets(budgets)
    if method not in METHODS:
        raise PatternError(f"method must be one of {', '.join(METHODS)}")
    if not isinstance(max_tokens, (int, np.integer)) or not 2 <= max_tokens <= MAX_TOKENS:
        raise PatternError(f"max_tokens must be a whole number between 2 and {MAX_TOKENS:,}, got {max_tokens!r}")
    lm = models.load(model_key)
    ids = tokens_for(lm, text, max_tokens)
    n, causal, mid, tid = len(ids), lm.info.causal, _model_id(lm), _ids_hash(ids)
    plan = []
    for name in names:
        if causal is False and get(name).causal == "always":
            raise PatternError(f"pattern '{name}' is causal by definition; {lm.info.name or model_key} is an encoder")
        for share in shares:
            fkey = _key("fit", mid, tid, name, share)
            fitted = _cache_get(fkey)
            if fitted is None:
                result = fit(name, n, share, causal)
                fitted = {"params": result.params, "density": result.achieved_density, "solved": result.solved}
                _cache_put(fkey, fitted)
            rkey = _key("row", mid, tid, name, sorted(fitted["params"].items()))
            plan.append((name, share, fitted, rkey))
    rows, cancelled, total = {}, False, len(plan)
    todo = [(name, share, fitted, rkey) for name, share, fitted, rkey in plan if _cache_get(rkey) is None]
    if cached_only:
        plan = [p for p in plan if p not in todo]
        todo = []
    dense = None
    if todo:
        jobs, seen = [], set()
        for name, _, fitted, rkey in todo:
            if rkey in seen:
                continue
            seen.add(rkey)
            expr = _expr(lm, name, fitted["params"])
            shared = None if expr.data_dependent else torch.from_numpy(dense_mask(expr, n))
            jobs.append(_Job(rkey, expr, shared))
        if progress:
            progress(0, total, "dense")
        dense = _dense(lm, ids, jobs)
        masses = {j.key: _mass_summary(j) for j in jobs}
    done = 0
    for name, share, fitted, rkey in plan:
        label = f"{name}@{share:g}"
        if cancel is not None and cancel():
            cancelled = True
            break
        row = _cache_get(rkey)
        hit = row is not None
        if not hit:
            row = _measure(lm, ids, dense, name, fitted["params"], masses[rkey], method)
            _cache_put(rkey, row)
        solved = fitted["solved"]
        rows[label] = {
            "model": lm.info.key,
            "tokens": n,
            "pattern": name,
            "budget": share,
            "solved": solved,
            "value": fitted["params"][solved],
            "params": json.dumps(fitted["params"], sort_keys=True),
            "density": fitted["density"],
            **row,
            "cached": hit,
        }
        done += 1
        if progress:
            progress(done, total, label)
    return _frame(rows, cancelled)


def _frame(rows: dict, cancelled: bool) -> pd.DataFrame:
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows.values()], columns=COLUMNS)
    table = table.dropna(axis=1, how="all")
    table.attrs["mass_layers"] = {label: r["mass_layers"] for label, r in rows.items()}
    table.attrs["mass_heads"] = {label: r["mass_heads"] for label, r in rows.items()}
    table.attrs["cancelled"] = cancelled
    return table


def layer_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mass kept per layer: one row per (pattern, budget), one column per layer."""
    layers = table.attrs.get("mass_layers", {})
    return pd.DataFrame.from_dict(layers, orient="index").rename(columns=lambda c: f"L{c}")


def to_json(table: pd.DataFrame) -> str:
    """The table and its per-layer and per-head arrays as one JSON document."""
    return json.dumps(
        {
            "rows": json.loads(table.to_json(orient="records")),
            "mass_layers": table.attrs.get("mass_layers", {}),
            "mass_heads": table.attrs.get("mass_heads", {}),
        },
        ensure_ascii=False,
        indent=1,
    )


# -- see it in words ---------------------------------------------------------------------------
@dataclass
class Continuation:
    """Greedy continuations of a text, dense and sparse, and where they first differ."""

    prompt_tokens: int
    dense_ids: list[int]
    sparse_ids: list[int]
    dense_text: str
    sparse_text: str
    divergence: int | None  # index of the first new token that differs (None: identical)
    dense_pieces: list[str] = field(default_factory=list)  # the decoded new tokens one by one
    sparse_pieces: list[str] = field(default_factory=list)
    reads: list | None = None  # (layer, position, key positions read) per decode step when instrumented


@torch.inference_mode()
def _greedy(lm, ids: list[int], steps: int, run: _Pass) -> list[int]:
    from transformers import DynamicCache

    cache = DynamicCache()
    out: list[int] = []
    current = torch.tensor([ids])
    with _MODEL_LOCK:
        _use(lm.model)
        token = _ACTIVE.set(run)
        try:
            for _ in range(steps):
                run.layer = 0
                logits = lm.model(input_ids=current, cache=cache, use_cache=True).logits[0, -1]
                nxt = int(logits.argmax())
                out.append(nxt)
                current = torch.tensor([[nxt]])
        finally:
            _ACTIVE.reset(token)
    return out


def continue_text(
    model_key: str,
    text: str,
    pattern_params: tuple[str, dict] | dict,
    max_new_tokens: int = 32,
    max_tokens: int = DEFAULT_TOKENS,
    record_reads: bool = False,
) -> Continuation:
    """Greedy continuation under dense attention and under the pattern (applied to the KV cache too)."""
    if isinstance(pattern_params, dict):
        pattern_params = (pattern_params["pattern"], pattern_params.get("params", {}))
    name, params = pattern_params
    if not isinstance(max_new_tokens, (int, np.integer)) or not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise PatternError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens!r}")
    lm = models.load(model_key)
    if not lm.info.causal:
        raise PatternError("continuing a text needs a causal language model (e.g. smollm2)", "lab_not_causal")
    expr = _expr(lm, name, params)
    if expr.data_dependent:
        raise PatternError(
            f"'{name}' selects its keys by scoring every cached key, so decoding with it reads them all; "
            "continue with a structured pattern",
            "lab_data_dependent_decode",
            name=name,
        )
    ids = tokens_for(lm, text, max_tokens)
    total = len(ids) + max_new_tokens
    shared = torch.from_numpy(dense_mask(expr, total))
    dense_ids = _greedy(lm, ids, max_new_tokens, _Pass("dense", jobs=[]))
    run = _Pass("decode", n_total=total, expr=expr, shared=shared, reads=[] if record_reads else None)
    sparse_ids = _greedy(lm, ids, max_new_tokens, run)
    divergence = next((i for i, (a, b) in enumerate(zip(dense_ids, sparse_ids, strict=True)) if a != b), None)
    tok = lm.tokenizer
    return Continuation(
        len(ids),
        dense_ids,
        sparse_ids,
        tok.decode(dense_ids),
        tok.decode(sparse_ids),
        divergence,
        [tok.decode([i]) for i in dense_ids],
        [tok.decode([i]) for i in sparse_ids],
        run.reads,
    )
