"""The SmolLM2 conversion survives being killed, converts once under concurrent first loads, repairs a
damaged copy, and first loads from several threads at once all succeed. Each test uses its own empty
cache folder."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sparse_core import models

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]
IDS = [504, 1812, 5216, 690, 618, 582, 3100]
PROBE = f"""
import json, torch
from sparse_core import models
lm = models.load("smollm2")
with torch.inference_mode():
    logits = lm.model(torch.tensor([{IDS}])).logits[0, -1, :16]
print("LOGITS", json.dumps(logits.tolist()))
"""


def _env(cache: Path) -> dict:
    return {**os.environ, "SPARSE_EXPLORER_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}


def _start(code: str, cache: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _poll(condition, deadline_s: float, what: str, step: float = 0.05):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")


def _logits(proc: subprocess.Popen, timeout: float = 400) -> np.ndarray:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    line = next(x for x in out.splitlines() if x.startswith("LOGITS "))
    return np.array(json.loads(line.removeprefix("LOGITS ")))


def _reference() -> np.ndarray:
    lm = models.load("smollm2")  # the normal cache of this machine
    with torch.inference_mode():
        return lm.model(torch.tensor([IDS])).logits[0, -1, :16].numpy()


def _conversions(cache: Path) -> int:
    log = cache / "conversions.log"
    return sum(" converted " in line for line in log.read_text().splitlines()) if log.exists() else 0


def test_a_damaged_copy_is_detected_and_reconverted(tmp_path, monkeypatch):
    """Also: the first conversion reports progress every second while it reads, and finishes when the page goes away."""
    reference = _reference()  # the machine's own cache, loaded before this test points at its own
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPARSE_EXPLORER_CACHE", str(cache))
    calls = []

    class PageGoneError(Exception):
        pass

    def progress(share: float, message: str) -> None:
        calls.append((time.perf_counter(), share, message))
        if len([c for c in calls if c[2].startswith("reading")]) == 5:
            raise PageGoneError  # as a Streamlit element raises once its session reran or closed

    with pytest.raises(PageGoneError):
        models.smollm_fp32_dir(progress)
    assert models.smollm_converted()  # the conversion went on: the copy serves every session
    assert len(calls) == 6 and [c[2] for c in calls[:2]] == ["starting", "reading the GGUF weights (once, ~20 s)"]
    assert all(b[1] > a[1] for a, b in zip(calls, calls[1:], strict=False))  # the share moves on every tick
    assert max(b[0] - a[0] for a, b in zip(calls[1:], calls[2:], strict=False)) < 30  # 1 s ticks; a loaded machine
    first = _logits(_start(PROBE, cache))
    np.testing.assert_allclose(first, reference, atol=1e-4)
    assert _conversions(cache) == 1

    weights = cache / "smollm2-135m-instruct-fp32" / "model.safetensors"
    with open(weights, "r+b") as handle:  # a disk that filled up, a copy that was cut short
        handle.truncate(weights.stat().st_size // 2)
    assert not models.smollm_converted() and "bytes" in models.smollm_damage(deep=False)
    again = _logits(_start(PROBE, cache))  # a new process: the repair also happens after a restart
    np.testing.assert_array_equal(again, first)
    assert _conversions(cache) == 2 and "damaged" in (cache / "conversions.log").read_text()

    # a flipped bit keeps every size: the checksum, verified once per process, catches it
    models._VERIFIED.clear()
    assert models.smollm_damage() is None
    offset = weights.stat().st_size - 1000

    def flip() -> None:
        with open(weights, "r+b") as handle:
            handle.seek(offset)
            byte = handle.read(1)[0]
            handle.seek(offset)
            handle.write(bytes([byte ^ 0x40]))

    flip()
    models._VERIFIED.clear()  # as in a fresh process
    assert models.smollm_damage(deep=False) is None and "sha256" in models.smollm_damage()
    flip()  # back (a repair would be a third conversion: the truncation above already showed one)
    models._VERIFIED.clear()
    assert models.smollm_damage() is None

    # a complete copy from before manifests is adopted, not reconverted
    (weights.parent / models.MANIFEST).unlink()
    assert models.smollm_damage() == models.NO_MANIFEST
    models.smollm_fp32_dir()
    assert _conversions(cache) == 2 and models.smollm_damage() is None


def test_a_killed_conversion_leaves_nothing_that_passes_for_a_model(tmp_path):
    cache = tmp_path / "cache"
    proc = _start("from sparse_core import models; models.smollm_fp32_dir()", cache)
    try:
        # the temporary folder gets the tokenizer first, then waits ~20 s for the GGUF weights
        partial = _poll(
            lambda: [p for p in cache.glob(models.PARTIAL_PREFIX + "*") if any(p.iterdir())],
            300,
            "the conversion to start writing",
        )
        assert proc.poll() is None, "the conversion finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert partial[0].exists()  # the half-written folder is still there ...
    target = cache / "smollm2-135m-instruct-fp32"
    assert not target.exists() and _conversions(cache) == 0  # ... but nothing is where a model is looked for
    probe = subprocess.run(
        [sys.executable, "-c", "from sparse_core import models; print(models.smollm_converted())"],
        cwd=ROOT,
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.stdout.strip() == "False"

    fresh = _logits(_start(PROBE, cache))  # the lock died with the killed process: a new load converts
    np.testing.assert_allclose(fresh, _reference(), atol=1e-4)
    assert _conversions(cache) == 1
    assert not list(cache.glob(models.PARTIAL_PREFIX + "*"))  # the killed run's leftovers were cleaned up


def test_two_first_loads_at_once_convert_once(tmp_path):
    cache = tmp_path / "cache"
    procs = [_start(PROBE, cache) for _ in range(2)]
    try:
        results = [_logits(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], _reference(), atol=1e-4)
    assert _conversions(cache) == 1
    assert not list(cache.glob(models.PARTIAL_PREFIX + "*"))


def test_five_sessions_loading_at_once_all_succeed(tmp_path):
    code = """
import threading
from sparse_core import models
barrier = threading.Barrier(5)
errors, loaded = [], []
def session():
    barrier.wait()
    try:
        loaded.append(models.load("minilm"))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=session) for _ in range(5)]
for t in threads: t.start()
for t in threads: t.join()
print("ERRORS", errors)
print("SAME", len({id(x) for x in loaded}) == 1 and len(loaded) == 5)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERRORS []" in done.stdout and "SAME True" in done.stdout, done.stdout + done.stderr[-2000:]
