"""The CLI is a stable interface: its outputs and its error contract (one line, exit 2)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from sparse_core import analysis, make
from sparse_core.cli import main
from tests.conftest import ROOT


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_describes_every_pattern_and_parameter(capsys):
    code, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)
    by_name = {r["name"]: r for r in rows}
    assert code == 0 and {"window", "bigbird", "streaming", "topk"} <= set(by_name)
    flags = {p["flag"] for p in by_name["bigbird"]["params"]}
    assert {"--block", "--random-blocks", "--seed"} <= flags


def test_stats_json_has_the_promised_keys_and_exact_values(capsys):
    code, out, _ = run(capsys, "stats", "window", "--n", "1000", "--window", "10", "--causal", "--json")
    s = json.loads(out)
    assert code == 0
    for key in (
        "n",
        "nnz",
        "density",
        "flops_dense",
        "flops_sparse",
        "block_density",
        "score_bytes_dense",
        "score_bytes_sparse",
    ):
        assert key in s
    # the CLI reports the engine's exact count (the window's semantics are tested with the engine)
    expected = int(analysis.dense_mask(make("window", window=10, causal=True).expr(), 1000).sum())
    assert s["nnz"] == expected and s["flops_sparse"] == 4 * 64 * expected


@pytest.mark.parametrize("name", ["streaming", "bigbird", "topk", "neighborhood"])
def test_stats_count_the_masks_pairs_for_every_kind_of_pattern(capsys, name):
    """Through explore() (the page's call), for an always-causal, a random-table, a data-dependent and a 2-D
    pattern at its defaults: kept pairs and density are those of the dense mask."""
    code, out, _ = run(capsys, "stats", name, "--n", "200", "--block-size", "16", "--json")
    s = json.loads(out)
    truth = analysis.dense_mask(make(name, s["causal"]).expr(), 200)
    assert code == 0 and s["nnz"] == truth.sum() and s["density"] == pytest.approx(truth.mean(), rel=1e-12)


def test_stats_text_and_inline_flag_values(capsys):
    code, out, _ = run(capsys, "stats", "dilated", "--n=64", "--window=3", "--dilation", "2", "--d-head", "32")
    assert code == 0 and "nnz" in out and "d_head" in out


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".png"])
def test_mask_files_round_trip(capsys, tmp_path, suffix):
    out_file = tmp_path / f"m{suffix}"
    code, out, _ = run(capsys, "mask", "bigbird", "--n", "300", "--block", "16", "--out", str(out_file))
    assert code == 0 and out_file.exists()
    expected = analysis.dense_mask(make("bigbird", block=16).expr(), 300)
    if suffix == ".npy":
        assert np.array_equal(np.load(out_file), expected)
    elif suffix == ".csv":
        assert np.array_equal(np.loadtxt(out_file, delimiter=",").astype(bool), expected)
    else:
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(out_file)) == 0, expected)


def test_block_layout_output_for_large_n(capsys, tmp_path):
    out_file = tmp_path / "layout.npy"
    code, _, _ = run(
        capsys, "mask", "window", "--n", "100000", "--blocks", "--block-size", "1024", "--out", str(out_file)
    )
    assert code == 0 and np.load(out_file).shape == (98, 98)


@pytest.mark.parametrize(
    "args, message",
    [
        (["stats", "nope", "--n", "10"], "unknown pattern 'nope'"),
        (["stats", "window", "--n", "10", "--window", "-1"], "window must be between 0 and"),
        (["stats", "window", "--n", "10", "--window", "1.5"], "window must be a whole number"),
        (["stats", "window", "--n", "ten"], "--n must be a whole number"),
        (["stats", "window", "--n", "0"], "--n must be at least 1"),
        (["stats", "window", "--n", "2000000"], "above the supported maximum"),
        (["stats", "window", "--n", "10", "--dilation", "2"], "unknown option --dilation"),
        (["stats", "window", "--n", "10", "--window"], "--window needs a value"),
        (["stats", "topk", "--n", "100000"], "limited to"),
        (["stats", "fixed", "--n", "100", "--summary", "200"], "summary must not exceed stride"),
        (["mask", "window", "--n", "20000", "--out", "x.npy"], "use the block layout"),
        (["mask", "window", "--n", "20", "--out", "/no/such/dir/x.npy"], "does not exist"),
        (["mask", "window", "--n", "20", "--out", "x.txt"], "must end in .npy, .csv or .png"),
        (["stats"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point_runs_as_a_process():
    ok = subprocess.run(
        [sys.executable, "-m", "sparse_core", "stats", "streaming", "--n", "4096", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["n"] == 4096
    bad = subprocess.run(
        [sys.executable, "-m", "sparse_core", "stats", "window", "--n", "x"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


@pytest.mark.timing
def test_csv_over_the_budget_is_refused_before_any_mask_is_built(capsys, tmp_path):
    import time

    out_file = tmp_path / "m.csv"
    start = time.process_time()
    code, _, err = run(capsys, "mask", "window", "--n", "8192", "--out", str(out_file))
    assert code == 2 and "CSV" in err and "2,048" in err and ".npy" in err
    assert time.process_time() - start < 0.5  # refused from its size alone (building it took 10.9 s CPU)
    assert not out_file.exists()
    # the block layout's side is what a CSV of --blocks holds
    code, _, _ = run(capsys, "mask", "window", "--n", "8192", "--blocks", "--block-size", "4", "--out", str(out_file))
    assert code == 0 and np.loadtxt(out_file, delimiter=",").shape == (2048, 2048)


def test_large_png_is_written_one_bit_per_cell(capsys, tmp_path):

    from PIL import Image

    out_file = tmp_path / "m.png"
    code, _, _ = run(capsys, "mask", "strided", "--n", "2000", "--stride", "45", "--out", str(out_file))
    assert code == 0
    img = Image.open(out_file)
    assert img.mode == "1" and img.size == (2000, 2000)
    assert np.array_equal(np.asarray(img) == 0, analysis.dense_mask(make("strided", stride=45).expr(), 2000))
    # the peak of a process that writes only this png (this test process's own peak holds whatever earlier
    # tests loaded, e.g. a model in the same pytest-xdist worker), read as VmHWM: exec starts a new address
    # space and resets it, while ru_maxrss carries over the forking parent's peak
    child = subprocess.run(
        [sys.executable, "-c", "from sparse_core.cli import main\n"
         f"main(['mask', 'strided', '--n', '2000', '--stride', '45', '--out', {str(tmp_path / 'c.png')!r}])\n"
         "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert int(child.stdout.split()[-1]) < 2 << 20  # KiB: far below 2 GiB either way


def test_argument_checks_import_nothing_heavy():
    code = (
        "import sys\n"
        "from sparse_core.cli import main\n"
        "assert main(['mask', 'window', '--n', 'x', '--out', 'm.npy']) == 2\n"
        "assert main(['stats', 'nope', '--n', '4']) == 2\n"
        "assert main(['mask', 'window', '--n', '9000', '--out', 'm.csv']) == 2\n"
        "heavy = [m for m in ('torch', 'PIL', 'transformers', 'streamlit', 'plotly', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["stats", "mask"])
def test_pattern_help_lists_its_own_parameters_from_their_specs(capsys, command):
    """`stats <pattern> --help` (issue 21): every parameter of that pattern with its help, default, range and
    unit, and no other pattern's options; it needs no --n and exits 0."""
    from sparse_core import PATTERNS

    for name, d in PATTERNS.items():
        code, out, err = run(capsys, command, name, "--help")
        assert code == 0 and err == "", name
        own = out.split(f"options of {name}:")[-1] if d.params else ""
        for p in d.params:
            line = next(x for x in own.splitlines() if x.strip().startswith(p.flag + " "))
            assert p.help in line and f"Default {p.default:,}," in line, line
            assert f"range {p.minimum:,} .. {p.maximum:,}, unit: {p.unit}." in line, line
        flags = {x.split()[0] for x in own.splitlines() if x.strip().startswith("--")}
        assert flags == {p.flag for p in d.params}, name
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and "window, dilated" in out
    code, _, err = run(capsys, command, "nope", "--help")
    assert code == 2 and "unknown pattern 'nope'" in err


BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads")


def _cli_blas_threads(extra_env: dict[str, str]) -> list[int]:
    """BLAS threads of each loaded OpenBLAS after the CLI's main ran, in a fresh process."""
    import os
    import subprocess
    import sys

    code = (
        "from sparse_core import cli, process; cli.main(['list']); "
        f"getters = {BLAS_GETTERS!r}; "
        "print([next(getattr(lib, g) for g in getters if hasattr(lib, g))() for lib in process._loaded_openblas()])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, **extra_env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cli_runs_blas_on_one_thread_as_the_budget_prices_it(monkeypatch):
    # routing(1,000, 2) at 4,096 through the CLI: 0.45-0.49 s CPU pinned, 2.83-2.90 s with OpenBLAS's 2 threads
    # spinning on this loaded 2-core machine (load 5); the server and the budget search run at one thread
    threads = _cli_blas_threads({})
    if not threads:
        pytest.skip("no OpenBLAS loaded by numpy here")
    assert threads == [1] * len(threads)
    # a thread count the user chose is theirs: nothing is set
    from sparse_core import process

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert process.one_blas_thread() == 0  # (not called without it here: it would pin this test process too)


def _cli_huge_pages(extra_env: dict[str, str]) -> bool:
    """Whether numpy still asks for huge pages after the CLI's main ran, in a fresh process."""
    import os
    import subprocess
    import sys

    # numpy's setter returns the setting it replaces: setting it again reads it
    code = (
        "from sparse_core import cli; cli.main(['list']); "
        "from numpy._core import multiarray; print(multiarray._set_madvise_hugepage(True))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, **extra_env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1] == "True"


def test_the_cli_turns_numpys_huge_pages_off_unless_the_user_chose():
    # random(8) at 2^20 (285 MB) spent 0.02-1.41 s in the kernel with numpy's huge pages (inline compaction on
    # this machine), 0.14-0.20 s without: the budget's 1 s is measured without them (sparse_core.process)
    assert _cli_huge_pages({}) is False
    assert _cli_huge_pages({"NUMPY_MADVISE_HUGEPAGE": "1"}) is True
