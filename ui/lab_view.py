"""The Pattern Lab's Streamlit pieces shared by its two views: engine errors in the page's words, pills, the
Run and Cancel buttons, a heavy run in its turn in the queue with its progress, and the drawn results (the
retrieval grid, greedy continuation); app_pages/lab.py lays them out.
"""

from __future__ import annotations

import json

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from sparse_core import PatternError, jobs, lab

from . import lab_figures as F
from . import lab_text as T
from .chrome import DOWNLOAD_CONFIG, PERSIST, keep_valid, lang, pattern_titles, tr
from .chrome import show_error as _show_engine_error
from .downloads import download_button


def show_error(error: Exception) -> None:
    """The lab's own engine errors in the catalog's words (lab.err_*), others as every page shows them."""
    _show_engine_error(T.error_message(error, lang()))


def pills(label: str, options: list, key: str, fmt) -> None:
    """Pills that show every option at once and wrap (directly in a column they scroll and hide some)."""
    chosen = [v for v in st.session_state.get(key, []) if v in options]
    if chosen != st.session_state.get(key):
        st.session_state[key] = chosen
    st.pills(label, options, selection_mode="multi", wrap=True, key=key, format_func=fmt, persist_state=PERSIST)


def queued(work, start: str, light=None, cheap=None):
    """Run `work(progress)` in its turn in the heavy-job queue (as this session), a progress bar showing the
    place in line, then progress; an engine refusal (price, token cap, queue limit) is a message. `light()`
    says the work has nothing heavy left (every row cached, perhaps by the job ahead): then `cheap()` runs at
    once, outside the queue (`jobs.JobQueue.turn`), and returns the result, or None when it cannot serve it
    after all (a cached row evicted since `light()` said yes): the heavy `work` then waits for its turn."""
    slot = st.empty()  # the bordered box goes with the bar when the run ends
    with slot.container(border=True):  # padding above: the bar's text line was cut at the column's top edge
        bar = st.progress(0.0, text=start)
    titles, language = pattern_titles(), lang()

    def progress(done: int, total: int, label: str, layer: int | None = None, layers: int | None = None) -> None:
        """After a row, or with `layer` after each layer of a pass (`lab.run_lab`'s on_layer): a row at 2,048
        tokens left "0 of 3 done: Dense" unchanged for 97 s, as if hung."""
        shown = F.arm_label(label, titles, language)
        if layer is None or not layers:
            bar.progress(done / max(total, 1), text=tr("lab.progress", done=done, total=total, label=shown))
            return
        # a row's own pass moves the bar on within the row; a dense pass (before the rows, or the plain one
        # a row is compared with) only says its layer
        within = 0.0 if label == "dense" else min(layer / layers, 1.0)
        text = tr("lab.progress_layer", done=done, total=total, label=shown, layer=layer, layers=layers)
        bar.progress(min((done + within) / max(total, 1), 1.0), text=text)

    st.session_state.lab_cancel = False
    owner = get_script_run_ctx().session_id  # one session may hold only a few places in the heavy-job queue
    said = [False]  # light()'s last answer: the turn runs the body outside the queue right after a yes

    def checked() -> bool:
        said[0] = bool(light())
        return said[0]

    cancel = lambda: st.session_state.get("lab_cancel", False)  # noqa: E731
    try:
        waiting = lambda ahead: bar.progress(0.0, text=tr("lab.queued", ahead=ahead))  # noqa: E731
        with jobs.HEAVY.turn(on_wait=waiting, owner=owner, light=checked if light is not None else None):
            if not said[0] or cheap is None:
                return work(progress, cancel)
            served = cheap()
            if served is not None:
                return served
        with jobs.HEAVY.turn(on_wait=waiting, owner=owner):  # light no more: heavy work always takes the queue
            return work(progress, cancel)
    except PatternError as e:
        show_error(e)
    finally:
        slot.empty()


def price_caption(quote) -> None:
    caption, over = T.price_caption(quote, lang())
    (st.warning if over else st.caption)(caption)


def _request_cancel() -> None:
    st.session_state.lab_cancel = True


def run_cancel(run_key: str, cancel_key: str) -> bool:
    b1, b2 = st.columns(2)
    run = b1.button(tr("lab.mem_run" if run_key == "lab_mem_run" else "lab.run"), key=run_key, type="primary")
    b2.button(tr("lab.cancel"), key=cancel_key, on_click=_request_cancel)
    return run


def memory_results(result, grid: tuple | None = None) -> None:
    """A retrieval grid's heatmaps, caption, table and download; `grid` (`lab_text.memory_grid`) draws a
    stopped run's whole grid, the cells it did not reach blank, as its note says."""
    titles, language = pattern_titles(), lang()
    fig, facts = F.memory_heatmaps(result.rows, titles, language, grid=grid)
    st.plotly_chart(fig, key="lab_memory", config=DOWNLOAD_CONFIG)
    compare = F.memory_compare(facts)
    if compare:
        st.caption(tr(compare[0], **compare[1]))
    summary = F.memory_summary(result.rows, titles, language)
    percent = {c: st.column_config.NumberColumn(c, format="percent") for c in summary.columns[1:3]}
    st.dataframe(summary, hide_index=True, key="lab_mem_table", column_config=percent)
    if not result.cancelled:  # a stopped run's CPU seconds were never read
        prompts = sum(f["trials"] for f in facts.values())
        st.caption(tr("lab.mem_done", prompts=prompts, seconds=f"{result.cpu_seconds:,.0f}"))
    rows = json.dumps(result.rows, ensure_ascii=False, indent=1)
    download_button(st, tr("lab.json"), lambda: rows, "pattern_lab_memory.json", "application/json")


@st.fragment
def continuation(model: str, text: str, table) -> None:
    """Greedy continuation, dense and sparse side by side (a fragment: it reruns alone)."""
    st.subheader(tr("lab.continue"))
    st.caption(tr("lab.continue_help"))
    structured, labels = T.continuation_choices(table, pattern_titles(), lang())
    if structured.empty:
        st.info(tr("lab.continue_none"))
        return
    c1, c2 = st.columns([2, 1])
    # the choice is the row's place, its label only the wording: a label as the value went stale on a language
    # switch and the choice fell back to the first row
    rows = list(range(len(labels)))
    keep_valid("lab_cont", rows, 0)
    choice = c1.selectbox(
        tr("lab.continue_pattern"), rows, key="lab_cont", format_func=labels.__getitem__, persist_state=PERSIST
    )
    steps = c2.slider(tr("lab.continue_steps"), 4, lab.MAX_NEW_TOKENS, 24, key="lab_steps", persist_state=PERSIST)
    if not st.button(tr("lab.continue_run"), key="lab_cont_run"):
        return
    row = structured.iloc[choice]
    pattern = (row["pattern"], json.loads(row["params"]))
    # the prompt and its new tokens within SmolLM2's context (8,192 + 24 positions was refused): at the top of
    # the slider the continuation reads the text's first 8,192 − steps tokens
    tokens = min(int(st.session_state.lab_tokens), lab.MAX_TOKENS - int(steps))
    # two prefills of the text (dense and sparse) and their decoding: ~100 CPU-s at 8,192 tokens, so it waits
    # for its turn in the heavy queue like a run (a refusal is shown by `queued`, which then gives None)
    out = queued(lambda progress, cancel: lab.continue_text(model, text, pattern, int(steps), tokens),
                 tr("lab.continuing"))  # fmt: skip
    if out is None:
        return
    if out.divergence is None:
        st.success(tr("lab.same", n=steps))
    else:
        st.warning(tr("lab.diverges", i=out.divergence + 1, n=steps))
    a, b = st.columns(2)
    a.markdown(f"**{tr('lab.dense')}**")
    a.text(F.marked(out.dense_pieces, out.divergence))
    b.markdown(f"**{tr('lab.sparse', pattern=pattern_titles()(row['pattern']), budget=f'{row.budget:.0%}')}**")
    b.text(F.marked(out.sparse_pieces, out.divergence))
