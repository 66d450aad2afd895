"""The cached dense passes stay within their count and byte bounds, and the newest always stays."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from sparse_core import attention as A
from sparse_core import models, passes

pytestmark = pytest.mark.slow  # loads MiniLM (~9 CPU-s): a model test

TEXTS = ["The cat sat on the mat.", "A dog ran in the park today.", "Rain fell on the quiet town all night."]


@pytest.fixture
def lm():
    return models.load("minilm")


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(passes, "_DENSE", OrderedDict())


def test_forward_bytes_counts_each_layers_q_and_k(lm):
    run = A.dense_run(lm, A.tokenize(lm, TEXTS[0]).ids)
    qk = sum(rec.q.numel() * rec.q.element_size() + rec.k.numel() * rec.k.element_size() for rec in run.layers)
    assert qk <= A.forward_bytes(run) < qk + 2**20


def test_the_byte_bound_evicts_the_oldest_but_keeps_the_newest(lm, monkeypatch):
    runs = [A.dense_run(lm, A.tokenize(lm, text).ids) for text in TEXTS]
    assert len(passes._DENSE) == 3 and A.dense_run(lm, A.tokenize(lm, TEXTS[0]).ids) is runs[0]  # a hit, no new pass
    monkeypatch.setattr(passes, "DENSE_CACHE_BYTES", A.forward_bytes(runs[0]) + A.forward_bytes(runs[1]) + 1)
    A.dense_run(lm, A.tokenize(lm, "One more sentence, longer than the others by a few words.").ids)
    assert len(passes._DENSE) <= 2
    assert sum(A.forward_bytes(r) for r in passes._DENSE.values()) <= passes.DENSE_CACHE_BYTES
    monkeypatch.setattr(passes, "DENSE_CACHE_BYTES", 1)
    newest = A.dense_run(lm, A.tokenize(lm, TEXTS[1]).ids)
    assert [id(r) for r in passes._DENSE.values()] == [id(newest)]


def test_the_count_bound_still_holds(lm, monkeypatch):
    monkeypatch.setattr(passes, "DENSE_CACHE_SIZE", 2)
    for text in TEXTS:
        A.dense_run(lm, A.tokenize(lm, text).ids)
    assert len(passes._DENSE) == 2
