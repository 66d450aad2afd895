"""A chosen configuration (layers, combination, n, block size, causal) and its text form for URLs and JSON.

The layer grammar: layers joined by `+`, each `name(param=value,...)`, e.g.
    longformer(window=256,global_tokens=1)+random(random_keys=3,seed=0)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import limits, registry
from .analysis import check_n
from .params import PatternError
from .patterns.base import Expr

LAYER_RE = re.compile(r"^\s*([a-z_]+)\s*(?:\((.*)\))?\s*$")
ECHO_CHARS = 40
MAX_LAYERS = 4


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
