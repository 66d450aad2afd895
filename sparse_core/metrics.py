"""Comparison metrics of a sparse pass against the dense one: mass kept, cosine drift, perplexity, agreement and KL.

Every function takes what the passes produced (maps or stored q/k, hidden states, next-token log
probabilities) and returns a number or an array; none runs the model. Means "over changed rows"
leave out the rows a pattern did not change, and are None/nan when there are none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .head_masks import with_self
from .headmaps import LayerRecord, scores, softmax
from .models import LoadedModel


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


def perplexity_from_logp(logp_next: np.ndarray) -> float:
    """exp(mean negative log-likelihood) from (T - 1,) log p(actual next token); nan for an empty text."""
    return float(np.exp(-logp_next.mean())) if len(logp_next) else float("nan")


def ppl_change(logp_dense: np.ndarray, logp_sparse: np.ndarray) -> float:
    """Relative perplexity change, sparse over dense, minus one (0.1 = 10 % worse)."""
    return float(np.exp(logp_dense.mean() - logp_sparse.mean()) - 1)


def agreement(argmax_dense: np.ndarray, argmax_sparse: np.ndarray, rows: np.ndarray | None = None) -> float | None:
    """Share of positions whose next-token argmax agrees (over `rows` when given; None when no row is given)."""
    same = argmax_dense == argmax_sparse
    if rows is not None:
        if not rows.any():
            return None
        same = same[rows]
    return float(same.mean())


def mean_over(values: np.ndarray, rows: np.ndarray) -> float:
    """Mean of `values` over the rows where `rows` is True (nan when none is)."""
    return float(values[rows].mean()) if rows.any() else float("nan")


def finite(x) -> float | None:
    """The number, or None where it is nan or infinite (JSON has neither)."""
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


@dataclass
class LayerStats:
    """One layer's pattern against its dense pass: the mask applied, mass kept, changed and empty rows."""

    applied: torch.Tensor  # (T, S) or (H, T, S) bool, empty rows fixed
    pattern: torch.Tensor  # the same before the fix, intersected with the model's mask
    mass: np.ndarray  # (H, T) dense mass inside the pattern
    changed: np.ndarray  # (H, T) rows where the pattern drops a key the model could attend
    empty: np.ndarray  # (H, T)
    kept: np.ndarray  # (H,) kept pairs
    allowed: int  # pairs the model could attend in this layer


@torch.inference_mode()
def layer_stats(rec: LayerRecord, pattern: torch.Tensor) -> LayerStats:
    """Dense mass inside `pattern` ((T, S) or (H, T, S) bool) per head and row, from the layer's stored q/k."""
    heads = rec.q.shape[0]
    k = rec.k.repeat_interleave(rec.groups, dim=0) if rec.groups > 1 else rec.k
    probs = softmax(scores(rec.q, k, rec.scaling, rec.softcap, rec.model_mask), torch.float32)  # (H, T, S)
    t, s = probs.shape[-2:]
    allowed = torch.ones((t, s), dtype=torch.bool) if rec.model_mask is None else rec.model_mask == 0
    kept = pattern & allowed  # (T, S) or (H, T, S)
    applied, empty = with_self(kept, t, s)
    mass = (probs * kept).sum(-1)  # (H, T)
    dropped = (allowed & ~kept).any(-1)
    kept_pairs = kept.sum((-1, -2))
    return LayerStats(
        applied,
        kept,
        mass.numpy(),
        np.broadcast_to(dropped.numpy(), (heads, t)),
        np.broadcast_to(empty.numpy(), (heads, t)),
        np.broadcast_to(kept_pairs.numpy(), (heads,)).astype(np.int64),
        int(allowed.sum()),
    )


def logits_of(lm: LoadedModel, hidden: torch.Tensor) -> torch.Tensor:
    """(T, V) next-token logits from final hidden states (T, D), with the model's final soft-capping."""
    from transformers import PreTrainedModel  # loaded already: lm came from transformers

    model = lm.model
    if not isinstance(model, PreTrainedModel):  # the class that has an LM head and its config
        raise TypeError(f"{lm.info.key}: next-token logits need a transformers model, not {type(model).__name__}")
    logits = model.get_output_embeddings()(hidden).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


@torch.inference_mode()
def next_token_stats(lm, hidden: torch.Tensor, ids: list[int], dense_hidden: torch.Tensor | None = None):
    """Chunked over positions so a (T, vocab) logits matrix never exists: log p(next), argmax, and KL."""
    t = hidden.shape[0]
    nxt = torch.tensor(ids[1:] + [0])
    logp, argmax, kl = np.zeros(t), np.zeros(t, dtype=np.int64), np.zeros(t)
    for lo in range(0, t, 256):
        hi = min(t, lo + 256)
        ls = torch.log_softmax(logits_of(lm, hidden[lo:hi]), dim=-1)
        logp[lo:hi] = ls[torch.arange(hi - lo), nxt[lo:hi]].numpy()
        argmax[lo:hi] = ls.argmax(-1).numpy()
        if dense_hidden is not None:
            ld = torch.log_softmax(logits_of(lm, dense_hidden[lo:hi]), dim=-1)
            kl[lo:hi] = (ld.exp() * (ld - ls)).sum(-1).clamp_min(0).numpy()
    return logp[:-1], argmax, kl
