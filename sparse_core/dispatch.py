"""The one attention function registered with transformers, which hands every layer to the pass running in its thread.

Every model this process loads routes attention through `attention` (registered once as
`IMPLEMENTATION` with AttentionInterface, and `model_mask` under the same name with
AttentionMaskInterface, so the function receives the model's own mask: additive floats, as eager
attention reads it, or booleans for a pass that says it reads them (`boolean_mask`)). Which pass a
layer belongs to is found in a context variable set by `running(pass_)`: a context variable is
per thread, so an inspector pass and a lab pass on the same cached model object, in two threads
at once, each see only their own pattern, recordings and layer counter. Outside any pass the
function is plain eager attention.

Before this module the inspector and the lab registered two functions under two names and each
switched the shared model to its own: a switch during the other's pass sent that pass's remaining
layers to the wrong function. Now the model's implementation is set once and never changes.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import torch

IMPLEMENTATION = "sparse_explorer"


class Pass(Protocol):
    """Per-forward state of one pass: it computes each layer's attention and records what it needs."""

    def attend(self, module, query, key, value, attention_mask, scaling, dropout, **kwargs) -> tuple[Any, Any]:
        """One layer: query (1, H, T, d), key and value (1, Hkv, S, d) -> (output (1, T, H, d), weights or None)."""
        ...


_ACTIVE: contextvars.ContextVar[Pass | None] = contextvars.ContextVar("sparse_explorer_pass", default=None)
_REGISTER_LOCK = threading.Lock()
_registered = False


def active() -> Pass | None:
    """The pass running in this thread (None outside any pass)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def running(pass_: Pass) -> Iterator[Pass]:
    """Make `pass_` the one this thread's attention calls go to, for the duration of the block."""
    token = _ACTIVE.set(pass_)
    try:
        yield pass_
    finally:
        _ACTIVE.reset(token)


def eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Plain eager attention (GQA, soft-capping and the model's additive mask), as transformers computes it."""
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    groups = query.shape[1] // key.shape[1]
    keys = key.repeat_interleave(groups, dim=1) if groups > 1 else key  # head h reads kv head h // groups
    values = value.repeat_interleave(groups, dim=1) if groups > 1 else value
    scores = torch.matmul(query, keys.transpose(-1, -2)) * scaling  # (B, H, T, S)
    softcap = kwargs.get("softcap")
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : keys.shape[-2]]
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if dropout and module.training:
        probs = torch.nn.functional.dropout(probs, p=dropout)
    return torch.matmul(probs, values).transpose(1, 2).contiguous(), probs


def model_mask(*args, **kwargs):
    """The registered mask builder: the model's mask as this thread's pass reads it.

    Outside a pass, and for a pass without a true `boolean_mask` attribute, the additive float mask of
    eager attention (0 kept, the dtype's minimum dropped). A pass with `boolean_mask` gets the same mask
    as booleans (True kept), never skipped as "causal" (None still means "no mask at all", as for eager):
    at 8,192 tokens the float mask is a (n, n) float32 tensor of 256 MiB built for every prefill, the
    boolean one 64 MiB, and reading it as `allowed` then needs no (n, n) comparison."""
    from transformers.masking_utils import eager_mask, sdpa_mask

    if getattr(_ACTIVE.get(), "boolean_mask", False):
        kwargs.pop("dtype", None)
        kwargs["allow_is_causal_skip"] = False
        return sdpa_mask(*args, **kwargs)
    return eager_mask(*args, **kwargs)


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The registered AttentionInterface function: this thread's pass computes the layer, else plain eager."""
    pass_ = _ACTIVE.get()
    if pass_ is None:
        return eager(module, query, key, value, attention_mask, scaling, dropout, **kwargs)
    return pass_.attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs)


def use(model) -> None:
    """Route the model's attention through `attention` (idempotent; the implementation never changes after)."""
    global _registered
    with _REGISTER_LOCK:
        if not _registered:
            from transformers import AttentionInterface
            from transformers.masking_utils import AttentionMaskInterface

            AttentionInterface.register(IMPLEMENTATION, attention)
            AttentionMaskInterface.register(IMPLEMENTATION, model_mask)
            _registered = True
        if getattr(model.config, "_attn_implementation", None) != IMPLEMENTATION:
            model.set_attn_implementation(IMPLEMENTATION)
