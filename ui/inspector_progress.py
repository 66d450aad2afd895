"""The Inspector's engine calls with their progress: the model's load, the comparison, and long runs.

Up to 512 tokens the comparison runs on every change (cached per text, pattern and parameters) under
a spinner that says how long it took last time. Past 512 tokens (`inspection_long`) a run is priced
first, runs on request in its turn in the heavy-job queue (`jobs.HEAVY`, as the Lab's runs do), shows
its progress layer by layer and can be cancelled; one long result is kept per process, until the next long
run or the end of a class (`release_long`, called by `serve.after_class`).
"""

from __future__ import annotations

import os
import threading
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sparse_core import PatternError, jobs, models

from .chrome import show_error, tr

# Seconds: steps measured above this get their time shown next time. The browser test lowers it to
# 0, a "slowed step", so that it can check the progress stays in the viewport on any machine.
SLOW = float(os.environ.get("SPARSE_EXPLORER_SLOW_STEP_SECONDS", "1.0"))
TICK = 0.5  # seconds between updates of the first-use counter
STAGES = {"waiting": "wait", "starting": "start", "reading": "read", "saving": "save", "converted": "done"}
s = st.session_state


# -- process-wide state ------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def engine():
    """The inspection module, imported once: sessions arriving together wait here instead of racing
    through torch's and transformers' first imports (which raised ImportError for some of them)."""
    from sparse_core import inspection

    return inspection


@st.cache_resource(show_spinner=False)
def _timings() -> dict:
    """Seconds of the last load and comparison per model, by token count, measured on this machine."""
    return {}


@st.cache_resource(show_spinner=False)
def _long_results() -> dict:
    """The last long inspection of this process (its q/k are hundreds of MB at 8,192 tokens: one is kept)."""
    return {}


def release_long() -> int:
    """Drop the kept long inspection (up to 1.1 GB at 8,192 tokens, data-dependent); how many were dropped.

    `serve.after_class` calls it: a class's last long result would otherwise stay until the next long run."""
    store = _long_results()
    count = len(store)
    store.clear()
    return count


def last_time(step: str, model: str, n: int | None = None) -> str:
    """ "last time: 1.4 s (159 tokens)" from the closest measured run, or "" when none is known."""
    runs = _timings().get((step, model))
    if not runs:
        return ""
    size = max(runs) if n is None else min(runs, key=lambda m: abs(m - n))
    if n is None or size == n:
        return tr("in.last_time", s=f"{runs[size]:.1f}")
    return tr("in.last_time_n", s=f"{runs[size]:.1f}", n=size)


@st.cache_resource(show_spinner=False, max_entries=4)
def _inspect(key: str, text: str, limit: int, pattern: str, params: tuple):
    """The one engine call (the engine caches the dense pass per model and text on its own)."""
    start = time.perf_counter()
    result = engine().inspect_text(models.load(key), text, pattern, dict(params), limit)
    _timings().setdefault(("compare", key), {})[result.n] = time.perf_counter() - start
    return result


# -- the model's load ------------------------------------------------------------------------------
def _load_ticking(key: str, bar, begun: float):
    """models.load in a worker thread while this run redraws the bar every TICK seconds.

    The engine reports a stage only when one begins, and reading the 4-bit weights is one stage of
    over a minute: the counter stood at "0 s" all along. The worker only records the last report
    (Streamlit elements are drawn from the script's own thread); this thread draws it, with the time."""
    last, outcome = {"share": 0.0, "message": "starting"}, {}

    def work() -> None:
        try:
            outcome["model"] = models.load(key, progress=lambda share, m: last.update(share=share, message=m))
        except BaseException as e:  # noqa: BLE001 - re-raised in the script's thread below
            outcome["error"] = e

    worker = threading.Thread(target=work, name=f"load-{key}", daemon=True)
    worker.start()
    while worker.is_alive():
        stage = next((f"in.stage_{v}" for k, v in STAGES.items() if last["message"].startswith(k)), None)
        text = tr(stage) if stage else last["message"]
        bar.progress(min(1.0, last["share"]), text=f"{text} · {time.perf_counter() - begun:.0f} s")
        worker.join(TICK)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["model"]


def load(key: str, title: str, box):
    """The model, with its real stages shown at the top of the results; returns (model, open status or None)."""
    if key == "smollm2" and not models.smollm_converted():
        with box:
            status = st.status(tr("in.loading", model=title), expanded=True)
            with status:
                bar = st.progress(0.0, text=tr("in.stage_start"))
                lm = _load_ticking(key, bar, time.perf_counter())
                bar.progress(0.97, text=tr("in.stage_first_run"))
        return lm, status
    start = time.perf_counter()
    with box, st.spinner(f"{tr('in.loading', model=title)} {last_time('load', key)}"):
        engine()
        lm = models.load(key)
    if time.perf_counter() - start > SLOW:
        _timings().setdefault(("load", key), {})[0] = time.perf_counter() - start
    return lm, None


# -- the comparison --------------------------------------------------------------------------------
def _expect_slow(args: tuple, model: str, n: int) -> bool:
    """Whether this comparison is new to the session and took over SLOW seconds last time at a similar length."""
    runs = _timings().get(("compare", model)) or {}
    new = hash(args) not in s.get("in_seen", [])
    return new and any(seconds > SLOW and size >= n * 0.7 for size, seconds in runs.items())


def compare(args: tuple, n: int, title: str, box):
    """The comparison up to 512 tokens, on every change, with a spinner (and a toast when it is slow)."""
    waiting = tr("in.computing", n=f"{n:,}", model=title, last=last_time("compare", args[0], n))
    if _expect_slow(args, args[0], n):  # the spinner may be above the fold when a widget far down changed
        st.toast(waiting, icon="⏳", duration="long")  # 4 s was gone before a busy page redrew
    with box, st.spinner(waiting, show_time=True):
        result = _inspect(*args)
    s.in_seen = [*s.get("in_seen", []), hash(args)][-8:]
    return result


def _request_cancel() -> None:
    s.in_cancel = True


def _request_run(asked: int) -> None:
    s.in_long_go = asked


def long_run(args: tuple, lm, tokens, title: str, box, data_dependent: bool):
    """A long inspection: priced, refused over the budget, run on request in the heavy-job queue with
    progress per layer and a cancel; returns the result or None (not run, cancelled, refused)."""
    inspection = engine()
    from sparse_core import inspection_long as IL

    key, _, _, pattern, params = args
    n = len(tokens.ids)
    done = _long_results().get(hash(args))
    if done is not None:
        return done
    price = IL.price_inspection(key, n, data_dependent, heads=lm.layers * lm.heads)
    with box:
        caption = tr(
            "in.long_price", n=f"{n:,}", seconds=f"{price.cpu_seconds:,.0f}", budget=f"{price.budget_seconds:,.0f}"
        )
        (st.warning if price.over_budget else st.caption)(caption)
        try:
            IL.refuse_over_budget(price, IL.token_choices(n, n), data_dependent)
        except PatternError as e:
            show_error(e)
            return None
        st.caption(tr("in.long_ready", limit=IL.LONG_FROM))
        # What can be done now: Inspect before a run, Cancel (in the status) only during one, neither after it
        # (a kept result is shown without them). The run starts from Inspect's callback, so that the run it
        # asks for draws no Inspect button: one drawn and then replaced stayed on screen below the progress.
        if s.pop("in_long_go", None) != hash(args):  # asked for these very inputs, not for others since
            label = tr("in.long_run", n=f"{n:,}")
            st.button(label, key="in_long_run", type="primary", on_click=_request_run, args=(hash(args),))
            if s.pop("in_cancel", False):
                st.info(tr("in.long_cancelled"))
            return None
        s.in_cancel = False
        status = st.status(tr("in.computing", n=f"{n:,}", model=title, last=last_time("long", key, n)), expanded=True)
    # Cancel inside the running status, beside its progress: it goes when the status is collapsed at the end
    cancel = status.empty()
    cancel.button(tr("in.long_cancel"), key="in_long_cancel", on_click=_request_cancel)
    stages = {"dense": tr("in.long_stage_dense"), "sparse": tr("in.long_stage_sparse")}
    layers = lm.layers
    # status.progress, not `with status:` — leaving that block marks the status complete (a check beside
    # "Running … on 4,096 tokens" for the whole run); it stays "running" until update() below ends it
    bar = status.progress(0.0, text=tr("in.long_progress", stage=stages["dense"], done=0, total=layers))

    def progress(done: int, total: int, stage: str) -> None:
        within = done - (layers if stage == "sparse" else 0)
        label = tr("in.long_progress", stage=stages.get(stage, stage), done=within, total=layers)
        bar.progress(min(1.0, done / max(total, 1)), text=label)

    owner = get_script_run_ctx().session_id  # one session may hold only a few places in the heavy-job queue
    start = time.perf_counter()
    try:
        with jobs.HEAVY.turn(on_wait=lambda ahead: bar.progress(0.0, text=tr("lab.queued", ahead=ahead)), owner=owner):
            result = inspection.inspect_text(
                lm, args[1], pattern, dict(params), args[2], tokens, progress, lambda: s.get("in_cancel", False)
            )
    except IL.PassCancelledError:
        cancel.empty()
        status.update(label=tr("in.long_cancelled"), state="error")
        return None
    except PatternError as e:
        cancel.empty()
        status.update(state="error")
        show_error(e)
        return None
    cancel.empty()
    seconds = time.perf_counter() - start
    status.update(label=tr("in.long_done", n=f"{n:,}", s=f"{seconds:.0f}"), state="complete", expanded=False)
    # its own step: a long run's seconds (queue wait included) would make every short comparison "slow"
    _timings().setdefault(("long", key), {})[n] = seconds
    store = _long_results()
    store.clear()  # one long result per process: its q/k are the bound the engine states
    store[hash(args)] = result
    return result
