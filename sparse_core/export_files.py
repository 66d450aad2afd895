"""The export tab's downloads (masks, block layout, JSON, script), each built only when asked for."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

from . import limits
from .analysis import block_layout, dense_mask
from .config import ECHO_CHARS, Config
from .flex_script import estimated_snippet_size, flex_snippet, snippet_size
from .params import PatternError


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _dense(config: Config) -> np.ndarray:
    expr = config.expr()
    limits.check_budget(expr, config.n, config.block, what="dense")
    return dense_mask(expr, config.n)


def _build_layout(config: Config) -> bytes:
    expr = config.expr()
    limits.check_budget(expr, config.n, config.block, what="layout")
    return _npy(block_layout(expr, config.n, config.block, priced=True).dense())


def _build_csv(config: Config) -> bytes:
    out = io.BytesIO()
    np.savetxt(out, _dense(config).astype(np.uint8), fmt="%d", delimiter=",")
    return out.getvalue()


# name -> (mime type, builder). The explorer passes `lambda: build_file(config, name)` to
# st.download_button, so nothing is built until someone clicks.
FILES: dict[str, tuple[str, Callable[[Config], bytes]]] = {
    "mask.npy": ("application/octet-stream", lambda c: _npy(_dense(c))),
    "mask_packed.npy": ("application/octet-stream", lambda c: _npy(np.packbits(_dense(c), axis=1))),
    "mask.csv": ("text/csv", _build_csv),
    "block_layout.npy": ("application/octet-stream", _build_layout),
    "pattern.json": ("application/json", lambda c: c.to_json().encode()),
    "flex_mask.py": ("text/x-python", lambda c: flex_snippet(c).encode()),
}


def file_names(config: Config) -> list[str]:
    """The files offered for this configuration: token-level masks only where n allows them."""
    budget = limits.current()
    names = []
    if config.n <= budget.dense_n:
        names += ["mask.npy", "mask_packed.npy"]
        if config.n <= budget.csv_n:
            names.append("mask.csv")
    else:
        names.append("block_layout.npy")
    return names + ["pattern.json", "flex_mask.py"]


def file_sizes(config: Config, exact_script: bool = False) -> dict[str, int]:
    """Bytes of each offered file, known before it is built.

    The script's size is an estimate unless exact_script (which builds it once, cached).
    """
    n, nb = config.n, -(-config.n // config.block)
    npy_header = 128
    sizes = {
        "mask.npy": npy_header + n * n,
        "mask_packed.npy": npy_header + n * (-(-n // 8)),
        "mask.csv": 2 * n * n,
        "block_layout.npy": npy_header + nb * nb,
        "pattern.json": len(config.to_json().encode()),
    }
    out = {name: sizes[name] for name in file_names(config) if name in sizes}
    out["flex_mask.py"] = snippet_size(config) if exact_script else estimated_snippet_size(config)
    return out


def build_file(config: Config, name: str) -> bytes:
    """One download, built now; raises PatternError for a file not offered at this n."""
    if name not in FILES or name not in file_names(config):
        raise PatternError(f"no file {limits.clip_text(name, ECHO_CHARS)!r} for this configuration")
    return FILES[name][1](config)


def downloads(config: Config) -> dict[str, bytes]:
    """Every offered file, built eagerly (kept for callers that want them all; the app should use build_file)."""
    return {name: build_file(config, name) for name in file_names(config)}
