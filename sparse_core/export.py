"""Configurations as text (URLs, JSON) and as ready-to-run FlexAttention code.

A configuration is a list of layers combined by union or intersection, e.g. the URL value
    longformer(window=256,global_tokens=1)+random(random_keys=3,seed=0)
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import limits, registry
from .analysis import block_layout, block_pair_counts, check_n, dense_mask
from .params import PatternError
from .patterns.base import Expr
from .source import expr_source

LAYER_RE = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")
ECHO_CHARS = 40
MAX_LAYERS = 4
CREATE_BLOCK_MASK_MAX_N = 16384  # above this create_block_mask's n^2 scan is too slow: embed the layout
FULL_BLOCK_ROWS = 1 << 18  # exact full-block detection costs kept blocks x block rows


@dataclass
class Config:
    """A whole explorer configuration: patterns, their combination, n, block size, causal."""

    layers: list[registry.PatternSpec]
    n: int = 1024
    op: str = "union"
    block: int = 128
    causal: bool = False

    def expr(self) -> Expr:
        return registry.combine(self.layers, self.op)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "op": self.op,
            "block_size": self.block,
            "causal": self.causal,
            "layers": [{"pattern": s.name, "params": s.params} for s in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def format_layers(layers: list[registry.PatternSpec]) -> str:
    """The URL form of a list of patterns, e.g. window(window=64)+global(global_tokens=1)."""
    return "+".join(f"{s.name}({','.join(f'{k}={v}' for k, v in s.params.items())})" for s in layers)


def _clip(text: str) -> str:
    return limits.clip_text(text, ECHO_CHARS)


def parse_layers(text: str, causal: bool = False) -> list[registry.PatternSpec]:
    """Inverse of format_layers; raises PatternError with a message for people (user text cut to ~40 chars)."""
    if not text or not text.strip():
        raise PatternError("no pattern given")
    chunks = text.split("+")
    if len(chunks) > MAX_LAYERS:
        raise PatternError(f"at most {MAX_LAYERS} patterns can be combined")
    layers = []
    for chunk in chunks:
        m = LAYER_RE.match(chunk)
        if not m:
            raise PatternError(f"cannot read pattern {_clip(chunk.strip())!r}; write it like window(window=64)")
        name, args = m.group(1), m.group(2) or ""
        if name not in registry.PATTERNS:
            raise PatternError(
                f"unknown pattern {_clip(name)!r}; choose one of: {', '.join(registry.PATTERNS)}",
                "unknown_pattern",
                name=_clip(name),
                known=", ".join(registry.PATTERNS),
            )
        known = {p.name for p in registry.PATTERNS[name].params}
        values = {}
        for item in filter(None, (a.strip() for a in args.split(","))):
            key, eq, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not eq:
                raise PatternError(f"parameter {_clip(item)!r} of {name} needs a value, like {_clip(item)}=8")
            if key not in known:
                raise PatternError(
                    f"pattern '{name}' has no parameter {_clip(key)!r}", "unknown_param", pattern=name, name=_clip(key)
                )
            if len(value) > ECHO_CHARS:  # every valid value is a few digits; do not parse or echo the rest
                raise PatternError(
                    f"{key} must be a number, got {_clip(value)!r}", "not_number", name=key, value=repr(_clip(value))
                )
            values[key] = value
        layers.append(registry.make(name, causal, **values))
    return layers


def config_from_dict(data: dict[str, Any]) -> Config:
    """A Config from its JSON form, validated; PatternError with a message otherwise."""
    try:
        causal = bool(data.get("causal", False))
        layers = [registry.make(layer["pattern"], causal, **layer.get("params", {})) for layer in data["layers"]]
        op = data.get("op", "union")
        if op not in ("union", "intersection"):
            raise PatternError(f"op must be union or intersection, got {op!r}")
        n, block = int(data.get("n", 1024)), int(data.get("block_size", 128))
        check_n(n)
        if block < 1:
            raise PatternError(f"block_size must be at least 1, got {block}")
        return Config(layers, n, op, block, causal)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise PatternError(f"not a pattern configuration: missing or malformed {e}") from None


# -- FlexAttention code --------------------------------------------------------------------
def _pack(array: np.ndarray) -> str:
    """A table as text inside the script: byte planes, zlib, then base64 (decoded once at import).

    Indices below 2^20 leave the high bytes of every int32 zero; storing each byte position as its
    own plane lets zlib drop those planes almost entirely.
    """
    a = np.ascontiguousarray(array)
    planes = a.reshape(-1).view(np.uint8).reshape(-1, a.itemsize).T.tobytes()
    return base64.b64encode(zlib.compress(planes, 1)).decode("ascii")  # level 9 is 4x slower, 10% smaller


def _literal(data: str, width: int = 100) -> str:
    lines = [data[i : i + width] for i in range(0, len(data), width)] or [""]
    return "(\n" + "\n".join(f'    "{line}"' for line in lines) + "\n)"


def _segment_table(prim, n: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(steps, starts (n, S), counts (n, S)) of a table-driven primitive, as int32."""
    starts, counts, steps = [], [], None
    for lo in range(0, n, 1 << 16):
        rows = np.arange(lo, min(n, lo + (1 << 16)), dtype=np.int64)
        segs = prim.segments(rows, n)
        steps = [int(s.step) for s in segs]
        cnt = np.stack([s.count for s in segs], axis=1)
        st = np.where(cnt > 0, np.stack([s.start for s in segs], axis=1), 0)  # empty slots may hold sentinels
        starts.append(st.astype(np.int32))
        counts.append(cnt.astype(np.int32))
    return steps, np.concatenate(starts), np.concatenate(counts)


def _layout_pairs(layout) -> tuple[np.ndarray, np.ndarray]:
    """(query block, key block) of every kept block, sorted; a bitmap instead of np.unique where it fits."""
    nb = layout.n_blocks
    try:
        from .segments import enumerate_keys, intersect_all

        if nb > limits.DENSE_MAX_N:
            raise LookupError
        hit = np.zeros((nb, nb), dtype=bool)
        for term in layout.terms:
            r, k = enumerate_keys(intersect_all(term), nb)
            hit[r, k] = True
        return np.nonzero(hit)
    except (LookupError, AttributeError, ImportError, TypeError):
        return layout.pairs()


def _layout_tables(expr: Expr, n: int, block: int) -> dict[str, np.ndarray]:
    """Kept key blocks per query block as CSR, split into partial and full blocks (full ones skip mask_mod)."""
    layout = block_layout(expr, n, block)
    nb = layout.n_blocks
    qi, kj = _layout_pairs(layout)
    full = np.zeros(len(qi), dtype=bool)
    if len(qi) and len(qi) * block <= FULL_BLOCK_ROWS:
        counts = block_pair_counts(expr, n, block, qi, kj)
        heights = np.minimum((qi + 1) * block, n) - qi * block
        widths = np.minimum((kj + 1) * block, n) - kj * block
        full = counts == heights * widths
    out = {}
    for name, sel in (("partial", ~full), ("full", full)):
        out[name + "_counts"] = np.bincount(qi[sel], minlength=nb).astype(np.int32)
        out[name + "_indices"] = kj[sel].astype(np.int32)  # pairs() is sorted by row, then key block
    return out


_HEADER = '''"""FlexAttention for: {spec} ({op}), n = {n}, block size {block}.

Generated by Sparse Attention Explorer; needs only PyTorch (2.5 or later).
{how}
    python flex_mask.py                     # build the BlockMask and run flex_attention once
    python flex_mask.py --save-mask m.pt    # the dense (n, n) mask as a torch bool tensor (n <= 8192)
    python flex_mask.py --save-layout l.pt  # the BlockMask's (n/B, n/B) block layout
"""

import base64
import sys
import zlib

import torch
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

N = {n}
BLOCK_SIZE = {block}
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # tables live where attention runs


def _table(data, dtype, shape):
    """Decode a table packed by the generator: base64 of zlib of the array's byte planes."""
    raw = bytearray(zlib.decompress(base64.b64decode(data)))
    if not raw:
        return torch.zeros(shape, dtype=dtype, device=DEVICE)
    size = torch.empty((), dtype=dtype).element_size()
    planes = torch.frombuffer(raw, dtype=torch.uint8).reshape(size, -1)
    return planes.T.contiguous().view(dtype).reshape(shape).to(DEVICE)
'''

_MEMBER = '''

def _member(table, q_idx, kv_idx):
    """kv_idx is one of the progressions start + step * t (0 <= t < count) listed for row q_idx."""
    steps, starts, counts = table
    hit = None
    for step, start, count in zip(steps, starts, counts):
        offset = kv_idx - start[q_idx]
        one = (offset >= 0) & (offset < count[q_idx] * step)
        if step != 1:
            one = one & (offset % step == 0)
        hit = one if hit is None else hit | one
    return hit
'''

_FROM_LAYOUT = """

def _block_table(counts, indices):
    nb = counts.numel()
    table = torch.zeros(nb, nb, dtype=torch.int32, device=DEVICE)
    if indices.numel():
        counts64 = counts.to(torch.int64)
        rows = torch.repeat_interleave(torch.arange(nb, device=DEVICE), counts64)
        starts = torch.cumsum(counts64, 0) - counts64
        slots = torch.arange(indices.numel(), device=DEVICE) - torch.repeat_interleave(starts, counts64)
        table[rows, slots] = indices
    return counts[None, None], table[None, None]


# The engine's exact block layout: which key blocks each query block needs (full ones skip mask_mod).
# Built directly, so no n^2 scan: milliseconds where create_block_mask would evaluate every pair.
_NB = {nb}
_kv_num, _kv_idx = _block_table(
    _table({partial_counts}, torch.int32, (_NB,)), _table({partial_indices}, torch.int32, ({n_partial},))
)
_full_num, _full_idx = _block_table(
    _table({full_counts}, torch.int32, (_NB,)), _table({full_indices}, torch.int32, ({n_full},))
)
block_mask = BlockMask.from_kv_blocks(
    _kv_num, _kv_idx, _full_num, _full_idx, BLOCK_SIZE=BLOCK_SIZE, mask_mod=mask_mod, seq_lengths=(N, N)
)
"""

_CREATE = """
block_mask = create_block_mask(
    mask_mod, B=None, H=None, Q_LEN=N, KV_LEN=N, device=DEVICE, BLOCK_SIZE=BLOCK_SIZE
)
"""

_MAIN = '''

def dense_mask(rows_per_chunk=256):
    """The full (N, N) mask, evaluated chunk by chunk with broadcasting (no n^2 temporaries per slot)."""
    out = torch.zeros(N, N, dtype=torch.bool)
    kv_idx = torch.arange(N, device=DEVICE)[None, :]
    for lo in range(0, N, rows_per_chunk):
        q_idx = torch.arange(lo, min(N, lo + rows_per_chunk), device=DEVICE)[:, None]
        rows = torch.broadcast_to(mask_mod(0, 0, q_idx, kv_idx), (len(q_idx), N))
        out[lo : lo + len(q_idx)] = rows.cpu()
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--save-mask"] and len(args) == 2:
        if N > 8192:
            sys.exit("the dense mask is limited to n <= 8192; use --save-layout")
        torch.save(dense_mask(), args[1])
    elif args[:1] == ["--save-layout"] and len(args) == 2:
        torch.save(block_mask.to_dense()[0, 0].bool().cpu(), args[1])
    elif args:
        sys.exit("usage: python flex_mask.py [--save-mask PATH | --save-layout PATH]")
    else:
        print(block_mask)
        if N <= (1 << 16 if DEVICE == "cuda" else 16384):
            q, k, v = (torch.randn(1, 4, N, 64, device=DEVICE) for _ in range(3))
            out = torch.compile(flex_attention)(q, k, v, block_mask=block_mask)
            print("output", tuple(out.shape), "block sparsity", f"{{block_mask.sparsity():.1f}}%")
'''


ELIDED = '"..."'  # a table elided in the preview; the downloaded script holds it


def _mask_mod_source(config: Config, expr: Expr, preview: bool = False) -> tuple[str, str]:
    """(definitions, how-it-works line) of a standalone mask_mod for the expression.

    preview: tables are not computed, and their literals are replaced by a placeholder.
    """
    n = config.n
    table = (lambda make: ELIDED) if preview else (lambda make: _literal(_pack(make())))  # noqa: E731
    formula = expr_source(expr, n)
    if formula is not None:
        how = "mask_mod is the pattern's formula: pointwise in q_idx and kv_idx, no tables."
        return f"\n\ndef mask_mod(b, h, q_idx, kv_idx):\n    return {formula}\n", how
    if expr.data_dependent:
        width = -(-n // 8)
        bits = table(lambda: np.packbits(dense_mask(expr, n), axis=1))  # row-wise, most significant bit first
        how = (
            "The pattern depends on token vectors (synthetic here, as in the explorer), so its mask is\n"
            "embedded as packed bits (zlib + base64) and mask_mod looks each pair up."
        )
        body = (
            f"\n\n_BITS = _table({bits}, torch.uint8, ({n}, {width}))\n\n\n"
            "def mask_mod(b, h, q_idx, kv_idx):\n"
            "    byte = _BITS[q_idx, kv_idx // 8].to(torch.int32)\n"
            "    return ((byte >> (7 - kv_idx % 8)) & 1) == 1\n"
        )
        return body, how
    how = (
        "Random parts are tables of key progressions per query (zlib + base64, decoded at import);\n"
        "formula parts stay formulas. mask_mod reads them pointwise, one slot at a time."
    )
    defs, names = [_MEMBER], {}
    for k, prim in enumerate(expr.primitives()):
        source = expr_source(prim, n)
        if source is not None:
            defs.append(f"\n\ndef _p{k}(q_idx, kv_idx):\n    return {source}\n")
        else:
            if preview:
                slots = limits.predict_slots(prim, n, config.block)
                steps, starts, counts = "[...]", ELIDED, ELIDED
            else:
                steps, start_table, count_table = _segment_table(prim, n)
                slots = start_table.shape[1]
                starts, counts = _literal(_pack(start_table.T)), _literal(_pack(count_table.T))
            defs.append(
                f"\n\n# {type(prim).__name__}: {slots} progression(s) per query row\n"
                f"_T{k} = (\n    {steps},\n"
                f"    _table({starts}, torch.int32, ({slots}, {n})).unbind(0),\n"
                f"    _table({counts}, torch.int32, ({slots}, {n})).unbind(0),\n)\n\n\n"
                f"def _p{k}(q_idx, kv_idx):\n    return _member(_T{k}, q_idx, kv_idx)\n"
            )
        names[id(prim)] = f"_p{k}(q_idx, kv_idx)"
    terms = [" & ".join(names[id(p)] for p in term) for term in expr.terms()]
    keep = " | ".join(f"({t})" for t in terms)
    defs.append(f"\n\ndef mask_mod(b, h, q_idx, kv_idx):\n    return {keep}\n")
    return "".join(defs), how


def flex_snippet(config: Config) -> str:
    """A standalone script (PyTorch only) whose mask_mod and BlockMask reproduce the engine's mask exactly."""
    return _flex_snippet_cached(config.to_json())


def flex_preview(config: Config) -> str:
    """The script as shown on a page: the same code with its tables elided (milliseconds at any n)."""
    return _flex_source(config, preview=True)


@functools.lru_cache(maxsize=8)
def _flex_snippet_cached(config_json: str) -> str:
    return _flex_source(config_from_dict(json.loads(config_json)), preview=False)


def _flex_source(config: Config, preview: bool) -> str:
    expr = config.expr()
    if not preview:
        limits.check_budget(expr, config.n, config.block, what="layout" if config.n > limits.DENSE_MAX_N else "dense")
    body, how = _mask_mod_source(config, expr, preview)
    use_layout = config.n > CREATE_BLOCK_MASK_MAX_N or expr_source(expr, config.n) is None
    if use_layout:
        how += "\nThe BlockMask is built from the engine's embedded block layout with BlockMask.from_kv_blocks."
    else:
        how += "\nThe BlockMask comes from create_block_mask (it evaluates mask_mod on every pair; fine here)."
    if preview and use_layout or preview and expr_source(expr, config.n) is None:
        how += "\nPREVIEW: tables are elided here; download the script to run it."
    header = _HEADER.format(spec=format_layers(config.layers), op=config.op, n=config.n, block=config.block, how=how)
    if use_layout and preview:
        tail = _FROM_LAYOUT.format(
            nb=-(-config.n // config.block),
            **dict.fromkeys(("partial_counts", "partial_indices", "full_counts", "full_indices"), ELIDED),
            n_partial="...",
            n_full="...",
        )
    elif use_layout:
        t = _layout_tables(expr, config.n, config.block)
        tail = _FROM_LAYOUT.format(
            nb=-(-config.n // config.block),
            partial_counts=_literal(_pack(t["partial_counts"])),
            partial_indices=_literal(_pack(t["partial_indices"])),
            n_partial=len(t["partial_indices"]),
            full_counts=_literal(_pack(t["full_counts"])),
            full_indices=_literal(_pack(t["full_indices"])),
            n_full=len(t["full_indices"]),
        )
    else:
        tail = _CREATE
    return header + body + tail + _MAIN.replace("{{", "{").replace("}}", "}")


def snippet_size(config: Config) -> int:
    """Bytes of the FlexAttention script (built once and cached, so the size can be shown before download)."""
    return len(flex_snippet(config).encode())


SCRIPT_OVERHEAD = 6000  # the script's fixed text, in bytes
PACKED_BYTES_PER_INDEX = 4.0  # measured: random keys at 2^16..2^20 pack to 2.7-3.9 bytes per int32 start + count


def estimated_snippet_size(config: Config) -> int:
    """An upper estimate of the script's size from the configuration alone (milliseconds, nothing built)."""
    expr = config.expr()
    n, nb = config.n, -(-config.n // config.block)
    size = SCRIPT_OVERHEAD
    if expr_source(expr, n) is None:
        if expr.data_dependent:
            size += int(n * n / 8 * 4 / 3)  # packed bits, base64 (zlib only helps)
        else:
            for prim in expr.primitives():
                if expr_source(prim, n) is None:
                    slots = limits.predict_slots(prim, n, config.block)
                    size += int(n * slots * PACKED_BYTES_PER_INDEX)
    if n > CREATE_BLOCK_MASK_MAX_N or expr_source(expr, n) is None:
        size += nb * 16  # the block layout's CSR; indices compress to a few bytes per kept block
    return size


# -- downloads, built only when asked for --------------------------------------------------
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
    return _npy(block_layout(expr, config.n, config.block).dense())


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
