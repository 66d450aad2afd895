"""Any head's attention map, recomputed on demand from the q and k a pass stored, and the overview thumbnails.

No (L, H, T, T) map is kept: a pass stores each layer's rotated q and k and the model's own mask
(`LayerRecord`), and `HeadMaps` recomputes one head's or one layer's map from them with the same
`scores` function the pass used, which costs one head's QK^T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

THUMB = 32  # thumbnail side of the layers x heads overview


@dataclass
class LayerRecord:
    """What one layer's attention call leaves behind: enough to recompute any head's map."""

    q: torch.Tensor  # (H, T, d) rotated queries
    k: torch.Tensor  # (Hkv, S, d) rotated keys
    model_mask: torch.Tensor | None  # (T, S) additive, the model's own (causal, padding, sliding)
    scaling: float
    softcap: float | None

    @property
    def groups(self) -> int:
        return self.q.shape[0] // self.k.shape[0]


def scores(
    q: torch.Tensor, k: torch.Tensor, scaling: float, softcap: float | None, model_mask: torch.Tensor | None
) -> torch.Tensor:
    """Pre-softmax scores; the one place they are computed, so recomputed maps match the pass."""
    out = torch.matmul(q, k.transpose(-1, -2)) * scaling  # (H, T, S)
    if softcap:
        out = torch.tanh(out / softcap) * softcap
    if model_mask is not None:
        out = out + model_mask
    return out


def apply_keep(scores: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    """Scores with every pair outside `keep` set to the dtype's minimum (None: unchanged)."""
    if keep is None:
        return scores
    return scores.masked_fill(~keep, torch.finfo(scores.dtype).min)


def softmax(scores: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Row softmax computed in fp32, returned in `dtype`."""
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)


class HeadMaps:
    """(L, H, T, S) attention maps, computed per head or layer on demand from the stored q/k.

    Index it like the array it stands for: maps[l, h] -> (T, S), maps[l] -> (H, T, S);
    anything else (or np.asarray) materialises every map, which costs memory.
    """

    def __init__(self, layers: list[LayerRecord], masks: list | None = None):
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
        pre = apply_keep(scores(q, k, rec.scaling, rec.softcap, rec.model_mask), self._keep(layer, heads))
        return softmax(pre, torch.float32).numpy()

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
