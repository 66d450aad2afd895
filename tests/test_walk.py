"""A randomised walk over every widget of every page (issue 17): after each step no exception is shown
and the URL says what the page shows. A failure prints the seed and a shortest sequence (delta
debugging) that reproduces it; replay it with `replay(actions)`.

Length: WALK_STEPS steps per seed (env SPARSE_WALK_STEPS), over WALK_SEEDS seeds. Under CI=true the
default is 4 seeds × 520 steps (≥ 2,000); `make test-fast` sets SPARSE_WALK_STEPS low. The walk keeps
the cost down: MiniLM and short texts in the Inspector, SmolLM2 rarely, small n mostly, no speed
measurement and no greedy continuation (each has its own tests).
"""

from __future__ import annotations

import os
import random
import time

import pytest

from sparse_core import PATTERNS, models
from sparse_core.export import parse_layers
from tests.conftest import app_test
from tests.links import follow_link

pytestmark = pytest.mark.model

CI = os.environ.get("CI") == "true"
STEPS = int(os.environ.get("SPARSE_WALK_STEPS", "520" if CI else "150"))
SEEDS = [int(s) for s in os.environ.get("SPARSE_WALK_SEEDS", "1,2,3,4" if CI else "1").split(",")]
PAGES = {
    "home": "app_pages/home.py",
    "explorer": "app_pages/explorer.py",
    "inspector": "app_pages/inspector.py",
    "lab": "app_pages/lab.py",
    "cost": "app_pages/cost.py",
    "learn": "app_pages/learn.py",
}
NAMES = list(PATTERNS)
TEXTS = [
    "A short line.",
    "The cat sat on the mat. " * 12,
    "[link](http://127.0.0.1:9/x) <b>bold</b> $x^2$ :red[no] # heading",
    "稀疏注意力只保留一部分键。它节省计算，也会丢掉信息。" * 3,
    "",
    "   ",
]
# Raw values of widgets whose options Streamlit shows formatted (AppTest sets raw values).
RAW = {
    "_lang_widget": ["en", "zh"],
    "ex_n": [16, 32, 64, 100, 256, 1000, 1024, 4096, 8192, 32_768],
    "ex_block": [16, 32, 64, 128, 256],
    "ex_d_head": [32, 64, 128, 256],
    "ex_op": ["union", "intersection"],
    "ex_image_format": ["png", "svg"],
    "ex_zoom_size": [16, 32, 64, 128, 256, 512],
    "in_model": ["minilm"],  # SmolLM2 only through RARE below
    "in_limit": [32, 64],
    "in_scale": ["linear", "log", "row"],
    "lab_model": list(models.MODELS),
    "lab_tokens": [64, 128],
    "lab_x": ["density", "flops_share"],
    "lab_patterns": None,  # the options shown (raw names are the pills' options through format_func)
    "lab_budgets": [0.01, 0.02, 0.05, 0.1, 0.25, 0.5],
    "co_speed_heads": [1, 2, 4, 8, 16],
    "co_speed_block": [64, 128],
    "co_speed_ns": [1024, 2048, 4096],
    "ex_compare": NAMES,
    "co_patterns": NAMES,
}
MAX_PICK = {"ex_compare": 3, "co_patterns": 5}
# a real SmolLM2 run or a model load per click, or a local folder: other tests cover them
SKIP = {"co_measure_button", "lab_cont_run", "lab_steps", "lab_cont", "in_local", "lab_local", "lab_mem_run"}
RARE = 0.01  # chance per step of an expensive action (SmolLM2, a lab run, n = 1M)


# -- actions: plain data, so that a sequence can be replayed and shrunk ------------------------
def widgets(at):
    """(kind, key, widget) for every keyed widget the page shows now."""
    kinds = ["selectbox", "select_slider", "radio", "toggle", "number_input", "multiselect", "text_area", "button"]
    out = []
    for kind in [*kinds, "button_group"]:
        for w in getattr(at, kind):
            # a disabled widget cannot be touched in a browser either
            if w.key and w.key not in SKIP and not getattr(w.proto, "disabled", False):
                out.append((kind, w.key, w))
    return out


def draw(rng: random.Random, at, page: str):
    """One random action on the page as it stands."""
    roll = rng.random()
    if roll < 0.08:
        return ("page", rng.choice(list(PAGES)))
    if roll < 0.11:
        return ("lang", rng.choice(["en", "zh"]))
    if roll < 0.15:
        return ("back",)
    if roll < 0.15 + RARE:
        return rng.choice([("set", "in_model", "smollm2"), ("click", "lab_run"), ("set", "ex_n", 1_048_576)])
    if roll < 0.19 and page in ("explorer", "cost", "lab"):
        return ("tab", rng.randrange(4))
    if roll < 0.21 and page == "explorer":  # the zoom expander: its fragment's widgets appear when open
        return ("state", "ex_zoom_open", rng.random() < 0.7)
    present = widgets(at)
    if not present:
        return ("page", rng.choice(list(PAGES)))
    kind, key, w = rng.choice(present)
    if kind == "button":
        return ("skip",) if key == "lab_run" else ("click", key)
    if kind == "toggle":
        return ("set", key, rng.random() < 0.5)
    if kind == "text_area":
        return ("set", key, rng.choice(TEXTS))
    if kind == "number_input":
        low = w.min if w.min is not None else 0
        high = w.max if w.max is not None else low + 100
        high = min(high, low + 600)  # large windows at large n cost time, not coverage
        value = rng.randint(int(low), int(high)) if float(w.step).is_integer() else round(rng.uniform(low, high), 2)
        return ("set", key, value)
    if kind == "selectbox":
        return ("index", key, rng.randrange(len(w.options))) if w.options else ("skip",)
    if kind == "multiselect" or (kind == "button_group" and key in ("lab_patterns", "lab_budgets")):
        pool = RAW.get(key) or _lab_patterns(at)
        return ("set", key, rng.sample(pool, rng.randint(0, min(len(pool), MAX_PICK.get(key, 3)))))
    if key in RAW and RAW[key]:
        return ("set", key, rng.choice(RAW[key]))
    return ("skip",)


def _lab_patterns(at) -> list[str]:
    """The lab's pattern pills as raw names: those offered for the model picked."""
    from sparse_core import lab

    model = at.session_state["lab_model"] if "lab_model" in at.session_state else "smollm2"
    return lab.lab_patterns(models.MODELS[model].causal)


class Walker:
    """Applies actions to one AppTest session and checks the page after each."""

    def __init__(self):
        self.at = app_test(timeout=600)
        self.at.run()
        self.page = "home"
        self.history: list[tuple[str, dict]] = []

    def apply(self, action) -> None:
        at, kind = self.at, action[0]
        if kind == "skip":
            return
        if kind == "page":
            self._remember()
            self.page = action[1]
            follow_link(at, PAGES[self.page]).run()  # the sidebar's link: the page's state in its URL
        elif kind == "back":
            if not self.history:
                return
            self._remember()
            page, query = self.history.pop(-2 if len(self.history) > 1 else -1)
            for key in list(at.query_params):
                del at.query_params[key]
            for key, value in query.items():
                at.query_params[key] = value
            self.page = page
            at.switch_page(PAGES[page]).run()
        elif kind == "state":
            at.session_state[action[1]] = action[2]
            at.run()
        elif kind == "lang":
            at.radio(key="_lang_widget").set_value(action[1]).run()
        elif kind == "tab":
            language = at.session_state["lang"]
            key = {"explorer": "ex_tab", "cost": f"co_tab_{language}", "lab": f"lab_tab_{language}"}[self.page]
            tabs = at.tabs
            if key and tabs and action[1] < len(tabs):
                at.session_state[key] = tabs[action[1]].label
                at.run()
        else:
            found = [w for k, key, w in widgets(at) if key == action[1]]
            if not found:
                return
            w = found[0]
            if kind == "click":
                w.click().run()
            elif kind == "index":
                if action[2] < len(w.options):
                    w.select_index(action[2]).run()
            else:
                w.set_value(action[2]).run()

    def _remember(self) -> None:
        self.history.append((self.page, {k: _one(v) for k, v in self.at.query_params.items()}))
        del self.history[:-6]

    def problems(self) -> list[str]:
        at = self.at
        out = [f"exception: {e.value}" for e in at.exception]
        out += check_url(self.page, at)
        return out


def _one(value):
    return value[-1] if isinstance(value, list) else value


# -- state == URL, per page ---------------------------------------------------------------
OWN = {
    "explorer": {"pattern", "n", "causal", "op", "block", "d_head"},
    "inspector": {"model", "text", "tokens", "pattern", "layer", "head", "token", "scale", "hide_first"},
    "lab": {
        "model",
        "text",
        "tokens",
        "patterns",
        "budgets",
        "x",
        "y",
        "view",
        "task",
        "lengths",
        "depths",
        "trials",
        "filler",
        "bf16",
    },
    "cost": {"patterns", "model"},
}


def _value(at, kind: str, key: str):
    found = [w for w in getattr(at, kind) if w.key == key]
    return found[0].value if found else None


def check_url(page: str, at) -> list[str]:
    """What differs between the URL and the widgets shown (the pages' own URL forms)."""
    if page not in OWN:
        return []
    url = {k: _one(v) for k, v in at.query_params.items()}
    out = [f"{page}: foreign parameter {k}={v}" for k, v in url.items() if k not in OWN[page] | {"lang"}]
    if not set(url) & OWN[page]:  # none of the page's parameters: the URL says "the defaults"
        prefix = {"explorer": "ex", "inspector": "in", "lab": "lab", "cost": "co"}[page]
        key = f"{prefix}_url_defaults"
        url |= at.session_state[key] if key in at.session_state else {}
    shown: dict[str, object] = {}
    if page == "explorer":
        shown = {
            "n": _value(at, "select_slider", "ex_n"),
            "block": _value(at, "select_slider", "ex_block"),
            "d_head": _value(at, "select_slider", "ex_d_head"),
            "causal": {True: "1", False: "0"}.get(_value(at, "toggle", "ex_causal")),
        }
        layers = at.session_state["ex_layers"] if "ex_layers" in at.session_state else []
        if len(layers) > 1:
            shown["op"] = _value(at, "radio", "ex_op")
        names = [_value(at, "selectbox", f"ex_{lid}_pattern") for lid in layers]
        try:
            in_url = parse_layers(url.get("pattern", ""), url.get("causal") == "1")
        except ValueError:
            in_url = None  # a refused combination: the page shows an error and the URL its raw text
        if in_url is not None and [s.name for s in in_url] != names:
            out.append(f"explorer: URL patterns {[s.name for s in in_url]} but the page shows {names}")
        if in_url is not None:
            for lid, spec in zip(layers, in_url, strict=False):
                for name, value in spec.params.items():
                    w = _value(at, "number_input", f"ex_{lid}_{spec.name}_{name}")
                    if w is not None and float(w) != float(value):
                        out.append(f"explorer: URL {spec.name}.{name}={value} but the page shows {w}")
    elif page == "inspector":
        example = _value(at, "selectbox", "in_example")
        shown = {
            "model": _value(at, "radio", "in_model"),
            "text": None if example is None else (example or "own"),
            "tokens": _value(at, "select_slider", "in_limit"),
            "layer": _value(at, "number_input", "in_layer"),
            "head": _value(at, "number_input", "in_head"),
            "hide_first": {True: "1", False: "0"}.get(_value(at, "toggle", "in_hide_first")),
        }
        pattern = _value(at, "selectbox", "in_pattern")
        if pattern is not None and not url.get("pattern", "").startswith(pattern + "("):
            out.append(f"inspector: URL pattern {url.get('pattern')} but the page shows {pattern}")
        token = [w for w in at.selectbox if w.key and w.key.startswith("in_token_")]
        if token:
            shown["token"] = token[0].value
    elif page == "lab":
        shown = {
            "model": _value(at, "radio", "lab_model"),
            "text": _value(at, "selectbox", "lab_source"),
            "tokens": _value(at, "select_slider", "lab_tokens"),
            "x": _value(at, "radio", "lab_x"),
            "y": _value(at, "selectbox", "lab_y"),
            "bf16": {True: "1", False: "0"}.get(_value(at, "toggle", "lab_mem_bf16")),
        }
        patterns = at.session_state["lab_patterns"] if "lab_patterns" in at.session_state else None
        if patterns is not None:
            shown["patterns"] = ",".join(patterns)
    elif page == "cost":
        picked = _value(at, "multiselect", "co_patterns")
        shown = {"patterns": None if picked is None else ",".join(picked), "model": _value(at, "selectbox", "co_model")}
    for name, value in shown.items():
        if value is not None and url.get(name) != str(value):
            out.append(f"{page}: URL {name}={url.get(name)!r} but the page shows {value!r}")
    return out


# -- running, shrinking, reporting --------------------------------------------------------
def run_walk(seed: int, steps: int):
    """(actions, first failure or None); the actions up to and including the failing one."""
    rng = random.Random(seed)
    walker = Walker()
    actions = []
    for _ in range(steps):
        action = draw(rng, walker.at, walker.page)
        actions.append(action)
        try:
            walker.apply(action)
        except Exception as e:  # noqa: BLE001 - the harness's own error is a finding too
            return actions, f"{type(e).__name__}: {e}"
        problems = walker.problems()
        if problems:
            return actions, "; ".join(problems)
    return actions, None


def replay(actions) -> str | None:
    """The failure a sequence of actions ends in, or None."""
    walker = Walker()
    for action in actions:
        try:
            walker.apply(action)
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {e}"
        problems = walker.problems()
        if problems:
            return "; ".join(problems)
    return None


def shrink(actions, fails, budget_s: float = 240.0):
    """Delta debugging (ddmin): a shorter sequence for which `fails` still holds, within a time budget."""
    deadline = time.monotonic() + budget_s
    n = 2
    while len(actions) >= 2 and time.monotonic() < deadline:
        size = max(1, len(actions) // n)
        chunks = [actions[i : i + size] for i in range(0, len(actions), size)]
        reduced = False
        for i in range(len(chunks)):
            rest = [a for j, c in enumerate(chunks) if j != i for a in c]
            if rest and fails(rest):
                actions, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(actions):
                break
            n = min(len(actions), n * 2)
    return actions


def test_shrink_finds_the_two_actions_that_matter():
    """The shrinker itself: from a long sequence it keeps only the actions the failure needs."""
    actions = list(range(40))
    assert shrink(actions, lambda xs: 7 in xs and 31 in xs) == [7, 31]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_walk_shows_no_exception_and_the_url_says_what_the_page_shows(seed):
    started = time.process_time()
    actions, failure = run_walk(seed, STEPS)
    if failure:
        short = shrink(actions, lambda xs: replay(xs) is not None)
        pytest.fail(
            f"seed {seed}, step {len(actions)}: {failure}\n"
            f"shortest sequence found ({len(short)} actions), replay(...) reproduces it:\n{short!r}"
        )
    print(f"seed {seed}: {len(actions)} steps, {time.process_time() - started:.0f} s CPU")
