"""The Lab's cost columns: measured prefill CPU and peak memory of the sparse pass beside one plain dense prefill,
and the KV-cache bytes a decoder keeps (checked against a real transformers cache)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from sparse_core import lab, models
from sparse_core.lab_passes import LabPass, kv_cache_bytes

pytestmark = pytest.mark.model
TEXT = "The keeper of the light climbed the stairs every evening. " * 40


@pytest.fixture(autouse=True)
def _memory_cache_only(lab_memory_cache):
    yield


def test_kv_bytes_are_what_a_real_cache_holds():
    from transformers import DynamicCache

    from sparse_core.decode import greedy_ids

    lm = models.load("smollm2")
    cache = DynamicCache()
    ids = lm.tokenizer(TEXT)["input_ids"][:100]
    greedy_ids(lm, ids, 1, LabPass("dense", jobs=[]), cache=cache)
    held = sum(t.nbytes for layer in cache.layers for t in (layer.keys, layer.values))
    assert held == kv_cache_bytes(lm, cache.get_seq_length()) and cache.get_seq_length() == 100


def test_rows_carry_the_measured_cost_and_the_kept_cache():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        table = lab.run_lab("smollm2", TEXT, ["streaming", "topk"], [0.25], 192)
    finally:
        torch.set_num_threads(threads)
    lm = models.load("smollm2")
    for _, row in table.iterrows():
        assert row["prefill_cpu_s"] > 0 and row["dense_prefill_cpu_s"] > 0
        assert row["prefill_peak_bytes"] >= 0 and row["dense_prefill_peak_bytes"] >= 0
        assert row["dense_kv_cache_bytes"] == kv_cache_bytes(lm, row["tokens"])
    streaming = table[table["pattern"] == "streaming"].iloc[0]
    params = __import__("json").loads(streaming["params"])
    # StreamingLLM's next token reads its sinks and its window: all a decoder needs to keep
    kept = params["sinks"] + params["window"]
    assert streaming["kv_cache_bytes"] == kv_cache_bytes(lm, kept)
    topk = table[table["pattern"] == "topk"].iloc[0]
    assert topk["kv_cache_bytes"] == topk["dense_kv_cache_bytes"]  # it scores every cached key


def test_peak_rss_sees_an_allocation():
    # in a fresh process: a long-lived test worker may hand out memory its allocator already holds, so the
    # resident size does not grow (two CI runs with two workers saw 4 KiB for this 64 MiB)
    code = (
        "import time, torch\n"
        "from sparse_core.lab_passes import PeakRSS\n"
        "with PeakRSS() as cost:\n"
        "    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched\n"
        "    deadline = time.monotonic() + 30  # held until the sampling thread has had its turn\n"
        "    while cost.peak_so_far() < 48 * 2**20 and time.monotonic() < deadline:\n"
        "        time.sleep(cost.every)\n"
        "    del block\n"
        "print(cost.peak_bytes, cost.cpu_seconds)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    peak, cpu = done.stdout.split()
    assert int(peak) >= 48 * 2**20 and float(cpu) >= 0
