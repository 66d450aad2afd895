"""The retrieval grid's attention: the lab's decode-mode pass, with top-k executed from one score matrix and every
arm runnable on a GPU.

`GridPass` is `lab_passes.LabPass` for `memory_eval`. Two things differ, and nothing else:

- **top-k** (a pattern that is one `TopK`): the lab's prefill scores a query chunk's keys to choose (`rows_rule`,
  a sorted `torch.topk`, a (H, c, S) bool built from the full S) and then runs masked SDPA, which scores
  the same pairs again. Here each chunk's scores are computed once over the keys visible to it, the k best
  per row are chosen by the engine's own rule (`top_per_row`: selection on values, np.partition, about 5x
  faster than torch.topk on this CPU), and the softmax reads those scores directly: 1.29 s against
  2.83 s CPU per SmolLM2 layer at 4,096 tokens here with torch.topk (one thread), outputs within 6e-7.
  The kept set is the primitive's definition (the k highest scores among the keys up to the row;
  `tests/test_memory_exec.py` checks it against `TopK.dense`).
- **Off the CPU** (`cuda`): `lab_passes` builds its index tensors on the CPU, so on a GPU every arm runs here:
  dense as fused causal SDPA, a structured pattern as SDPA under its (N, N) mask moved to the device once
  per cell, top-k as above. Block-gating and composite patterns have no device path yet (a clear refusal).

The grid feeds one prompt at a time without padding to a model without a sliding window, so the model's mask
is causal by construction (`memory_eval` checks the model config); queries after a cached prefix see the
keys up to their own position.
"""

from __future__ import annotations

import numpy as np
import torch

from .lab_passes import SELECT_CHUNK, LabPass, PassCancelledError
from .params import PatternError
from .patterns.learned import TopK, top_per_row


def only_topk(expr) -> TopK | None:
    """The TopK primitive when the pattern is exactly one TopK (no union, no intersection), else None."""
    if expr is None:
        return None
    terms = expr.terms()
    if len(terms) == 1 and len(terms[0]) == 1 and isinstance(terms[0][0], TopK):
        return terms[0][0]
    return None


def topk_attention(q, k, v, top: int, scaling: float, groups: int, chunk: int = SELECT_CHUNK) -> torch.Tensor:
    """(H, T, dv) attention of T queries q (H, T, d) ending the S keys k, v (Hkv, S, ·), each query reading
    the `top` keys with the highest q·k among the keys up to its position (all of them when fewer).

    Scores are computed once per query chunk over the keys visible to its last row and reused for the
    softmax; at most (H, chunk, S) floats are held."""
    heads, t, _ = q.shape
    s = k.shape[-2]
    keys = k.repeat_interleave(groups, dim=0) if groups > 1 else k
    values = v.repeat_interleave(groups, dim=0) if groups > 1 else v
    out = torch.empty((heads, t, v.shape[-1]), dtype=q.dtype, device=q.device)
    for lo in range(0, t, chunk):
        hi = min(t, lo + chunk)
        visible = s - t + hi  # keys after the chunk's last query are invisible to every row of it
        scores = torch.matmul(q[:, lo:hi].float(), keys[:, :visible].float().transpose(-1, -2))  # (H, c, V)
        rows = torch.arange(s - t + lo, s - t + hi, device=q.device)
        hidden = torch.arange(visible, device=q.device)[None, :] > rows[:, None]  # (c, V): after the row
        scores.masked_fill_(hidden, -torch.inf)
        keep = _top_keys(scores, min(top, visible), rows + 1)
        keep &= ~hidden  # a row with fewer than `top` visible keys took some hidden ones
        logits = (scores * scaling).masked_fill_(~keep, -torch.inf)  # a row keeps at least its own key
        probs = torch.softmax(logits, dim=-1)
        out[:, lo:hi] = torch.matmul(probs.to(values.dtype), values[:, :visible])
    return out


def _top_keys(scores: torch.Tensor, top: int, widths: torch.Tensor) -> torch.Tensor:
    """(H, c, V) bool: the `top` highest scores of each row, the engine's rule (`top_per_row`: argpartition's
    choice, ties included). On the CPU by selection on values (np.partition), 5x faster than torch.topk here;
    elsewhere torch.topk unsorted (the same set but for ties). widths (c,): visible keys of each row."""
    if scores.device.type != "cpu":
        chosen = scores.topk(top, dim=-1, sorted=False).indices
        return torch.zeros(scores.shape, dtype=torch.bool, device=scores.device).scatter_(-1, chosen, True)
    heads, c, v = scores.shape
    flat = scores.detach().reshape(heads * c, v).numpy()  # (H·c, V), a view
    width = np.tile(widths.numpy(), heads)
    return torch.from_numpy(top_per_row(flat, top, width, drop_neg_inf=True)).reshape(heads, c, v)


def causal_attention(q, k, v, scaling: float, groups: int, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(H, T, dv): T queries ending the S keys, each reading the keys up to its position (and, given `allowed`
    (T, S) bool, only those it keeps; an empty row reads its own key, the lab's rule)."""
    t, s = q.shape[-2], k.shape[-2]
    if allowed is None and t == s:
        mask = None
    else:
        rows = torch.arange(s - t, s, device=q.device)
        mask = torch.arange(s, device=q.device)[None, :] <= rows[:, None]
        if allowed is not None:
            mask = mask & allowed
            empty = ~mask.any(-1)
            if bool(empty.any()):
                mask[empty.nonzero().flatten(), rows[empty]] = True
    return torch.nn.functional.scaled_dot_product_attention(
        q[None],
        k[None],
        v[None],
        attn_mask=mask,
        is_causal=mask is None and t > 1,
        scale=scaling,
        enable_gqa=groups > 1,
    )[0]


class GridPass(LabPass):
    """`LabPass` for the retrieval grid: top-k from one score matrix; on a GPU, every arm (see the module doc)."""

    device_shared: torch.Tensor | None = None  # the structured (N, N) mask on the model's device (GPU)

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        top = only_topk(self.expr) if self.mode == "decode" else None
        on_cpu = query.device.type == "cpu"
        if on_cpu and top is None:
            return super().attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
        if query.shape[0] != 1:
            raise PatternError("the lab runs one text at a time (batch size 1)")
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        q, k, v = query[0], key[0], value[0]
        groups = q.shape[0] // k.shape[0]
        t, s = q.shape[-2], k.shape[-2]
        if top is not None:
            out = topk_attention(q, k, v, top.k, scaling, groups)
        elif self.mode == "dense":
            out = causal_attention(q, k, v, scaling, groups)
        elif self.mode == "decode" and self.shared is not None:
            if self.device_shared is None or self.device_shared.device != q.device:
                self.device_shared = self.shared.to(q.device)
            out = causal_attention(q, k, v, scaling, groups, self.device_shared[s - t : s, :s])
        else:
            raise PatternError(
                f"on {query.device.type} the grid runs dense, structured patterns and top-k only", "memory_device"
            )
        self.layer += 1
        if self.stop is not None and self.stop():
            raise PassCancelledError(f"stopped after layer {self.layer}")
        return out.transpose(0, 1)[None].contiguous(), None
