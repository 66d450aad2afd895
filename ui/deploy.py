"""Deployment switches: what a public server allows, read from environment variables in one place.

A laptop (`make run`) allows everything; a server shared as a link with a class should not let a
visitor load a folder from the server's disk, and may want to cap the heavy steps:

    SPARSE_EXPLORER_ALLOW_LOCAL_MODELS   0 (default) / 1   load model folders named by a visitor
    SPARSE_EXPLORER_ALLOW_SPEED_RUNS     1 (default) / 0   measured block-sparse speed runs
    SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS 512 (default)     the longest text the inspector reads
    SPARSE_EXPLORER_MAX_LAB_TOKENS       2048 (default)    the longest text the Pattern Lab reads

Per-request compute budgets are the engine's (`sparse_core.limits`, SPARSE_EXPLORER_BUDGET_*).
No Streamlit here, so tests and benchmarks can read the same switches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

ALLOW_LOCAL_MODELS = "SPARSE_EXPLORER_ALLOW_LOCAL_MODELS"
ALLOW_SPEED_RUNS = "SPARSE_EXPLORER_ALLOW_SPEED_RUNS"
MAX_INSPECTOR_TOKENS = "SPARSE_EXPLORER_MAX_INSPECTOR_TOKENS"
MAX_LAB_TOKENS = "SPARSE_EXPLORER_MAX_LAB_TOKENS"
TOKENS_RANGE = (16, 8192)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Deployment:
    """The switches in force; `problems` lists environment values that were ignored (for the server log)."""

    allow_local_models: bool = False
    allow_speed_runs: bool = True
    max_inspector_tokens: int = 512
    max_lab_tokens: int = 2048
    problems: tuple[str, ...] = field(default=(), compare=False)


def _flag(env: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f"{name}={raw[:40]!r} is not 1 or 0; using {int(default)}")
    return default


def _tokens(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    low, high = TOKENS_RANGE
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high:
        return int(text)
    problems.append(f"{name}={raw[:40]!r} is not a whole number in {low}..{high}; using {default}")
    return default


def current(environ: Mapping[str, str] | None = None) -> Deployment:
    """The switches from the environment (read on every call, so a test can change them)."""
    env = os.environ if environ is None else environ
    base, problems = Deployment(), []
    return Deployment(
        allow_local_models=_flag(env, ALLOW_LOCAL_MODELS, base.allow_local_models, problems),
        allow_speed_runs=_flag(env, ALLOW_SPEED_RUNS, base.allow_speed_runs, problems),
        max_inspector_tokens=_tokens(env, MAX_INSPECTOR_TOKENS, base.max_inspector_tokens, problems),
        max_lab_tokens=_tokens(env, MAX_LAB_TOKENS, base.max_lab_tokens, problems),
        problems=tuple(problems),
    )
