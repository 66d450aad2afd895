"""The lab's result cache: fitted parameters and measured rows, in memory and as atomic JSON files."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

from . import lab_passes, models


def text_hash(text: str) -> str:
    """Short stable hash of a text (cache keys, file names)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _cache_folder() -> Path | None:
    if os.environ.get("SPARSE_LAB_DISK_CACHE", "1") == "0":
        return None
    return models.cache_dir() / "lab"


_MEMORY: OrderedDict = OrderedDict()
_MEMORY_SIZE = 512
# every session's script thread reads and writes _MEMORY: an unlocked `in` then `move_to_end` raced an
# eviction (KeyError) once more than _MEMORY_SIZE entries were cached. Held for dict operations only.
_LOCK = threading.Lock()


def _remember(key: str, value) -> None:
    with _LOCK:
        _MEMORY[key] = value
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)


def cache_get(key: str):
    """The cached value of a key, from memory or disk (None: not cached)."""
    with _LOCK:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key]
    folder = _cache_folder()
    if folder is None:
        return None
    path = folder / f"{key}.json"
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    _remember(key, value)  # bounded like a put: a disk hit used to grow memory past _MEMORY_SIZE
    return value


def cache_put(key: str, value) -> None:
    """Keep a value in memory and, unless SPARSE_LAB_DISK_CACHE=0, on disk (atomically)."""
    _remember(key, value)
    folder = _cache_folder()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(value))
        os.replace(tmp, folder / f"{key}.json")  # atomic: a reader sees the whole row or none
    except OSError:
        pass  # a read-only disk only costs the cache


def cache_key(*parts) -> str:
    """A stable 32-hex-digit key for JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def clear_cache(memory_only: bool = False) -> None:
    """Forget cached rows (and the cached dense passes)."""
    with _LOCK:
        _MEMORY.clear()
    lab_passes.clear_dense()
    folder = _cache_folder()
    if not memory_only and folder is not None and folder.exists():
        for path in folder.glob("*.json"):
            path.unlink(missing_ok=True)
