"""A local model folder is cached under its resolved path: one folder typed four ways loads one copy."""

from __future__ import annotations

import pytest

from sparse_core import models


@pytest.fixture
def fresh_loads(monkeypatch):
    monkeypatch.setenv(models.ALLOW_LOCAL_ENV, "1")
    monkeypatch.setattr(models, "_LOADED", {})  # this test's loads only, dropped afterwards
    monkeypatch.setattr(models, "_LOADED_ORDER", [])


def test_one_folder_typed_four_ways_is_one_model(tmp_path, monkeypatch, fresh_loads):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    folder = home / "models" / "minilm"
    folder.symlink_to(models._minilm_dir(), target_is_directory=True)  # the MiniLM folder, without a 90 MB copy
    other = tmp_path / "elsewhere"
    other.symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    spellings = [f"{folder}/", "./models/minilm", "~/models/minilm", str(other)]
    keys = {models.model_key(s) for s in spellings}
    assert keys == {str(models._minilm_dir().resolve())}
    loaded = [models.load(s) for s in spellings]
    assert all(lm is loaded[0] for lm in loaded) and len(models._LOADED) == 1
    assert loaded[0].layers == 6 and not loaded[0].info.causal


def test_bundled_keys_and_hub_ids_keep_their_names():
    assert models.model_key("minilm") == "minilm"
    assert models.model_key("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"  # not a folder here
