"""One attention function per model process: passes in two threads on one model never see each other.

Before `sparse_core.dispatch`, the inspector and the lab each registered their own attention function
and switched the shared model to it; an inspector pass arriving during a lab pass sent the lab's
remaining layers to the inspector's function and the lab failed ("ran 3 attention layers ... expected
6"). Here each test pauses one pass in the middle of its layers, runs the other pass to completion in
another thread on the same model object, then lets the first finish: both must equal their results
alone, exactly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest

from sparse_core import attention as A
from sparse_core import dispatch, lab, lab_passes, make, models, passes

TEXT = (
    "The keeper climbed the eighty-one steps at sunset, trimmed the wick and lit the lamp. Every four hours "
    "through the night she wound the clockwork again, and at dawn she wrote the weather in the log."
)
PAUSE_AFTER = 3  # layers of MiniLM's 6 done when the paused pass stops


@pytest.fixture
def lm(lab_memory_cache, monkeypatch):
    monkeypatch.setattr(passes, "_DENSE", OrderedDict())  # the inspector's dense pass really runs
    lab_passes.clear_dense()
    return models.load("minilm")


def _inspect(lm):
    return A.compare(lm, A.tokenize(lm, TEXT), make("window", False, window=8).expr())


def _lab():
    lab.clear_cache(memory_only=True)
    return lab.run_lab("minilm", TEXT, ["window"], [0.2], max_tokens=64)


def _same_comparison(a, b) -> None:
    assert np.array_equal(a.dense.hidden, b.dense.hidden)
    assert np.array_equal(a.sparse.hidden, b.sparse.hidden)
    assert np.array_equal(a.mass_kept, b.mass_kept) and np.array_equal(a.cosine, b.cosine)
    assert np.array_equal(a.thumbs_sparse, b.thumbs_sparse)
    assert np.array_equal(a.sparse.attentions[5, 11], b.sparse.attentions[5, 11])


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    columns = [c for c in a.columns if c != "cached" and c not in lab.MEASURED_COLUMNS]  # timings differ run to run
    pd.testing.assert_frame_equal(a[columns], b[columns], check_exact=True)
    assert a.attrs["mass_heads"] == b.attrs["mass_heads"]


def _in_thread(fn, results: dict, name: str) -> threading.Thread:
    def body():
        try:
            results[name] = fn()
        except BaseException as e:  # reported by the assertion below, not lost in the thread
            results[name] = e

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread


def _pause(monkeypatch, cls, is_the_pass_to_pause):
    """Make the first matching pass of `cls` stop after PAUSE_AFTER layers until `resume` is set."""
    paused, resume = threading.Event(), threading.Event()
    original = cls.attend

    def attend(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if is_the_pass_to_pause(self) and not paused.is_set():
            paused.set()
            assert resume.wait(120), "the other pass never finished"
        return out

    monkeypatch.setattr(cls, "attend", attend)
    return paused, resume


def test_an_inspector_pass_in_the_middle_of_a_lab_pass(lm, monkeypatch):
    alone_lab, alone_inspector = _lab(), _inspect(lm)
    monkeypatch.setattr(passes, "_DENSE", OrderedDict())
    lab.clear_cache(memory_only=True)
    lab_passes.clear_dense()
    paused, resume = _pause(monkeypatch, lab_passes.LabPass, lambda p: p.mode == "sparse" and p.layer == PAUSE_AFTER)
    results: dict = {}
    lab_thread = _in_thread(_lab, results, "lab")
    assert paused.wait(120), "the lab pass never reached its pause"
    _in_thread(lambda: _inspect(lm), results, "inspector").join(120)
    resume.set()
    lab_thread.join(120)
    assert not isinstance(results["inspector"], BaseException), results["inspector"]
    assert not isinstance(results["lab"], BaseException), results["lab"]
    _same_comparison(results["inspector"], alone_inspector)
    _same_table(results["lab"], alone_lab)
    assert lm.model.config._attn_implementation == dispatch.IMPLEMENTATION


def test_a_lab_pass_in_the_middle_of_an_inspector_pass(lm, monkeypatch):
    alone_lab, alone_inspector = _lab(), _inspect(lm)
    monkeypatch.setattr(passes, "_DENSE", OrderedDict())
    lab.clear_cache(memory_only=True)
    lab_passes.clear_dense()
    sparse_pass = lambda p: p.masks is not None and len(p.layers) == PAUSE_AFTER  # noqa: E731
    paused, resume = _pause(monkeypatch, passes.InspectorPass, sparse_pass)
    results: dict = {}
    inspector_thread = _in_thread(lambda: _inspect(lm), results, "inspector")
    assert paused.wait(120), "the inspector pass never reached its pause"
    _in_thread(_lab, results, "lab").join(120)
    resume.set()
    inspector_thread.join(120)
    assert not isinstance(results["lab"], BaseException), results["lab"]
    assert not isinstance(results["inspector"], BaseException), results["inspector"]
    _same_comparison(results["inspector"], alone_inspector)
    _same_table(results["lab"], alone_lab)


def test_outside_any_pass_the_function_is_plain_eager(lm):
    import torch

    ids = A.tokenize(lm, TEXT).ids
    dispatch.use(lm.model)
    with torch.inference_mode():
        ours = lm.model(torch.tensor([ids])).last_hidden_state
        lm.model.set_attn_implementation("eager")
        try:
            eager = lm.model(torch.tensor([ids])).last_hidden_state
        finally:
            dispatch.use(lm.model)
    assert torch.equal(ours, eager)
