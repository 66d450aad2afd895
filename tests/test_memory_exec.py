"""The retrieval grid's own attention (`memory_exec`): top-k from one score matrix against the primitive's own mask
(`TopK.dense`) and the lab's pass; the device path's masked causal attention against the lab's block gather; the
bfloat16 linear layers leave the shared model as it was."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import dense_mask, make
from sparse_core.lab_passes import LabPass, _gathered_layer
from sparse_core.memory_exec import causal_attention, only_topk, topk_attention


def reference(q, k, v, keep, scaling):
    """Softmax attention of q (H, T, d) over k, v (H, S, ·) restricted to keep (H, T, S), in float64."""
    scores = np.einsum("htd,hsd->hts", q.astype(np.float64), k.astype(np.float64)) * scaling
    scores = np.where(keep, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("hts,hsd->htd", probs, v.astype(np.float64))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 90), st.integers(1, 40), st.integers(1, 3), st.sampled_from([1, 3]), st.integers(0, 2**31 - 1))
def test_topk_reads_the_primitives_own_rows(s, top, t_cut, groups, seed):
    """T queries ending S keys (a cached prefix of S - T): each output row is attention over exactly the keys
    TopK.dense keeps in that row of the full (S, S) causal mask (the last T rows), chunked or not."""
    rng = np.random.default_rng(seed)
    t = max(1, s // t_cut)
    hkv, d = 2, 8
    q = rng.standard_normal((hkv * groups, s, d)).astype(np.float32)
    k = rng.standard_normal((hkv, s, d)).astype(np.float32)
    v = rng.standard_normal((hkv, s, d)).astype(np.float32)
    prim = make("topk", True, k=top).expr().terms()[0][0]
    keep = np.stack([prim.dense(q[h], k[h // groups])[s - t :] for h in range(hkv * groups)])
    kk, vv = np.repeat(k, groups, 0), np.repeat(v, groups, 0)
    want = reference(q[:, s - t :], kk, vv, keep, 0.3)
    for chunk in (7, 256):
        got = topk_attention(
            torch.from_numpy(q[:, s - t :]), torch.from_numpy(k), torch.from_numpy(v), top, 0.3, groups, chunk
        )
        assert np.abs(got.numpy() - want).max() < 1e-5


def test_only_topk_is_a_single_topk():
    assert only_topk(make("topk", True, k=5).expr()) is not None
    assert only_topk(make("block_gating", True, block=8, top_blocks=2).expr()) is None
    assert only_topk(None) is None


@pytest.mark.parametrize(("t", "s"), [(200, 200), (77, 200), (1, 130)])
def test_the_device_paths_structured_attention_is_the_lab_block_gather(t, s):
    """causal_attention under the pattern's (N, N) rows (the GPU path) equals the lab's block gather (CPU)."""
    rng = np.random.default_rng(t)
    expr = make("bigbird", True, block=16).expr()
    shared = torch.from_numpy(dense_mask(expr, s))
    q = torch.from_numpy(rng.standard_normal((6, t, 16)).astype(np.float32))
    k = torch.from_numpy(rng.standard_normal((2, s, 16)).astype(np.float32))
    v = torch.from_numpy(rng.standard_normal((2, s, 16)).astype(np.float32))
    run = LabPass("decode", n_total=s, expr=expr, shared=shared)
    want = _gathered_layer(run, q, k, v, 0.25, 3)
    got = causal_attention(q, k, v, 0.25, 3, shared[s - t : s, :s])
    assert float((want - got).abs().max()) < 1e-5
    dense = causal_attention(q, k, v, 0.25, 3)
    full = torch.ones((t, s), dtype=torch.bool)
    assert float((dense - causal_attention(q, k, v, 0.25, 3, full)).abs().max()) < 1e-5


@pytest.mark.model
def test_the_grid_pass_is_the_labs_pass_for_topk():
    """A top-k prefill through GridPass gives the lab's sparse pass (masked SDPA over rows_rule's choice)."""
    from sparse_core import models
    from sparse_core.decode import pattern_expr
    from sparse_core.lab_passes import run_pass
    from sparse_core.memory_exec import GridPass

    lm = models.load("smollm2")
    ids = list(range(2000, 2300))
    expr = pattern_expr(lm, "topk", {"k": 20})
    want = run_pass(lm, ids, LabPass("decode", n_total=len(ids), expr=expr))
    got = run_pass(lm, ids, GridPass("decode", n_total=len(ids), expr=expr))
    # float32 in another order over 30 layers (the last layer's states reach ~1e2): relative to their size
    assert float((want - got).norm() / want.norm()) < 1e-5
    assert float((want - got).abs().max()) < 1e-5 * float(want.abs().max()) * 10


@pytest.mark.model
def test_bfloat16_linears_are_declared_and_leave_the_model_as_it_was():
    """A grid with bfloat16 linear layers says so in every row; afterwards the shared model computes in float32
    exactly as before (the Lab's numbers are untouched), and float32 rows say float32."""
    from sparse_core import memory_eval, models
    from sparse_core.lab_passes import run_pass

    lm = models.load("smollm2")
    ids = list(range(3000, 3100))
    before = run_pass(lm, ids, LabPass("dense", jobs=[]))
    bf = memory_eval.run_memory("smollm2", "passkey", [256], [0.5], 1, linear_dtype="bfloat16")
    after = run_pass(lm, ids, LabPass("dense", jobs=[]))
    assert torch.equal(before, after)
    assert [r["linear_dtype"] for r in bf.rows] == ["bfloat16"]
    fp = memory_eval.run_memory("smollm2", "passkey", [256], [0.5], 1)
    assert [r["linear_dtype"] for r in fp.rows] == ["float32"]
    with pytest.raises(memory_eval.PatternError):
        memory_eval.run_memory("smollm2", "passkey", [256], [0.5], 1, linear_dtype="float16")


def _inference(layer, x):
    with torch.inference_mode():
        return layer(x)


@pytest.mark.model
def test_bfloat16_linears_really_compute_in_bfloat16_and_are_restored_bit_for_bit():
    """Inside `_linear_dtype`, every decoder linear layer (not the output head) computes with bfloat16 weights
    and inputs: its output is exactly bfloat16's product, off float32's by a bfloat16-sized amount. Afterwards
    each computes in float32 again, bit for bit as before."""
    from sparse_core import memory_eval, models

    lm = models.load("smollm2")
    linears = {n: m for n, m in lm.model.named_modules() if isinstance(m, torch.nn.Linear)}
    decoder = {n: m for n, m in linears.items() if not n.endswith("lm_head")}
    assert len(decoder) == 30 * 7 and len(linears) == len(decoder) + 1  # q, k, v, o, gate, up, down per layer
    name, layer = next(iter(decoder.items()))
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 5, layer.in_features)).astype(np.float32))
    with torch.inference_mode():
        fp32 = layer(x)
        with memory_eval._linear_dtype(lm.model, "bfloat16"):
            swapped = [n for n, m in linears.items() if "forward" in m.__dict__]
            bf = layer(x)
            # another session's pass on the shared model (the Inspector's, without MODEL_LOCK) stays float32
            other: list[torch.Tensor] = []
            thread = threading.Thread(target=lambda: other.append(_inference(layer, x)))
            thread.start()
            thread.join()
        again = layer(x)
    assert torch.equal(other[0], fp32)
    assert sorted(swapped) == sorted(decoder)
    want = torch.nn.functional.linear(x.bfloat16(), layer.weight.bfloat16()).float()
    assert bf.dtype == torch.float32 and torch.equal(bf, want), name
    rel = float((bf - fp32).norm() / fp32.norm())
    assert 1e-4 < rel < 2e-2  # bfloat16's 8-bit mantissa: ~0.4% per element, not float32's ~1e-7
    assert torch.equal(again, fp32) and layer.weight.dtype == torch.float32
    assert not any("forward" in m.__dict__ for m in linears.values())
