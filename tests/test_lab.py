"""Pattern Lab engine: independent perplexity, decoding that never reads a dropped key, CLI = page, cache."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sparse_core import PatternError, dense_mask, lab, lab_cli, lab_passes, make, models
from sparse_core.head_masks import head_masks

pytestmark = pytest.mark.model

TEXT = (
    "The keeper climbed the eighty-one steps at sunset, trimmed the wick and lit the lamp. Every four hours "
    "through the night she wound the clockwork again, and at dawn she wrote the weather in the log."
)


@pytest.fixture(autouse=True)
def _memory_cache_only(lab_memory_cache):
    yield


# -- an independent Llama forward: own RoPE, own GQA, own mask, own loss -------------------------
def _rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _rope(x, theta):
    t, d = x.shape[-2], x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None]
    cos = torch.cat([ang.cos(), ang.cos()], -1).float()
    sin = torch.cat([ang.sin(), ang.sin()], -1).float()
    half = torch.cat([-x[..., d // 2 :], x[..., : d // 2]], -1)
    return x * cos + half * sin


@torch.no_grad()
def _reference_llama(lm, ids, keep, measure=None):
    """Plain eager Llama on the model's weights with a given (T, T) keep mask (None: causal dense).

    `measure`: a (T, T) mask whose share of this pass's attention mass is averaged over layers, heads, rows."""
    cfg = lm.model.config
    sd = {k: v.float() for k, v in lm.model.state_dict().items()}
    t = len(ids)
    heads, kv, dh = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    theta = cfg.rope_parameters["rope_theta"]
    causal = np.tril(np.ones((t, t), dtype=bool))
    allowed = causal if keep is None else (keep & causal)
    empty = ~allowed.any(1)
    allowed[empty, np.flatnonzero(empty)] = True
    bias = torch.where(torch.from_numpy(allowed), 0.0, float("-inf"))
    x = sd["model.embed_tokens.weight"][torch.tensor(ids)]
    mass = []
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        h = _rms(x, sd[p + "input_layernorm.weight"], cfg.rms_norm_eps)
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(t, heads, dh).transpose(0, 1)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(t, kv, dh).transpose(0, 1)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(t, kv, dh).transpose(0, 1)
        q, k = _rope(q, theta), _rope(k, theta)
        k = k[torch.arange(heads) // (heads // kv)]
        v = v[torch.arange(heads) // (heads // kv)]
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        probs = torch.softmax(scores + bias, -1)
        if measure is not None:
            mass.append((probs * torch.from_numpy(measure & causal)).sum(-1).mean().item())
        a = (probs @ v).transpose(0, 1).reshape(t, heads * dh)
        x = x + a @ sd[p + "self_attn.o_proj.weight"].T
        h = _rms(x, sd[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
        gate = h @ sd[p + "mlp.gate_proj.weight"].T
        up = h @ sd[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    x = _rms(x, sd["model.norm.weight"], cfg.rms_norm_eps)
    logits = x @ sd.get("lm_head.weight", sd["model.embed_tokens.weight"]).T
    logp = torch.log_softmax(logits[:-1].double(), -1)
    nll = -logp[torch.arange(t - 1), torch.tensor(ids[1:])].mean()
    return float(torch.exp(nll)), (float(np.mean(mass)) if mass else None), x


def _block_keep(t, block):
    """Causal block-diagonal attention, built here: i and j in the same block of `block` tokens, j <= i."""
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    return (j <= i) & (i // block == j // block)


def test_perplexity_matches_an_independent_implementation():
    table = lab.run_lab("smollm2", TEXT, ["block"], [0.25], max_tokens=64)
    row = table.iloc[0]
    params = json.loads(row["params"])
    assert params["neighbors"] == 0
    lm = models.load("smollm2")
    ids = lab.tokens_for(lm, TEXT, 64)
    keep = _block_keep(len(ids), params["block"])
    assert row["density"] == pytest.approx(keep.sum() / (len(ids) * (len(ids) + 1) / 2))
    ppl_dense, mass, x_dense = _reference_llama(lm, ids, None, measure=keep)
    ppl_sparse, _, x_sparse = _reference_llama(lm, ids, keep)
    assert row["ppl_dense"] == pytest.approx(ppl_dense, rel=1e-4)
    assert row["ppl_sparse"] == pytest.approx(ppl_sparse, rel=1e-4)
    assert row["ppl_sparse"] != pytest.approx(row["ppl_dense"], rel=1e-3)  # the pattern did something
    assert row["mass_kept"] == pytest.approx(mass, abs=1e-5)
    cos = torch.nn.functional.cosine_similarity(x_sparse, x_dense, dim=-1).mean().item()
    assert row["cosine"] == pytest.approx(cos, abs=1e-4)


@pytest.mark.parametrize("method", lab.METHODS)
def test_every_execution_method_gives_the_same_pass(method, monkeypatch):
    monkeypatch.setattr(lab_passes, "BLOCK", 16)  # several blocks even in a short text
    row = lab.run_lab("smollm2", TEXT, ["window"], [0.2], max_tokens=64, method=method).iloc[0]
    lab.clear_cache(memory_only=True)
    ref = lab.run_lab("smollm2", TEXT, ["window"], [0.2], max_tokens=64, method="eager").iloc[0]
    for column in ("ppl_sparse", "cosine", "kl_all", "agreement"):
        assert row[column] == pytest.approx(ref[column], rel=1e-4, abs=1e-6)
    assert row["flops_share"] < 1  # a window skips whole 16-token blocks


# -- decoding applies the pattern to the KV cache ----------------------------------------------
@pytest.mark.parametrize("pattern", [("block", {"block": 4}), ("streaming", {"sinks": 2, "window": 5})])
def test_decoding_reads_only_the_kept_cache_positions(pattern):
    out = lab.continue_text("smollm2", TEXT, pattern, 6, 40, True)
    lm = models.load("smollm2")
    total = out.prompt_tokens + 6
    if pattern[0] == "block":  # built here
        keep = _block_keep(total, pattern[1]["block"])
    else:  # the engine's own mask: reads must follow the contract, whatever its window convention
        keep = dense_mask(make("streaming", True, **pattern[1]).expr(), total)
    steps = {}
    for layer, position, keys in out.reads:
        expected = np.flatnonzero(keep[position, : position + 1]).tolist()
        assert keys == expected, (layer, position)
        steps.setdefault(position, set()).add(layer)
    # every decode step (the first new token comes from the prefill) went through every layer
    assert sorted(steps) == list(range(out.prompt_tokens, out.prompt_tokens + 5))
    assert all(len(layers) == lm.layers for layers in steps.values())


def test_dropped_cache_entries_poisoned_with_nan_change_nothing(monkeypatch):
    block = 4
    pattern = ("block", {"block": block})
    clean = lab.continue_text("smollm2", TEXT, pattern, 6, 40)
    original = lab_passes._decode_step
    poisoned_steps = []

    def poisoned(run, q, key, value, scaling, groups):
        s = key.shape[-2]
        dropped = list(range(((s - 1) // block) * block))  # earlier blocks: never kept again
        key, value = key.clone(), value.clone()
        key[:, dropped] = float("nan")
        value[:, dropped] = float("nan")
        poisoned_steps.append(len(dropped))
        out = original(run, q, key, value, scaling, groups)
        assert torch.isfinite(out).all()
        return out

    monkeypatch.setattr(lab_passes, "_decode_step", poisoned)
    dirty = lab.continue_text("smollm2", TEXT, pattern, 6, 40)
    assert poisoned_steps and min(poisoned_steps) > 0  # the poison was really there
    assert dirty.sparse_ids == clean.sparse_ids


def test_continuation_side_by_side():
    out = lab.continue_text("smollm2", TEXT, {"pattern": "window", "params": {"window": 1}}, 8, 40)
    assert len(out.dense_ids) == len(out.sparse_ids) == 8
    assert len(out.dense_pieces) == 8
    if out.divergence is not None:
        assert out.dense_ids[: out.divergence] == out.sparse_ids[: out.divergence]
        assert out.dense_ids[out.divergence] != out.sparse_ids[out.divergence]
    else:
        assert out.dense_ids == out.sparse_ids


@pytest.mark.parametrize(
    "model, pattern, steps",
    [("minilm", ("window", {"window": 2}), 4), ("smollm2", ("topk", {"k": 4}), 4), ("smollm2", ("window", {}), 99)],
)
def test_continuation_refuses_what_it_cannot_do(model, pattern, steps):
    with pytest.raises(PatternError):
        lab.continue_text(model, TEXT, pattern, steps)


# -- the table: cache, progress, cancel, encoder -----------------------------------------------
def test_repeat_is_served_from_cache_and_progress_is_per_row():
    calls = []
    first = lab.run_lab("minilm", TEXT, ["window", "block"], [0.1, 0.3], 64, progress=lambda *a: calls.append(a))
    assert [c[2] for c in calls[1:]] == ["window@0.1", "window@0.3", "block@0.1", "block@0.3"]
    assert calls[0][2] == "dense"
    again = lab.run_lab("minilm", TEXT, ["window", "block"], [0.1, 0.3], 64)
    assert again["cached"].all() and not first["cached"].any()
    cols = ["density", "mass_kept", "cosine"]
    assert np.allclose(first[cols].to_numpy(float), again[cols].to_numpy(float))
    assert set(first.attrs["mass_layers"]) == {"window@0.1", "window@0.3", "block@0.1", "block@0.3"}
    assert np.shape(first.attrs["mass_heads"]["window@0.1"]) == (6, 12)
    assert "ppl_sparse" not in first.columns  # an encoder has no next-token metrics


def test_progress_is_told_after_every_layer_of_every_pass():
    """The walk: "0 of 3 done: Dense" stood still for 97 s at 2,048 tokens (the dense pass and the first row).
    `on_layer` hears each layer of the dense pass, of each row's sparse pass and of the plain dense prefill a
    text's first row is compared with, in order, and the row count in step with `progress`."""
    lab_passes.clear_dense()
    layers, rows = [], []
    lab.run_lab(
        "minilm",
        TEXT,
        ["window"],
        [0.1, 0.3],
        64,
        progress=lambda *a: rows.append(a),
        on_layer=lambda *a: layers.append(a),
    )
    depth = models.load("minilm").layers
    ticks = [(0, 2, "dense", i, depth) for i in range(1, depth + 1)]
    ticks += [(0, 2, "window@0.1", i, depth) for i in range(1, depth + 1)]
    ticks += [(0, 2, "dense", i, depth) for i in range(1, depth + 1)]  # the plain prefill, once per text
    ticks += [(1, 2, "window@0.3", i, depth) for i in range(1, depth + 1)]
    assert layers == ticks
    assert [r[0] for r in rows] == [0, 1, 2]


def test_cancel_stops_between_runs():
    seen = []
    table = lab.run_lab(
        "minilm",
        TEXT,
        ["window"],
        [0.1, 0.2, 0.3],
        64,
        progress=lambda *a: seen.append(a),
        cancel=lambda: len(seen) > 1,
    )
    assert len(table) == 1 and table.attrs["cancelled"]


def test_mass_kept_grows_with_the_budget():
    table = lab.run_lab("minilm", TEXT, ["window"], [0.05, 0.5], 64)
    low, high = table["mass_kept"]
    assert 0 < low < high <= 1
    assert np.isclose(np.mean(table.attrs["mass_layers"]["window@0.05"]), low)


@pytest.mark.parametrize(
    "model, patterns, budgets",
    [
        ("minilm", ["streaming"], [0.1]),  # causal-only pattern on an encoder
        ("minilm", ["lsh"], [0.1]),  # not fittable
        ("minilm", ["nope"], [0.1]),
        ("minilm", ["window"], [1.5]),
        ("minilm", ["window"], "abc"),
        ("nope-model", ["window"], [0.1]),
    ],
)
def test_bad_requests_get_a_message(model, patterns, budgets):
    with pytest.raises(PatternError):
        lab.run_lab(model, TEXT, patterns, budgets, 64)


def test_budgets_parse_percent_and_share():
    assert lab.parse_budgets("5%, 0.1,10%") == [0.05, 0.1]


# -- the CLI prints the same table -------------------------------------------------------------
@pytest.mark.parametrize("model", ["minilm", "smollm2"])
def test_cli_json_is_the_notebook_table(model, tmp_path, capsys):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    patterns = "window,block" if model == "minilm" else "window,streaming,bigbird"
    code = lab_cli.main(
        ["lab", "--model", model, "--text", str(path), "--patterns", patterns, "--budgets", "0.1,0.25",
         "--max-tokens", "48", "--json", "--quiet"]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    lab.clear_cache(memory_only=True)
    table = lab.run_lab(model, TEXT, patterns, [0.1, 0.25], 48)
    assert len(printed["rows"]) == len(table)
    for got, (_, want) in zip(printed["rows"], table.iterrows(), strict=True):
        for column, value in want.items():
            if column == "cached" or column in lab.MEASURED_COLUMNS:  # timings and memory differ run to run
                continue
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-6, abs=1e-9), column
            else:
                assert got[column] == value, column
    assert printed["mass_layers"].keys() == table.attrs["mass_layers"].keys()


def test_cli_bad_arguments_exit_2(tmp_path, capsys):
    assert lab_cli.main(["lab", "--text", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    assert lab_cli.main(["lab", "--text", str(path), "--budgets", "2", "--quiet"]) == 2
    assert lab_cli.main(["lab", "--text", str(path), "--max-tokens", "9999", "--quiet"]) == 2


@pytest.mark.parametrize("model, patterns", [("minilm", "window,block"), ("smollm2", "window,streaming")])
def test_cli_output_and_the_page_table_agree(model, patterns, tmp_path, capsys):
    from tests.test_lab_page import EXAMPLE, run_page, table

    path = tmp_path / "text.txt"
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["lab", "--model", model, "--text", str(path), "--patterns", patterns, "--budgets", "0.1,0.25"]
    assert lab_cli.main([*args, "--max-tokens", "64", "--json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)["rows"]
    lab.clear_cache(memory_only=True)  # the page computes its own rows
    shown = table(run_page(model, patterns, "0.1,0.25"))
    assert len(shown) == len(printed) == 4
    for got, (_, want) in zip(printed, shown.iterrows(), strict=True):
        for column, value in want.items():
            if column in lab.MEASURED_COLUMNS:  # measured in each run: CPU seconds and peak memory differ
                continue
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-6, abs=1e-9), column
            else:
                assert got[column] == value, column


def test_cli_repeats_the_labs_limits():
    assert (lab_cli.DEFAULT_TOKENS, lab_cli.MAX_TOKENS, lab_cli.METHODS) == (
        lab.DEFAULT_TOKENS,
        lab.MAX_TOKENS,
        lab.METHODS,
    )


@pytest.mark.parametrize("causal", [True, False])
def test_batched_top_k_masks_are_the_engines_choice(causal):
    rng = np.random.default_rng(1)
    q = torch.from_numpy(rng.normal(size=(6, 90, 8)).astype(np.float32))
    k = torch.from_numpy(rng.normal(size=(2, 90, 8)).astype(np.float32))
    expr = make("topk", causal, k=7).expr()
    got = head_masks(expr, q, k, 8**-0.5, 3).numpy()
    want = np.stack([dense_mask(expr, 90, (q[h].numpy(), k[h // 3].numpy())) for h in range(6)])
    assert (got == want).all()
