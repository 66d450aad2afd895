"""The inspector's forward passes: one model pass with an optional mask per layer, recording each layer's q and k.

`forward` is one pass with an optional (T, T) mask shared by every layer and head; `masked_pass`
applies one mask per layer (shared, or per head); `dense_run` is the unmasked pass, cached by
(model, token ids) because it depends on nothing else. A pass keeps no (L, H, T, T) map: it
records each layer's rotated q and k and the model's own mask (`headmaps.LayerRecord`), plus
max-pooled thumbnails and the mean row entropy, so any head's map is recomputed on demand.

A row that a given mask, intersected with the model's own mask (causal, padding, sliding window),
leaves empty attends to its own token only: a softmax over nothing is undefined, and spreading
the row over every key would let it read future tokens.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

from . import dispatch
from .head_masks import allowed, with_self
from .headmaps import THUMB, HeadMaps, LayerRecord, apply_keep, scores, softmax
from .models import LoadedModel
from .params import PatternError


class InspectorPass:
    """Per-forward state of an inspector pass: the masks it applies and what each layer leaves behind."""

    def __init__(self, masks: list[torch.Tensor | None] | None = None):
        self.masks = masks  # per layer: None, (T, S) shared or (H, T, S) per-head bool
        self.applied: list[torch.Tensor | None] = []  # per layer: the mask as applied (empty rows keep self)
        self.layers: list[LayerRecord] = []
        self.thumbs: list[torch.Tensor] = []  # per layer (H, s, s)
        self.entropy: list[torch.Tensor] = []  # per layer (H,)
        self._memo: tuple | None = None  # (pattern, model mask, applied mask) of the last layer

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        """Eager attention with this layer's mask on top of the model's, recording q, k and summaries."""
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        groups = query.shape[1] // key.shape[1]
        keys = key.repeat_interleave(groups, dim=1) if groups > 1 else key  # GQA: head h reads kv head h // groups
        values = value.repeat_interleave(groups, dim=1) if groups > 1 else value
        t, s = query.shape[-2], keys.shape[-2]
        model_mask = attention_mask[:, :, :, :s] if attention_mask is not None else None  # (B, 1, T, S)
        softcap = kwargs.get("softcap")
        pre = scores(query, keys, scaling, softcap, model_mask)  # (B, H, T, S)
        keep = self.masks[len(self.layers)] if self.masks is not None else None
        if keep is not None:
            # layers usually share one pattern and one model mask: compute their intersection once per pass
            # (the memo holds both tensors, so `is` never matches a new tensor at a reused address)
            if self._memo is None or self._memo[0] is not keep or self._memo[1] is not attention_mask:
                self._memo = (keep, attention_mask, with_self(keep & allowed(model_mask, t, s), t, s)[0])
            keep = self._memo[2]
        self.applied.append(keep)
        pre = apply_keep(pre, keep)
        self.layers.append(
            LayerRecord(query[0], key[0], None if model_mask is None else model_mask[0, 0], scaling, softcap)
        )
        probs = softmax(pre, query.dtype)
        p = probs[0]  # (H, T, S)
        side = min(THUMB, p.shape[-1], p.shape[-2])
        self.thumbs.append(torch.nn.functional.adaptive_max_pool2d(p, side))
        self.entropy.append(-(p * torch.log2(p.clamp_min(1e-12))).sum(-1).mean(-1))
        if dropout and module.training:
            probs = torch.nn.functional.dropout(probs, p=dropout)
        return torch.matmul(probs, values).transpose(1, 2).contiguous(), probs


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
def masked_pass(
    lm: LoadedModel, ids: list[int], masks: list | None, keep_logits: bool = False, packed: list | None = None
) -> Forward:
    """One pass with `masks` (per layer: None, (T, T) or (H, T, T) bool); `packed`: the same, bit-packed for maps."""
    dispatch.use(lm.model)
    run = InspectorPass(masks)
    start = time.perf_counter()
    with dispatch.running(run):
        out = lm.model(torch.tensor([ids]), output_hidden_states=True)
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
    maps = HeadMaps(run.layers, packed if packed is not None else (run.applied if masks is not None else None))
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
    """One pass with an optional (T, T) mask shared by every layer and head.

    A row that `keep` (intersected with the model's own mask) leaves empty attends to its own token only."""
    masks = None
    if keep is not None:
        shared = torch.as_tensor(np.asarray(keep, dtype=bool))
        masks = [shared] * lm.layers
    result = masked_pass(lm, ids, masks, keep_logits=True)
    if capture is not None:
        result.queries, result.keys = head_qk(result, *capture)
    return result


def head_qk(run: Forward, layer: int, head: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, d) queries and keys of one head as the pass computed them (GQA: the head's kv head)."""
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


def dense_cached(lm: LoadedModel, ids: list[int]) -> bool:
    """Whether the dense pass of these tokens is cached (the next `dense_run` costs nothing)."""
    with _DENSE_LOCK:
        return (lm.info.key, id(lm.model), tuple(ids)) in _DENSE


def dense_run(lm: LoadedModel, ids: list[int]) -> Forward:
    """The dense pass, cached by (model, token ids): changing only the pattern skips it."""
    key = (lm.info.key, id(lm.model), tuple(ids))
    with _DENSE_LOCK:
        if key in _DENSE:
            _DENSE.move_to_end(key)
            return _DENSE[key]
    result = masked_pass(lm, ids, None)
    with _DENSE_LOCK:
        _DENSE[key] = result
        # the newest pass always stays, however large: the comparison that asked for it is using it
        while len(_DENSE) > DENSE_CACHE_SIZE or (
            len(_DENSE) > 1 and sum(forward_bytes(r) for r in _DENSE.values()) > DENSE_CACHE_BYTES
        ):
            _DENSE.popitem(last=False)
    return result
