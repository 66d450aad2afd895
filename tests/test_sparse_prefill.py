"""The structured sparse prefill (`lab_passes._block_plan` / `_gathered_layer`) against independent references.

The plan cuts the queries into segments that each read the union of their rows' kept keys; these tests
check it keeps exactly the pattern's pairs, that its work stays near the kept pairs for BigBird whose
fitted block does not divide 64 (the case that fixed 64-blocks executed at 2.5×), and that the gathered
attention equals a float64 masked softmax written out here. The model-level tests check the whole prefill
against the lab's sparse pass, and that the boolean model mask (`dispatch.model_mask`) changes no output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparse_core import dense_mask, make
from sparse_core.fit import fit
from sparse_core.lab_passes import LabPass, _block_plan, _gathered_layer


def _causal_rows(expr, t: int, s: int) -> np.ndarray:
    """The pattern's rows for t queries ending s keys, causal, an empty row keeping its own token (the lab's rule)."""
    want = np.tril(dense_mask(expr, s), 0)[s - t :]
    rows = np.arange(s - t, s)
    empty = ~want.any(-1)
    want[empty, rows[empty]] = True
    return want


def _plan(expr, t: int, s: int) -> tuple[LabPass, list]:
    run = LabPass("decode", n_total=s, expr=expr, shared=torch.from_numpy(dense_mask(expr, s)))
    return run, _block_plan(run, t, s)


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(["bigbird", "streaming", "strided", "longformer"]),
    s=st.integers(1, 300),
    data=st.data(),
)
def test_the_segments_keep_exactly_the_patterns_pairs(name, s, data):
    """Segments are consecutive and cover every query; their keys are sorted positions; scattering their masks
    back gives the causal pattern's rows (empty rows their own token); every gathered key is read by a row."""
    t = data.draw(st.integers(1, s))
    params = {"bigbird": {"block": data.draw(st.integers(3, 40))}, "streaming": {"sinks": 2, "window": 17}}
    expr = make(name, True, **params.get(name, {})).expr()
    _, plan = _plan(expr, t, s)
    got = np.zeros((t, s), dtype=bool)
    edge = 0
    for lo, hi, idx, sub in plan:
        assert lo == edge and hi > lo
        edge = hi
        assert bool((idx[1:] > idx[:-1]).all()) and sub.shape == (hi - lo, len(idx))
        assert bool(sub.any(0).all())  # no key is gathered that no row of the segment reads
        got[lo:hi, idx.numpy()] = sub.numpy()
    assert edge == t
    assert np.array_equal(got, _causal_rows(expr, t, s))


@pytest.mark.slow  # a 4,096-token plan and its dense rows (~3 CPU-s): make test runs it
def test_bigbird_segments_follow_its_blocks():
    """BigBird fitted to 10 % of 4,096 tokens has blocks of 34, each with its own random blocks: the segments
    follow them, so they compute at most 1.4× the kept pairs, a third of what fixed 64-row blocks over 64-key
    blocks compute (4.1×: a 64-row block straddles two or three of its blocks and reads all their random blocks).
    Shorter texts have too few kept pairs per row for this: there one call's overhead decides."""
    f = fit("bigbird", 4096, 0.1, True)
    expr = make("bigbird", True, **f.params).expr()
    _, plan = _plan(expr, 4096, 4096)
    executed = sum((hi - lo) * len(idx) for lo, hi, idx, _ in plan)
    kept = sum(int(sub.sum()) for *_, sub in plan)
    causal = _causal_rows(expr, 4096, 4096)
    assert kept == int(causal.sum())
    blocks = causal.reshape(64, 64, 64, 64).any((1, 3))  # (query block, key block) with a kept pair
    fixed = int(blocks.sum()) * 64 * 64
    assert executed <= 1.4 * kept, (f.params, executed / kept)
    assert 3 * executed <= fixed, (executed / kept, fixed / kept)


def _reference(q, k, v, keep, scaling, groups) -> torch.Tensor:
    """Masked attention in float64, written out: scores, -inf where not kept, softmax, weighted values."""
    keys = k.double().repeat_interleave(groups, dim=0)
    values = v.double().repeat_interleave(groups, dim=0)
    scores = torch.matmul(q.double(), keys.transpose(-1, -2)) * scaling
    scores = scores.masked_fill(~keep, -torch.inf)
    return torch.matmul(torch.softmax(scores, dim=-1), values)


@pytest.mark.parametrize(("t", "s"), [(1024, 1024), (512, 1024), (1, 700)])
@pytest.mark.parametrize("name", ["bigbird", "streaming"])
def test_the_gathered_prefill_is_masked_attention(name, t, s):
    """At 10 % (BigBird's fitted block 8 at 1,024 tokens, its window, global and random blocks all present),
    the segment-gathered layer equals masked attention computed densely in float64, GQA heads included."""
    f = fit(name, s, 0.1, True)
    expr = make(name, True, **f.params).expr()
    run, _ = _plan(expr, t, s)
    gen = torch.Generator().manual_seed(t + s)
    q = torch.randn((6, t, 16), generator=gen)
    k = torch.randn((2, s, 16), generator=gen)
    v = torch.randn((2, s, 16), generator=gen)
    got = _gathered_layer(run, q, k, v, 0.25, 3)
    want = _reference(q, k, v, torch.from_numpy(_causal_rows(expr, t, s)), 0.25, 3)
    assert float((got.double() - want).abs().max()) < 1e-5


@pytest.mark.model
def test_bigbird_prefill_at_its_fitted_block_is_the_labs_sparse_pass():
    """SmolLM2 in float64, 512 tokens, BigBird fitted to 10 % (block 4: every 64-row block straddles sixteen of
    its blocks): the decode-mode prefill (segment gather) gives the final hidden states of the lab's sparse
    pass (SDPA with the whole mask) to float64 rounding. In float32 the two differ by up to ~1e-2 at 768
    tokens, as each does from a float64 run (30 layers amplify rounding), so only float64 tells a wrong key
    from rounding."""
    from sparse_core import dispatch, models
    from sparse_core.decode import pattern_expr

    lm = models.load("smollm2")
    ids = list(range(3000, 3512))
    f = fit("bigbird", len(ids), 0.1, True)
    expr = pattern_expr(lm, "bigbird", f.params)
    shared = torch.from_numpy(dense_mask(expr, len(ids)))

    def hidden(run: LabPass) -> torch.Tensor:  # run_pass, without its final cast to float32
        with torch.inference_mode(), dispatch.running(run):
            return lm.model.base_model(input_ids=torch.tensor([ids]), use_cache=False).last_hidden_state[0]

    dispatch.use(lm.model)
    lm.model.double()  # the cached model: its float32 values survive the round trip exactly
    try:
        want = hidden(LabPass("sparse", expr=expr, shared=shared, method="sdpa"))
        got = hidden(LabPass("decode", n_total=len(ids), expr=expr, shared=shared))
    finally:
        lm.model.float()
    assert want.dtype == torch.float64
    assert float((want - got).abs().max()) < 1e-9


@pytest.mark.model
@pytest.mark.parametrize("model", ["smollm2", "minilm"])
def test_the_boolean_model_mask_changes_no_output(model):
    """A lab pass reads the model's mask as booleans (`dispatch.model_mask`); with the additive float mask
    of eager attention instead, every mode gives the same hidden states, bit for bit."""
    from sparse_core import models
    from sparse_core.lab_passes import Job, run_pass

    lm = models.load(model)
    causal = lm.info.causal
    ids = list(range(2000, 2200))
    expr = make("window", causal, window=9).expr()
    shared = torch.from_numpy(dense_mask(expr, len(ids)))

    def passes(boolean: bool) -> list[LabPass]:
        made = [
            LabPass("dense", jobs=[]),
            LabPass("dense", jobs=[Job("w", expr, shared)]),
            LabPass("sparse", expr=expr, shared=shared, method="sdpa"),
            LabPass("sparse", expr=expr, shared=shared, method="blocks"),
        ]
        if causal:
            made.append(LabPass("decode", n_total=len(ids), expr=expr, shared=shared))
        for p in made:
            p.boolean_mask = boolean
        return made

    seen: list[torch.dtype | None] = []
    for a, b in zip(passes(True), passes(False), strict=True):
        original = type(a).attend

        def spy(self, module, query, key, value, attention_mask, *args, _orig=original, **kwargs):
            seen.append(None if attention_mask is None else attention_mask.dtype)
            return _orig(self, module, query, key, value, attention_mask, *args, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(LabPass, "attend", spy)
            got = run_pass(lm, ids, a)
            want = run_pass(lm, ids, b)
        assert torch.equal(got, want), a.mode
        if a.mode == "dense" and a.jobs:
            assert np.array_equal(np.stack(a.jobs[0].mass), np.stack(b.jobs[0].mass))
    if causal:  # a bidirectional model without padding gets no mask at all, either way
        assert torch.bool in seen and torch.float32 in seen


class _Recording(LabPass):
    """A plain dense pass that keeps every layer's query and key (1, H, T, d) as the model computed them."""

    def __init__(self):
        super().__init__("dense", jobs=[])
        self.qk: list[tuple[torch.Tensor, torch.Tensor, float]] = []

    def attend(self, module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        self.qk.append((query[0].clone(), key[0].clone(), scaling))
        return super().attend(module, query, key, value, attention_mask, scaling, dropout, **kwargs)


@pytest.mark.model
@pytest.mark.parametrize(
    ("name", "params"),
    [("block_gating", {"block": 16, "top_blocks": 3}), ("block_gating", {"block": 8, "top_blocks": 6})],
)
def test_the_prefills_selection_is_the_labs_on_the_models_own_queries(name, params):
    """On SmolLM2's own q and k (every layer, 400 tokens: real near-ties, unlike random data), the retrieval
    prefill's chunked row rule keeps exactly the pairs the lab's sparse pass keeps (the engine's NumPy rule per
    head). They differed when the row rule scored blocks in float32 and the engine in float64: 4e-4 apart in the
    hidden states (1.7e-4 at block 16, top 3 on this text)."""
    from sparse_core import models
    from sparse_core.decode import pattern_expr
    from sparse_core.head_masks import head_masks, with_self
    from sparse_core.lab_passes import SELECT_CHUNK, _selection, run_pass

    lm = models.load("smollm2")
    ids = list(range(2000, 2400))
    rec = _Recording()
    run_pass(lm, ids, rec)
    expr = pattern_expr(lm, name, params)
    run = LabPass("decode", n_total=len(ids), expr=expr)
    n = len(ids)
    for layer, (q, k, scaling) in enumerate(rec.qk):
        groups = q.shape[0] // k.shape[0]
        keys = k.repeat_interleave(groups, dim=0)
        got = torch.cat(
            [_selection(run, q, keys, lo, min(n, lo + SELECT_CHUNK)) for lo in range(0, n, SELECT_CHUNK)], 1
        )
        want = with_self(head_masks(expr, q, k, scaling, groups) & torch.ones((n, n), dtype=torch.bool).tril(), n, n)[0]
        assert torch.equal(got, want), (layer, int((got != want).sum()))
