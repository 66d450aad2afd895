"""Dense vs sparse attention of a real model on real text.

The pattern is injected as a 4-D additive mask (0 kept, finfo.min dropped) into every layer, so
later layers see sparse inputs; eager attention then returns exactly zero outside the pattern.
For causal models the pattern is intersected with the causal mask. Only what the inspector shows
is kept: attention maps as float16, plus per-head and per-token summaries.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from html import escape

import numpy as np
import torch

from .analysis import dense_mask
from .models import LoadedModel
from .params import PatternError
from .patterns.base import Expr

DISPLAY_LIMIT = 256  # tokens the inspector draws and keeps maps for
MAX_DISPLAY_LIMIT = 512


@dataclass
class Tokens:
    ids: list[int]
    labels: list[str]  # what a person reads on an axis: characters, never bytes; HTML-escaped
    truncated_chars: int  # characters of the input that did not fit
    total_tokens: int  # tokens the whole text would need (for the notice)
    limit: int


def _visible(piece: str) -> str:
    out = []
    for ch in piece:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("⏎")
        elif ch == "\t":
            out.append("⇥")
        elif unicodedata.category(ch).startswith("C"):  # control and format characters
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def tokenize(lm: LoadedModel, text: str, limit: int = DISPLAY_LIMIT) -> Tokens:
    if not isinstance(text, str) or not text.strip():
        raise PatternError("the text is empty: paste some text or pick an example")
    limit = max(2, min(limit, lm.info.max_tokens))
    # Tokenise a generous prefix only: 100,000 characters never reach the model anyway.
    head = text[: limit * 32]
    enc = lm.tokenizer(head, return_offsets_mapping=True, truncation=True, max_length=limit,
                       add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    special = set(lm.tokenizer.all_special_ids)
    labels, previous = [], None
    for tid, (start, end) in zip(ids, offsets, strict=True):
        if tid in special and start == end:
            label = lm.tokenizer.convert_ids_to_tokens(tid)
        elif (start, end) == previous:
            label = "·" + _visible(text[start:end])  # another byte of the same character
        else:
            label = _visible(text[start:end]) or "∅"
        previous = (start, end)
        labels.append(escape(label, quote=False))  # plotly reads tick text as HTML
    covered = max((end for _, end in offsets), default=0)
    total = len(ids)
    if text[covered:].strip():  # something readable was cut: say how much
        total = len(lm.tokenizer(text[:200_000], add_special_tokens=True)["input_ids"])
    return Tokens(ids, labels, len(text[covered:].rstrip()) if total > len(ids) else 0, total, limit)


def additive_mask(keep: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """(T, T) bool -> (1, 1, T, T) additive float mask; a boolean 4-D mask is silently wrong under eager."""
    mask = torch.zeros((1, 1, *keep.shape), dtype=dtype)
    mask[0, 0][~torch.as_tensor(keep)] = torch.finfo(dtype).min
    return mask


@dataclass
class Forward:
    attentions: np.ndarray  # (L, H, T, T) float16
    hidden: np.ndarray  # (T, D) final hidden states
    logits: np.ndarray | None  # (T, V) for causal LMs
    queries: np.ndarray | None = None  # (T, d) of the captured head
    keys: np.ndarray | None = None


def _capture_qk(lm: LoadedModel, layer: int, head: int, ids: torch.Tensor):
    """Hooks that record one head's query and key vectors as the model computes them."""
    model, store = lm.model, {}
    cfg = model.config
    d = cfg.hidden_size // cfg.num_attention_heads
    try:
        if lm.info.causal:
            attn = model.model.layers[layer].self_attn
            q_mod, k_mod = attn.q_proj, attn.k_proj
            kv_head = head // (cfg.num_attention_heads // cfg.num_key_value_heads)
        else:
            attn = model.encoder.layer[layer].attention.self
            q_mod, k_mod = attn.query, attn.key
            kv_head = head
    except (AttributeError, IndexError):
        raise PatternError("data-dependent patterns read queries and keys from BERT- or Llama-style layers; "
                           f"{type(model).__name__} is neither: pick a structured pattern") from None

    def grab(name, index):
        def hook(_module, _inputs, output):
            store[name] = output[0, :, index * d:(index + 1) * d].detach()
        return hook

    handles = [q_mod.register_forward_hook(grab("q", head)), k_mod.register_forward_hook(grab("k", kv_head))]

    def finish():
        for h in handles:
            h.remove()
        q, k = store["q"], store["k"]
        if lm.info.causal:  # the scores use rotated vectors: apply the model's RoPE
            from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

            positions = torch.arange(ids.shape[1])[None]
            cos, sin = model.model.rotary_emb(q[None], positions)
            q, k = apply_rotary_pos_emb(q[None, None], k[None, None], cos, sin)
            q, k = q[0, 0], k[0, 0]
        return q.float().numpy(), k.float().numpy()

    return finish


@torch.inference_mode()
def forward(lm: LoadedModel, ids: list[int], keep: np.ndarray | None = None,
            capture: tuple[int, int] | None = None) -> Forward:
    input_ids = torch.tensor([ids])
    finish = _capture_qk(lm, *capture, input_ids) if capture else None
    kwargs = {"output_attentions": True}
    if keep is not None:
        kwargs["attention_mask"] = additive_mask(keep)
    out = lm.model(input_ids, **kwargs, output_hidden_states=True)
    q = k = None
    if finish:
        q, k = finish()
    attn = torch.stack([a[0] for a in out.attentions]).to(torch.float16).numpy()  # (L, H, T, T)
    logits = out.logits[0].numpy() if lm.info.causal else None
    return Forward(attn, out.hidden_states[-1][0].numpy(), logits, q, k)


@dataclass
class Comparison:
    tokens: Tokens
    keep: np.ndarray  # (T, T) the mask applied, causal included for causal models
    dense: Forward
    sparse: Forward
    mass_kept: np.ndarray  # (L, H): mean over queries of dense attention mass inside the mask
    cosine: np.ndarray  # (T,) cosine similarity of final hidden states, dense vs sparse
    agreement: float | None  # causal LMs: share of positions whose next-token argmax agrees
    perplexity_dense: float | None
    perplexity_sparse: float | None
    qk_source: tuple[int, int] | None  # (layer, head) whose vectors chose a data-dependent mask
    rows_fixed: int  # query rows the pattern left empty; they keep themselves


def mass_kept(attentions: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(L, H, T, T) attention, (T, T) mask -> (L, H) mean share of each row's mass kept."""
    return np.einsum("lhij,ij->lh", attentions.astype(np.float32), keep.astype(np.float32)) / keep.shape[0]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def compare(lm: LoadedModel, tokens: Tokens, expr: Expr, qk_source: tuple[int, int] = (0, 0)) -> Comparison:
    n = len(tokens.ids)
    capture = qk_source if expr.data_dependent else None
    dense = forward(lm, tokens.ids, capture=capture)
    vectors = (dense.queries, dense.keys) if capture else None
    keep = dense_mask(expr, n, vectors)
    if lm.info.causal:
        keep = keep & np.tril(np.ones((n, n), dtype=bool))
    empty = ~keep.any(axis=1)
    keep[np.flatnonzero(empty), np.flatnonzero(empty)] = True  # a softmax over nothing is undefined
    sparse = forward(lm, tokens.ids, keep)
    agreement = ppl_d = ppl_s = None
    if lm.info.causal:
        agreement = float((dense.logits.argmax(-1) == sparse.logits.argmax(-1)).mean())
        ppl_d, ppl_s = perplexity(dense.logits, tokens.ids), perplexity(sparse.logits, tokens.ids)
    return Comparison(tokens, keep, dense, sparse, mass_kept(dense.attentions, keep),
                      cosine_rows(dense.hidden, sparse.hidden), agreement, ppl_d, ppl_s, capture, int(empty.sum()))


def thumbnails(attentions: np.ndarray, size: int = 32) -> np.ndarray:
    """(L, H, T, T) -> (L, H, s, s) max-pooled maps for the layers x heads overview."""
    t = attentions.shape[-1]
    s = min(size, t)
    edges = np.linspace(0, t, s + 1).astype(int)
    rows = np.maximum.reduceat(attentions.astype(np.float32), edges[:-1], axis=2)
    return np.maximum.reduceat(rows, edges[:-1], axis=3)
