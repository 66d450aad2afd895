"""Exported FlexAttention scripts run with only torch installed and reproduce the engine's mask.

Every script is written to a temporary folder and run by a separate Python in which sparse_core
cannot be imported: `-S` skips site-packages' .pth files (the editable install's finder lives in
one) and PYTHONPATH names site-packages itself, so torch imports and sparse_core does not.
"""

import io
import json
import os
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
import torch

from sparse_core import analysis, export, limits, registry
from sparse_core.export import Config, build_file, file_names, file_sizes, flex_snippet, parse_layers, snippet_size
from sparse_core.params import PatternError

SMALL_N, SMALL_BLOCK = 96, 16
LARGE_N, LARGE_BLOCK = 32768, 128
CASES = [(name, SMALL_N, SMALL_BLOCK) for name in sorted(registry.PATTERNS)] + [
    ("longformer", LARGE_N, LARGE_BLOCK),
    ("bigbird", LARGE_N, LARGE_BLOCK),
    ("random", LARGE_N, LARGE_BLOCK),
]
EXTRA = [  # combinations: formulas and tables mixed, intersections, causal
    ("random(random_keys=3,seed=4)&window(window=8)", SMALL_N, SMALL_BLOCK, True),
    ("bigbird(block=8,random_blocks=2)+dilated(window=2,dilation=3)", SMALL_N, SMALL_BLOCK, False),
    ("topk(k=5)+window(window=2)", SMALL_N, SMALL_BLOCK, False),
]


def _config(text: str, n: int, block: int, causal: bool = False) -> Config:
    op = "intersection" if "&" in text else "union"
    return Config(parse_layers(text.replace("&", "+"), causal), n, op, block, causal)


def _isolated_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return env


def _isolated(args, cwd, timeout=600):
    return subprocess.run(
        [sys.executable, "-S", *args], cwd=cwd, env=_isolated_env(), capture_output=True, text=True, timeout=timeout
    )


DRIVER = textwrap.dedent(
    """
    import json, runpy, sys, traceback
    jobs = json.load(open(sys.argv[1]))
    status_path = sys.argv[1] + ".status.json"
    status = {}
    for job in jobs:
        sys.argv = [job["script"], job["flag"], job["out"]]
        try:
            runpy.run_path(job["script"], run_name="__main__")
            status[job["script"]] = "ok"
        except BaseException:
            status[job["script"]] = traceback.format_exc()[-2000:]
    json.dump(status, open(status_path, "w"))
    """
)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Write every script, then run them all in one isolated interpreter (torch is imported once)."""
    root = tmp_path_factory.mktemp("export")
    jobs, configs = [], {}
    cases = [(name + "()", n, b, False) for name, n, b in CASES] + EXTRA
    for k, (text, n, block, causal) in enumerate(cases):
        config = _config(text, n, block, causal)
        script = root / f"flex_{k}.py"
        script.write_text(flex_snippet(config))
        flag = "--save-mask" if n <= 4096 else "--save-layout"
        out = root / f"out_{k}.pt"
        jobs.append({"script": str(script), "flag": flag, "out": str(out)})
        configs[(text, n, causal)] = (config, script, flag, out)
    (root / "jobs.json").write_text(json.dumps(jobs))
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    probe = _isolated(["-c", "import sparse_core"], cwd=root)
    assert probe.returncode != 0 and "No module named 'sparse_core'" in probe.stderr
    # the same interpreter imports torch: the driver below does, in every script (a probe would cost one more
    # torch import, ~1.5 CPU-s)
    done = _isolated([str(driver), str(root / "jobs.json")], cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    status = json.loads((root / "jobs.json.status.json").read_text())
    return configs, status


def _check(ran, key):
    configs, status = ran
    config, script, flag, out = configs[key]
    assert status[str(script)] == "ok", status[str(script)]
    got = torch.load(out).numpy()
    expr = config.expr()
    if flag == "--save-mask":
        assert np.array_equal(got, analysis.dense_mask(expr, config.n))
    else:
        assert np.array_equal(got, analysis.block_layout(expr, config.n, config.block).dense())


@pytest.mark.parametrize("name, n, block", CASES)
def test_exported_script_runs_without_sparse_core_and_matches_the_engine(ran, name, n, block):
    _check(ran, (name + "()", n, False))


@pytest.mark.parametrize("text, n, block, causal", EXTRA)
def test_combined_exports_match_the_engine(ran, text, n, block, causal):
    _check(ran, (text, n, causal))


@pytest.mark.slow  # a second interpreter importing torch (~1.5 CPU-s); the driver above runs every script in-process
def test_a_script_runs_on_its_own_as_a_process(tmp_path):
    config = _config("bigbird(block=16,random_blocks=2)", 200, 16)
    script = tmp_path / "flex_mask.py"
    script.write_text(flex_snippet(config))
    done = _isolated([str(script), "--save-layout", "layout.pt"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    got = torch.load(tmp_path / "layout.pt").numpy()
    assert np.array_equal(got, analysis.block_layout(config.expr(), 200, 16).dense())


def test_tables_are_compressed_and_large_n_avoids_a_dense_scan():
    text = flex_snippet(_config("random()", LARGE_N, LARGE_BLOCK))
    assert "from_kv_blocks" in text and "create_block_mask(\n    mask_mod" not in text
    assert "import sparse_core" not in text and "from sparse_core" not in text
    raw_table = LARGE_N * 3 * 4 * 2  # starts and counts as int32
    assert len(text) < raw_table
    formula = flex_snippet(_config("window(window=8)", 1024, 128))
    assert "create_block_mask(" in formula and "_table(" not in formula.split("def mask_mod")[1]


@pytest.mark.timing
def test_preview_is_cheap_valid_python_and_equal_to_the_script_where_there_are_no_tables():
    import ast
    import time

    for text, n in (("random()", 1 << 20), ("bigbird()", 1 << 20), ("topk()", 4096), ("window()", 1 << 20)):
        start = time.perf_counter()
        preview = export.flex_preview(_config(text, n, 128))
        assert time.perf_counter() - start < 1.0 and len(preview) < 20_000
        ast.parse(preview)
        assert "PREVIEW" in preview
    formula = _config("longformer()", 4096, 128)
    assert export.flex_preview(formula) == flex_snippet(formula)


def test_snippet_size_is_known_before_download():
    config = _config("bigbird()", 4096, 64)
    assert snippet_size(config) == len(flex_snippet(config).encode())
    sizes = file_sizes(config, exact_script=True)
    assert sizes["flex_mask.py"] == snippet_size(config) and sizes["mask.npy"] >= 4096 * 4096
    for text, n in (("bigbird()", 4096), ("random()", 1 << 16), ("random(random_keys=8)+window()", 1 << 15)):
        config = _config(text, n, 128)
        estimate = file_sizes(config)["flex_mask.py"]
        assert snippet_size(config) <= estimate < 20 * snippet_size(config) + 100_000  # an upper estimate


def test_downloads_are_built_one_by_one_and_only_where_useful():
    small = _config("longformer(window=4,global_tokens=2)", 64, 16)
    assert file_names(small) == ["mask.npy", "mask_packed.npy", "mask.csv", "pattern.json", "flex_mask.py"]
    expected = analysis.dense_mask(small.expr(), 64)
    assert np.array_equal(np.load(io.BytesIO(build_file(small, "mask.npy"))), expected)
    packed = np.load(io.BytesIO(build_file(small, "mask_packed.npy")))
    assert np.array_equal(np.unpackbits(packed, axis=1, count=64).astype(bool), expected)
    csv = np.loadtxt(io.StringIO(build_file(small, "mask.csv").decode()), delimiter=",")
    assert np.array_equal(csv.astype(bool), expected)
    sizes = file_sizes(small)
    for name in file_names(small):
        built = len(build_file(small, name))
        assert built == sizes[name] if name == "pattern.json" else built <= sizes[name], name
    mid = _config("window()", 4096, 128)
    assert "mask.csv" not in file_names(mid) and "mask_packed.npy" in file_names(mid)
    large = _config("window()", 1 << 20, 256)
    assert "mask.npy" not in file_names(large) and "block_layout.npy" in file_names(large)
    with pytest.raises(PatternError):
        build_file(large, "mask.npy")
    assert set(export.FILES) >= set(file_names(small)) | set(file_names(large))


def test_parse_layers_never_echoes_long_user_text():
    for text in ("x" * 5000, "window(window=" + "9" * 5000 + ")", "window(" + "k" * 5000 + "=1)", "(" * 3000):
        with pytest.raises(PatternError) as info:
            parse_layers(text)
        assert len(str(info.value)) < 40 + 250, str(info.value)[:300]
        for value in info.value.fields.values():
            assert len(str(value)) < 300


def test_over_budget_exports_are_refused():
    config = _config("random(random_keys=256)", 1 << 20, 128)
    with pytest.raises(PatternError, match="lower"):
        flex_snippet(config)
    assert limits.current().dense_n >= 4096
