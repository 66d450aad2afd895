"""The Pattern Explorer's state, free of Streamlit: its URL parameters and the options its widgets offer, the
configuration a set of widget values names, the URL's values of a configuration, and the caption of a mask view.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sparse_core import PATTERNS
from sparse_core.export import Config, parse_layers
from sparse_core.views import MaskView

from .query import QueryParam

BLOCK_OPTIONS = [16, 32, 64, 128, 256]
N_OPTIONS = [16, 32, 64, 100, 128, 256, 500, 512, 1000, 1024, 2048, 4096, 8192, 10_000, 16_384, 32_768]
N_OPTIONS += [65_536, 100_000, 131_072, 262_144, 524_288, 1_000_000, 1_048_576]
NAMES = list(PATTERNS)
OPS = ("union", "intersection")
D_HEADS = [32, 64, 128, 256]
KV_DTYPE = "fp16"  # the decode cache's element type, as served models keep it
DEFAULT_PATTERN = "longformer(window=256,global_tokens=1)"
SPECS = [
    QueryParam("n", "choice", 4096, choices=N_OPTIONS),
    QueryParam("causal", "bool", False),
    QueryParam("pattern", "pattern", DEFAULT_PATTERN),
    QueryParam("block", "choice", 128, choices=BLOCK_OPTIONS),
    QueryParam("op", "choice", "union", choices=OPS),
    QueryParam("d_head", "choice", 64, choices=D_HEADS),
]
URL_NAMES = [spec.name for spec in SPECS]
TABS = ("ex.tab_mask", "ex.tab_compare", "ex.tab_export")
MASK_PX = 520  # the full mask on a desktop is drawn about 430 px square (its height bounds it there)
COMPARE_PER_ROW = 2  # four masks in one row were ~50 px wide each, their titles and colour bars cut
COMPARE_DEFAULT = [x for x in ("longformer", "bigbird", "streaming") if x in NAMES]


def layer_state(name: str, params: Mapping | None = None) -> tuple[str, dict]:
    """A new layer's id and the widget values it starts with (its picker and its parameters)."""
    lid = uuid.uuid4().hex[:6]
    return lid, {f"ex_{lid}_pattern": name} | {f"ex_{lid}_{name}_{k}": v for k, v in (params or {}).items()}


def from_url(values: Mapping) -> dict:
    """The widgets' session values from `ui.query.read_query`'s values: one new layer per pattern of the link."""
    state = {f"ex_{k}": values[k] for k in ("n", "causal", "block", "op", "d_head")}
    state["ex_layers"] = []
    for spec in values["pattern"]:
        lid, entries = layer_state(spec.name, spec.params)
        state["ex_layers"].append(lid)
        state |= entries
    return state


def config_of(layers_text: str, op: str, causal: bool, n: int, block: int) -> Config:
    """The configuration that widget values name (PatternError with a message when the layers are refused)."""
    return Config(parse_layers(layers_text, causal), n, op, block, causal)


def to_url(layers_text: str, config: Config, d_head: int) -> dict[str, str]:
    """The URL's values of what the widgets show; `layers_text` as the widgets hold it, refused or not."""
    return {
        "pattern": layers_text,
        "n": str(config.n),
        "causal": "1" if config.causal else "0",
        "op": config.op,
        "block": str(config.block),
        "d_head": str(d_head),
    }


def view_caption(view: MaskView) -> tuple[str, dict[str, str]]:
    """The catalog key and fields that say what a mask view draws: every token, or blocks (shaded by share)."""
    if not view.pooled:
        return "ex.token_view", {"n": f"{view.n:,}"}
    return ("ex.pooled_view" if view.exact_density else "ex.pooled_binary"), {"b": f"{view.block:,}"}
