"""Hostile and careless command lines: a result or one clear line, exit 0 or 2, within the budget."""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparse_core import analysis, registry
from sparse_core.cli import ECHO_CHARS, main
from tests.conftest import ROOT

HOSTILE = [
    "99999999999999999999",
    "9" * 5000,
    "-1",
    "-99999999999999999999",
    "0",
    "1",
    "2",
    "3",
    "64",
    "1.5",
    "1e309",
    "1e3",
    "nan",
    "inf",
    "-inf",
    "",
    " ",
    "０",
    "²",
    "①",
    "٣",
    "0x10",
    "1_000",
    "True",
    "[Session expired - log in](http://evil.example/)",
    "![x](http://127.0.0.1:9/pixel.png)",
    "<img src=x onerror=alert(1)>",
    "**bold**",
    "a\nb",
    "中文",
    "\u200d",
]
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12).filter(lambda s: "\x00" not in s),
)
# n mostly small so that a hundred examples stay quick; the largest n is still drawn now and then
n_values = st.one_of(st.sampled_from(["1", "7", "64", "300", "4096", "1048576"]), values)
PATTERNS = sorted(registry.PATTERNS)
SECONDS_PER_RUN = 30.0  # 2 cores shared by parallel test runs (load 10 seen); idle runs take a few seconds at most


@st.composite
def command_lines(draw, out_dir):
    command = draw(st.sampled_from(["stats", "stats", "mask", "list"]))
    if command == "list":
        return ["list"] + draw(st.lists(st.sampled_from(["--json", "--bogus", "x"]), max_size=2))
    pattern = draw(st.one_of(st.sampled_from(PATTERNS), st.sampled_from(HOSTILE)))
    args = [command, pattern]
    args += ["--n", draw(n_values)]
    definition = registry.PATTERNS.get(pattern)
    flags = [p.flag for p in definition.params] if definition else ["--window"]
    for flag in draw(st.lists(st.sampled_from(flags + ["--block-size", "--d-head", "--unknown"]), max_size=4)):
        value = draw(values)
        args += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
    if draw(st.booleans()):
        args.append("--causal")
    if command == "stats" and draw(st.booleans()):
        args.append("--json")
    if command == "mask":
        name = draw(st.sampled_from(["m.npy", "m.NPY", "m.csv", "m.Png", "m.txt", "no/such/m.npy", ""]))
        args += ["--out", str(out_dir / name) if name else ""]
        if draw(st.booleans()):
            args.append("--blocks")
    return args


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def check_run(capsys, args):
    capsys.readouterr()
    start = time.perf_counter()
    code = main(list(args))
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code in (0, 2), (args, code, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert elapsed < SECONDS_PER_RUN, (args, elapsed)
    if code == 2:
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1, (args, err)
        assert len(err) < 400, err  # no value echoed whole
        assert re.search(rf"\d{{{ECHO_CHARS + 5},}}", err) is None, err  # no huge number echoed whole
    elif "--json" in args:
        _strict_json(out)
    return code, out, err


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_command_line_gives_a_result_or_one_clear_line(capsys, out_dir, data):
    check_run(capsys, data.draw(command_lines(out_dir)))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("extreme", ["min", "max"])
def test_every_parameter_at_its_extremes_at_the_largest_n(capsys, pattern, extreme):
    """Each pattern with all parameters at their minimum or maximum, at the largest n it accepts."""
    d = registry.PATTERNS[pattern]
    n = "4096" if d.data_dependent else "1048576"
    args = ["stats", pattern, "--n", n, "--json"]
    for p in d.params:
        value = p.minimum if extreme == "min" else p.maximum
        if p.name in ("buckets", "window_blocks"):  # cross-checks: even buckets, odd window blocks
            value = value - (value % 2 == (p.name == "window_blocks"))
        args += [p.flag, str(value)]
    check_run(capsys, args)


@pytest.mark.parametrize(
    "args, message",
    [
        (["stats", "window", "--n", "10", "--block-size", "99999999999999999999"], "--block-size"),
        (["stats", "window", "--n", "10", "--window", "9" * 5000], "…"),
        (["stats", "x" * 5000, "--n", "10"], "…"),
        (["stats", "window", "--n", "9" * 5000], "…"),
        (["stats", "window", "--n", "10", "--d-head", "0"], "--d-head must be at least 1"),
        (["stats", "window", "--n", "10", "--d-head", "1e9"], "--d-head must be a whole number"),
        (["stats", "window", "--n", "10", "--window="], "--window needs a value"),
        (["list", "y" * 5000], "…"),
        (["stats", "window", "--n", "10", "--window", "1e300"], "…"),  # a float that parses to 301 digits
    ],
)
def test_known_attacks_give_one_short_line(capsys, args, message):
    code, _, err = check_run(capsys, args)
    assert code == 2 and message in err


def test_json_has_null_not_infinity_when_nothing_is_kept(capsys):
    code, out, _ = check_run(capsys, ["stats", "global", "--n", "10", "--global-tokens", "0", "--json"])
    s = _strict_json(out)
    assert code == 0 and s["nnz"] == 0 and s["speedup_ideal"] is None


@pytest.mark.parametrize("name", ["m.NPY", "mask.Npy", "m.CSV", "m.PNG"])
def test_out_writes_exactly_the_path_asked(capsys, tmp_path, name):
    path = tmp_path / name
    code, out, _ = check_run(capsys, ["mask", "window", "--n", "16", "--window", "2", "--out", str(path)])
    assert code == 0 and [p.name for p in tmp_path.iterdir()] == [name]
    assert out.strip().endswith(str(path))
    if name.lower().endswith(".npy"):
        assert np.array_equal(np.load(path), analysis.dense_mask(registry.make("window", window=2).expr(), 16))


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "sparse_core", *args], cwd=ROOT, capture_output=True, text=True, **kw)


def test_overflow_and_long_values_as_a_real_process():
    for args in (["stats", "window", "--n", "10", "--block-size", "99999999999999999999"], ["stats", "9" * 5000]):
        p = _cli(*args)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        assert len(p.stderr) < 400


def test_a_closed_pipe_ends_quietly():
    """`list --json | head -c0`: the reader is gone before the CLI writes; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparse_core", "list", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the child has imported anything, so its write hits a closed pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err and err == ""
    assert proc.returncode in (0, 141)


def test_a_closed_pipe_in_a_shell_pipeline():
    p = subprocess.run(
        f"{sys.executable} -m sparse_core list --json | true", shell=True, cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stderr == ""
