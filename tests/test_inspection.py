"""sparse_core.inspection: the inspector's one engine call, checked against transformers' own eager
attention and masks written literally from the pattern's definition (|i − j| < W)."""

import numpy as np
import pytest
import torch

from sparse_core import PatternError, models
from sparse_core.inspection import DENSE_SHARE, inspect_text, mask_states, selection_names

TEXT = "The key opens more than one door, said the old woman, and she smiled at the child. " * 2


def test_mask_states_against_a_literal_loop():
    rng = np.random.default_rng(3)
    applied = rng.random((7, 7)) < 0.4
    allowed = np.tril(np.ones((7, 7), dtype=bool))
    codes = mask_states(applied, allowed, [4])
    for i in range(7):
        for j in range(7):
            want = 3 if (i, j) == (4, 4) else 2 if j > i else 1 if applied[i, j] else 0
            assert codes[i, j] == want, (i, j)


def test_selection_names_say_which_estimate_runs():
    assert selection_names("window", None) == ()
    assert selection_names("vertical_slash", "vertical-slash: causal estimate") == ("vertical_slash", "vs_causal")
    assert selection_names("routing", "routing: online k-means") == ("routing_online",)
    assert selection_names("topk", None) == ("topk",)


@pytest.fixture(scope="module")
def minilm():
    return models.load("minilm")


def _eager_maps(lm, ids) -> np.ndarray:
    """(L, H, T, T) from transformers' own eager attention: the outside reference."""
    from sparse_core.dispatch import use

    lm.model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            out = lm.model(torch.tensor([ids]), output_attentions=True)
    finally:
        use(lm.model)
    return torch.stack([a[0] for a in out.attentions]).numpy()


@pytest.mark.model
def test_one_call_gives_the_maps_masks_and_numbers_of_a_literal_window(minilm):
    w = 5
    result = inspect_text(minilm, TEXT, "window", {"window": w}, max_tokens=64)
    n = result.n
    i, j = np.indices((n, n))
    literal = np.abs(i - j) < w  # CONTRIBUTING: a window of W keeps |i − j| < W
    assert result.params["window"] == w and not result.causal
    assert result.summary.density == pytest.approx(literal.sum() / n**2)
    assert result.summary.kept_pairs == literal.sum() * result.layers * result.heads
    assert result.selection == () and result.summary.dense is (result.summary.density > DENSE_SHARE)
    eager = _eager_maps(minilm, result.tokens.ids)
    for layer, head in ((0, 0), (2, 3), (result.layers - 1, result.heads - 1)):
        view = result.head(layer, head)
        assert np.array_equal(view.applied, literal)
        assert np.array_equal(view.states, literal.astype(np.uint8))  # an encoder may attend every pair
        np.testing.assert_allclose(view.dense, eager[layer, head], atol=1e-6)
        assert np.all(view.sparse[~literal] == 0)
        np.testing.assert_allclose(view.sparse.sum(-1), 1.0, atol=1e-5)
        assert view.mass_kept == pytest.approx((eager[layer, head] * literal).sum(-1).mean(), abs=1e-5)
        dense_row, sparse_row, kept = view.row(n // 2)
        assert np.array_equal(kept, literal[n // 2]) and dense_row is not sparse_row
    table = result.table()
    assert len(table["layer"]) == result.layers * result.heads
    brute = (eager * literal).sum(-1).mean(-1) * 100  # (L, H) mass kept in percent
    np.testing.assert_allclose(table["kept"], brute.ravel(), atol=1e-3)
    assert np.array_equal(table["empty"], np.zeros(result.layers * result.heads))


@pytest.mark.model
def test_bad_requests_are_messages(minilm):
    result = inspect_text(minilm, TEXT, "window", {"window": 3}, max_tokens=32)
    with pytest.raises(PatternError, match="outside the model"):
        result.head(result.layers, 0)
    with pytest.raises(PatternError, match="outside the text"):
        result.head(0, 0).row(result.n)
    with pytest.raises(PatternError, match="empty"):
        inspect_text(minilm, "   ", "window", {}, max_tokens=32)
    with pytest.raises(PatternError):
        inspect_text(minilm, TEXT, "window", {"window": -4}, max_tokens=32)
