"""The Pattern Lab's state and its URL, free of Streamlit: the options offered, the query parameters, and the
two directions (a link's values → the widgets' session keys with plain-text problems; the state → the URL).

The page keeps its widget keys here, in one place: `from_url` returns them, `to_url` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sparse_core import PatternError, lab, models, retrieval
from sparse_core.memory_eval import MAX_LENGTH, longest_prompt

from . import deploy
from .i18n import t
from .query import QueryParam

ASSETS = Path(__file__).parents[1] / "assets"
EXAMPLES = {p.stem: p for p in sorted((ASSETS / "examples").glob("*.txt"))}
LONG = {p.stem: p for p in sorted((ASSETS / "long").glob("*.txt"))}
SOURCES = [*LONG, *EXAMPLES, "own"]
BUDGETS = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5]
DEPTHS = [0.1, 0.3, 0.5, 0.7, 0.9]
TRIALS = [1, 2, 3, 4, 5]
X_AXES = ["density", "flops_share"]
METRICS = ["ppl_change", "kl_changed", "agreement", "mass_kept", "cosine"]
ENCODER_METRICS = ["mass_kept", "cosine"]
VIEWS = ["quality", "memory"]


def text_of(source: str, own: str) -> str:
    """The text a source names: the pasted text for "own", else the asset's contents."""
    if source == "own":
        return own
    return (LONG.get(source) or EXAMPLES[source]).read_text(encoding="utf-8")


def is_causal(model: str, local: str = "") -> bool:
    """Whether the model reads causally: a local folder's own model where one is given and loads (cached per
    process; a bad folder is reported where the run loads it), else the listed model's."""
    if local:
        try:
            return models.load(local).info.causal
        except PatternError:
            pass
    return models.MODELS[model].causal


def tokens_offered(cap: int) -> list[int]:
    """Token counts of the perplexity view: a capped server offers only what it runs (up to SmolLM2's 8,192)."""
    return [n for n in lab.TOKEN_LADDER if n <= min(cap, lab.MAX_TOKENS)] or [cap]


def lengths_offered(cap: int) -> list[int]:
    """Prompt lengths of the memory view, up to the deployment's cap and what SmolLM2's context holds.

    A prompt and its answer tokens must fit the 8,192 tokens SmolLM2 reads, so the top rung is the longest
    prompt every task fits (8,177), not 8,192, which would always be refused."""
    top = min(cap, longest_prompt(MAX_LENGTH))
    ladder = (256, 512, 1024, 2048, 4096, 8192)
    offered = [n for n in ladder if n <= top]
    if any(top < n <= cap for n in ladder):  # a rung the cap allows but the context does not: its longest fit
        offered.append(top)
    return offered or [cap]


def specs(cap: int | None = None) -> list[QueryParam]:
    """The page's query parameters under the deployment's token cap (default: read from the environment)."""
    cap = deploy.current().max_lab_tokens if cap is None else cap
    tokens, lengths = tokens_offered(cap), lengths_offered(cap)
    return [
        QueryParam("model", "choice", "smollm2", choices=list(models.MODELS)),
        QueryParam("text", "choice", next(iter(LONG), "own"), choices=SOURCES),
        QueryParam("tokens", "choice", min(512, tokens[-1]), choices=tokens),
        QueryParam("patterns", "text", "window,streaming,bigbird", max_length=400),
        QueryParam("budgets", "text", "0.05,0.1,0.25", max_length=200),
        QueryParam("x", "choice", "density", choices=X_AXES),
        QueryParam("y", "choice", "ppl_change", choices=METRICS),
        QueryParam("view", "choice", "quality", choices=VIEWS),
        QueryParam("task", "choice", "passkey", choices=list(retrieval.TASKS)),
        QueryParam("lengths", "text", ",".join(map(str, lengths[:2])), max_length=100),
        QueryParam("depths", "text", "0.1,0.5,0.9", max_length=100),
        QueryParam("trials", "choice", 1, choices=TRIALS),
        QueryParam("filler", "choice", "en", choices=list(retrieval.LANGS)),
        QueryParam("bf16", "bool", False),  # the grid's linear layers in bfloat16
    ]


def _listed(raw: str, default: str, options: list, cast: Callable, name: str, problems: list[str], lang: str) -> list:
    """A comma list of the link's values, each one of `options`; anything else gives the default and a message."""
    try:
        values = [cast(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        values = [None]
    if all(v in options for v in values):
        return list(dict.fromkeys(values))  # a value twice would be one pill chosen twice
    problems.append(t("lab.mem_bad_list", lang, name=name, choices=", ".join(map(str, options))))
    return [cast(v) for v in default.split(",") if cast(v) in options]


def from_url(values: Mapping, problems: list[str], cap: int, lang: str = "en") -> dict:
    """The widgets' session values from `ui.query.read_query`'s values; unusable parts are added to `problems`."""
    causal = models.MODELS[values["model"]].causal
    try:
        patterns = [p for p in lab.parse_patterns(values["patterns"]) if p in lab.lab_patterns(causal)]
    except PatternError as e:
        problems.append(t("lab.bad_patterns", lang, msg=str(e)))
        patterns = ["window", "bigbird"]
    try:
        budgets = [b for b in lab.parse_budgets(values["budgets"]) if b in BUDGETS]
    except PatternError as e:
        problems.append(t("lab.bad_budgets", lang, msg=str(e)))
        budgets = [0.05, 0.1, 0.25]
    default = {spec.name: spec.default for spec in specs(cap)}
    lengths = _listed(values["lengths"], default["lengths"], lengths_offered(cap), int, "lengths", problems, lang)
    depths = _listed(values["depths"], default["depths"], DEPTHS, float, "depths", problems, lang)
    return {
        "lab_model": values["model"], "lab_source": values["text"], "lab_tokens": values["tokens"],
        "lab_patterns": patterns, "lab_budgets": budgets, "lab_x": values["x"], "lab_y": values["y"],
        "lab_view": values["view"], "lab_mem_task": values["task"], "lab_mem_trials": values["trials"],
        "lab_mem_filler": values["filler"], "lab_mem_lengths": lengths, "lab_mem_depths": depths,
        "lab_mem_bf16": bool(values["bf16"]),
    }  # fmt: skip


def to_url(s: Mapping) -> dict[str, str]:
    """The URL's values from the session's (the inverse of `from_url` on what the widgets hold)."""
    return {
        "model": s["lab_model"], "text": s["lab_source"], "tokens": str(s["lab_tokens"]),
        "patterns": ",".join(s["lab_patterns"]), "budgets": ",".join(f"{b:g}" for b in s["lab_budgets"]),
        "x": s["lab_x"], "y": s["lab_y"], "view": s["lab_view"], "task": s["lab_mem_task"],
        "lengths": ",".join(map(str, s["lab_mem_lengths"])), "depths": ",".join(f"{d:g}" for d in s["lab_mem_depths"]),
        "trials": str(s["lab_mem_trials"]), "filler": s["lab_mem_filler"],
        "bf16": "1" if s.get("lab_mem_bf16") else "0",
    }  # fmt: skip


def linear_dtype(s: Mapping) -> str:
    """The retrieval grid's linear layers as the Memory view's switch says."""
    return "bfloat16" if s.get("lab_mem_bf16") else "float32"
