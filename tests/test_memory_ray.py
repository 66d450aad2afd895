"""`--ray`: each grid cell runs as a task on a Ray cluster (a local one with 2 CPUs, started here) and the
merged rows are those of the in-process run. Skipped where ray is not installed (the `cluster` extra)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e .[cluster] (the dev lock adds it)")

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_a_ray_grid_is_the_local_grid(local_ray):
    from sparse_core import memory_eval

    grid = dict(lengths=[256, 320], depths=[0.2, 0.8], trials=1, patterns=["window"], budgets=[0.25])
    seen, handed = [], []
    remote = memory_eval.run_memory(
        "smollm2", "passkey", ray=local_ray, progress=lambda *a: seen.append(a), on_row=handed.append, **grid
    )
    local = memory_eval.run_memory("smollm2", "passkey", **grid)
    assert not remote.cancelled and seen and seen[-1][0] == seen[-1][1] == 2 * 2 * 2
    assert len(remote.rows) == len(local.rows) == 2 * 2 * 2
    assert sorted(map(id, handed)) == sorted(map(id, remote.rows))  # each row handed over once, as it came back
    for got, want in zip(remote.rows, local.rows, strict=True):
        assert {k: v for k, v in got.items() if k != "seconds"} == {k: v for k, v in want.items() if k != "seconds"}


def test_the_cli_says_what_to_install_without_ray(monkeypatch, capsys):
    import importlib.util

    from sparse_core import lab_cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert lab_cli.main(["--task", "passkey", "--lengths", "256", "--ray"]) == 2
    assert "pip install -e .[cluster]" in capsys.readouterr().err
