"""The Lab is priced before it runs: the prediction tracks a real run, an over-budget request is refused
before any pass with what to lower, the deployment's token cap applies, and argument errors cost no torch."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sparse_core import PatternError, lab, models
from sparse_core.lab_price import LAB_BUDGET_ENV, LabBudget, price_lab, price_rows

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "assets" / "long" / "keeper_of_the_light.txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _memory_cache_only(lab_memory_cache):
    yield


@pytest.mark.timing
def test_the_price_tracks_a_real_run():
    """A real MiniLM run's CPU seconds (one torch thread, as measured) within a factor 2.5 of the price."""
    lm = models.load("minilm")
    quote = lab.price("minilm", TEXT, ["window", "topk"], [0.1], 384)
    assert quote.rows == 2 and quote.tokens == 384 and not quote.over_budget
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lab.run_lab("minilm", TEXT, ["topk"], [0.5], 32)  # first-call costs (imports, caches) out of the clock
        lab.clear_cache(memory_only=True)
        start = time.process_time()
        table = lab.run_lab("minilm", TEXT, ["window", "topk"], [0.1], 384)
        spent = time.process_time() - start
    finally:
        torch.set_num_threads(threads)
    assert table.attrs["price"] == quote and lm.layers == 6
    assert quote.cpu_seconds / 2.5 <= spent <= quote.cpu_seconds * 2.5, (spent, quote)


def test_over_budget_is_refused_before_any_pass_with_what_fits(monkeypatch):
    monkeypatch.setenv(LAB_BUDGET_ENV, "1")

    def no_pass(*args, **kwargs):
        raise AssertionError("a pass ran for a refused request")

    monkeypatch.setattr(lab, "dense_pass", no_pass)
    monkeypatch.setattr(lab, "run_pass", no_pass)
    patterns, budgets = ["window", "bigbird", "topk"], [0.05, 0.1, 0.25]
    with pytest.raises(PatternError) as caught:
        lab.run_lab("minilm", TEXT, patterns, budgets, 512)
    error = caught.value
    assert error.code == "lab_over_budget" and error.fields["budget"] == 1 and error.fields["rows"] == 9
    assert error.fields["seconds"] > 1 and "CPU seconds" in str(error)
    fit_tokens, fit_rows = error.fields["fit_tokens"], error.fields["fit_rows"]
    assert fit_tokens and f"{fit_tokens:,} tokens" in str(error)
    # the advice is true: that many tokens fits, the next step up does not
    assert not price_lab("minilm", fit_tokens, patterns, budgets).over_budget
    assert price_lab("minilm", fit_tokens * 2, patterns, budgets).over_budget
    assert 0 < fit_rows < 9
    assert not price_rows("minilm", 512, fit_rows, 0).over_budget  # that many (structured) rows fit


def test_the_deployments_token_cap_applies_before_the_model_loads(monkeypatch):
    monkeypatch.setattr(models, "load", lambda *a, **k: pytest.fail("loaded a model for a refused request"))
    for call in (lab.run_lab, lab.price):
        with pytest.raises(PatternError) as caught:
            call("smollm2", TEXT, ["window"], [0.1], 512, token_cap=256)
        assert caught.value.code == "lab_token_cap" and caught.value.fields == {"tokens": 512, "cap": 256}


def test_cached_rows_are_free():
    quote = lab.price("minilm", TEXT, ["window"], [0.1, 0.2], 128)
    assert quote.rows == 2 and quote.cpu_seconds > 0
    lab.run_lab("minilm", TEXT, ["window"], [0.1, 0.2], 128)
    again = lab.price("minilm", TEXT, ["window"], [0.1, 0.2], 128)
    assert again.rows == 0 and again.cpu_seconds == 0


def test_the_budget_comes_from_the_environment():
    assert LabBudget.from_env({}).cpu_seconds == LabBudget().cpu_seconds
    assert LabBudget.from_env({LAB_BUDGET_ENV: "45"}).cpu_seconds == 45
    for bad in ("abc", "0", "-3", "nan"):
        with pytest.raises(PatternError) as caught:
            LabBudget.from_env({LAB_BUDGET_ENV: bad})
        assert caught.value.code == "budget_env"


@pytest.mark.parametrize(
    "args",
    [
        ["--text", "/nonexistent/file.txt"],
        ["--text", __file__, "--budgets", "7"],
        ["--text", __file__, "--patterns", "nope"],
        ["--text", __file__, "--max-tokens", "99999"],
        ["--text", __file__, "--model", "elsewhere"],
        ["--text", __file__, "--cpu-budget", "-1"],
    ],
)
def test_cli_argument_errors_never_import_torch(args):
    code = (
        "import sys; from sparse_core import lab_cli; rc = lab_cli.main(sys.argv[1:]); "
        "print('TORCH', 'torch' in sys.modules); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, "lab", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
    assert "TORCH False" in out.stdout
