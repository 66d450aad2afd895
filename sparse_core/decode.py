"""Greedy continuation of a text under dense attention and under a pattern applied to the KV cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import dispatch, models
from .analysis import dense_mask
from .lab_args import DEFAULT_TOKENS, MAX_NEW_TOKENS, MAX_TOKENS
from .lab_passes import MODEL_LOCK, LabPass
from .params import PatternError
from .patterns.base import Expr
from .registry import make
from .selection import causal_variant
from .tokens import tokenize


def pattern_expr(lm: models.LoadedModel, name: str, params: dict) -> Expr:
    """The pattern as the model runs it (its causal variant on a causal LM)."""
    spec = make(name, lm.info.causal, **params)
    expr = spec.expr()
    return causal_variant(expr) if lm.info.causal else expr


def tokens_for(lm: models.LoadedModel, text: str, max_tokens: int) -> list[int]:
    """The token ids the lab runs on: the text's first max_tokens tokens (bounded by the model)."""
    limit = min(int(max_tokens), MAX_TOKENS if lm.info.key in models.MODELS else lm.info.max_tokens)
    return tokenize(lm, text, limit).ids


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
def greedy_ids(lm, ids: list[int], steps: int, run: LabPass, cache=None) -> list[int]:
    """`steps` greedy new token ids after `ids` under the lab pass `run` (dense, or decode with a pattern).

    `cache` (a transformers DynamicCache) may already hold a prefix of `ids`: then only the rest is
    fed, and the cache is extended in place. Only the last position's logits are computed
    (`logits_to_keep=1`): the vocabulary projection of every prompt token is never needed here."""
    from transformers import DynamicCache

    if cache is None:
        cache = DynamicCache()
    done = cache.get_seq_length()
    if not 0 <= done < len(ids):
        raise PatternError(f"the cache holds {done} tokens; it must hold fewer than the {len(ids)} given")
    out: list[int] = []
    current = torch.tensor([ids[done:]])
    with MODEL_LOCK:
        dispatch.use(lm.model)
        with dispatch.running(run):
            for _ in range(steps):
                run.layer = 0
                logits = lm.model(input_ids=current, cache=cache, use_cache=True, logits_to_keep=1).logits
                nxt = int(logits[0, -1].argmax())
                out.append(nxt)
                current = torch.tensor([[nxt]])
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
    expr = pattern_expr(lm, name, params)
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
    dense_ids = greedy_ids(lm, ids, max_new_tokens, LabPass("dense", jobs=[]))
    run = LabPass("decode", n_total=total, expr=expr, shared=shared, reads=[] if record_reads else None)
    sparse_ids = greedy_ids(lm, ids, max_new_tokens, run)
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
