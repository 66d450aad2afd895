"""`sparse-attention lab --task ...`: the retrieval grid on the command line gives run_memory's rows, and
every bad argument or over-budget grid is answered before torch is imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

BAD = [
    (["--lengths", "32"], "lengths must be between 64"),
    (["--lengths", "1k"], "is not a number"),
    (["--depths", "1.5"], "depths must be between 0 and 1"),
    (["--trials", "0"], "trials must be between 1"),
    (["--patterns", "nosuch"], "nosuch"),
    (["--budgets", "0"], "a budget must be between 0 and 1"),
    (["--text", "x.txt"], "leave out --text"),
    (["--lengths", "8192", "--trials", "20", "--cpu-budget", "60"], "retrieval grid would take about"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_arguments_and_over_budget_grids_cost_no_torch(extra, message):
    code = (
        "import sys; from sparse_core import lab_cli; "
        f"rc = lab_cli.main(['--task', 'passkey', *{extra!r}]); "
        "assert rc == 2, rc; assert 'torch' not in sys.modules, 'torch imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert message in out.stderr, out.stderr


@pytest.mark.model
def test_the_cli_prints_run_memorys_rows(capsys):
    """The CLI's JSON rows are run_memory's rows for the same grid (all but the measured seconds)."""
    from sparse_core import lab_cli, memory_eval

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        argv = ["--task", "passkey", "--lengths", "256", "--depths", "0.5", "--trials", "1", "--patterns", "window",
                "--budgets", "0.25", "--json", "--quiet"]  # fmt: skip
        assert lab_cli.main(argv) == 0
        printed = json.loads(capsys.readouterr().out)
        direct = memory_eval.run_memory("smollm2", "passkey", [256], [0.5], 1, ["window"], [0.25])
    finally:
        torch.set_num_threads(threads)
    assert printed["task"] == "passkey" and not printed["cancelled"]
    rows = printed["rows"]
    assert [r["label"] for r in rows] == ["dense", "window@0.25"]
    for got, want in zip(rows, direct.rows, strict=True):
        assert set(memory_eval.ROW_KEYS) <= set(got)
        for key in want:
            if "seconds" not in key and "_bytes" not in key:
                assert (
                    got[key] == pytest.approx(want[key]) if isinstance(want[key], float) else got[key] == want[key]
                ), key


def test_bfloat16_linear_layers_are_priced_as_such_and_refused_for_a_text(monkeypatch, capsys):
    """--linear-dtype reaches the price (the grid's bfloat16 tokens cost less) and the run, and is refused
    without --task."""
    from sparse_core import lab_cli, memory_eval
    from sparse_core.lab_price import price_memory

    grid = ("smollm2", "passkey", [4096], [0.1, 0.5, 0.9], 2, ["topk"], [0.1])
    fp32 = price_memory(*grid, include_dense=False)
    bf16 = price_memory(*grid, include_dense=False, linear_dtype="bfloat16")
    assert bf16.cpu_seconds < fp32.cpu_seconds
    ran: list[str] = []

    def run_memory(**request):
        ran.append(request["linear_dtype"])
        return memory_eval.MemoryResult(rows=[], cancelled=False, cpu_seconds=0.0)

    monkeypatch.setattr(memory_eval, "run_memory", run_memory)
    # a CPU budget between the two prices: refused in float32, run in bfloat16
    cap = f"{(fp32.cpu_seconds + bf16.cpu_seconds) / 2:.0f}"
    argv = ["--task", "passkey", "--lengths", "4096", "--depths", "0.1,0.5,0.9", "--trials", "2", "--patterns",
            "topk", "--budgets", "0.1", "--no-dense", "--cpu-budget", cap, "--json", "--quiet"]  # fmt: skip
    assert lab_cli.main(argv) == 2 and "retrieval grid would take about" in capsys.readouterr().err
    assert lab_cli.main([*argv, "--linear-dtype", "bfloat16"]) == 0 and ran == ["bfloat16"]
    assert lab_cli.main(["--text", "x.txt", "--linear-dtype", "bfloat16"]) == 2
    assert "applies to a retrieval grid" in capsys.readouterr().err
