"""Server work per interaction: the whole rerun a user waits for, not only the figure.

Each row is one user action on a warm page (the AppTest is already open, the Python modules are
imported), measured from the input change to the end of the script run: server CPU
(`time.process_time`, all threads of this process) and wall time. Streamlit's data caches are
emptied before each action, so a row costs what a new input costs. Payload is the size of the
elements the run sent (protobuf bytes). Run: `python -m benchmarks.interactions`.
"""

from __future__ import annotations

import argparse
import itertools
import time

from benchmarks.common import machine
from sparse_core import PATTERNS, make
from sparse_core.export import format_layers
from tests.conftest import app_test, clear_caches

EXPLORER = "app_pages/explorer.py"
BIG = 1_048_576
TARGET_MS = 300


def payload_kb(at) -> float:
    """Bytes of every element the last run sent, in kB."""
    total = 0

    def walk(node):
        nonlocal total
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ByteSize"):
            total += proto.ByteSize()
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return total / 1000


def timed(at, action) -> tuple[float, float, float, bool]:
    """(server CPU ms, wall ms, payload kB, ok) of one action followed by its rerun."""
    clear_caches()
    cpu, wall = time.process_time(), time.perf_counter()
    action(at)
    cpu, wall = (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
    return cpu, wall, payload_kb(at), not at.exception


def explorer(query: dict[str, str]):
    at = app_test(timeout=600)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at.switch_page(EXPLORER).run()


def param_input(at, name: str):
    return next(w for w in at.number_input if w.key.endswith(f"_{name}"))


def rows():
    """Yield (page, action, cpu ms, wall ms, payload kB, ok, message)."""
    # Home
    at = app_test(timeout=600)
    yield ("home", "open", *timed(at, lambda a: a.run()), "")
    for n in (32, 512):
        yield ("home", f"n → {n}", *timed(at, lambda a, n=n: a.select_slider(key="home_n").set_value(n).run()), "")
    yield (
        "home",
        "language → 中文",
        *timed(at, lambda a: a.sidebar.radio(key="_lang_widget").set_value("zh").run()),
        "",
    )

    # Explorer: opening, n at both extremes, tabs, zoom
    at = app_test(timeout=600)
    at.run()
    yield ("explorer", "open (defaults, n = 4,096)", *timed(at, lambda a: a.switch_page(EXPLORER).run()), "")
    for n in (16, BIG):
        yield ("explorer", f"n → {n:,}", *timed(at, lambda a, n=n: a.select_slider(key="ex_n").set_value(n).run()), "")
    for tab in ("Compare", "Export & share", "Mask & numbers"):

        def switch(a, tab=tab):
            a.session_state["ex_tab"] = tab
            a.run()

        yield ("explorer", f"tab → {tab} (n = 1M)", *timed(at, switch), "")

    def zoom(a):
        a.session_state["ex_zoom_open"] = True
        a.run()

    yield ("explorer", "open zoom (n = 1M)", *timed(at, zoom), "")
    yield (
        "explorer",
        "zoom row → 500,000 (fragment)",
        *timed(at, lambda a: a.number_input(key="ex_zoom_r").set_value(500_000).run()),
        "",
    )

    # Explorer: every pattern, default then each parameter at its extremes, at n = 16 and 1M (4,096 if data-dependent)
    for d in PATTERNS.values():
        big = 4096 if d.data_dependent else BIG
        for n in (16, big):
            at = explorer({"pattern": format_layers([make(d.name)]), "n": str(n)})
            yield ("explorer", f"{d.name} default, n = {n:,}", *timed(at, lambda a: a.run()), _message(at))
            for p in d.params:
                if p.name == "seed":
                    continue
                for value in (p.minimum, p.maximum):
                    at = explorer({"pattern": format_layers([make(d.name)]), "n": str(n)})

                    def change(a, name=p.name, value=value):
                        param_input(a, name).set_value(value).run()

                    cost = timed(at, change)
                    yield ("explorer", f"{d.name}: {p.name} → {value:,}, n = {n:,}", *cost, _message(at))


def _message(at) -> str:
    shown = [str(e.value) for e in at.error]
    return shown[0].replace("\\", "")[:70] if shown else ""


def main(limit: int | None = None) -> None:
    """The table of every action; `limit` stops after that many rows (`--first 12`: Home and the Explorer's
    opening, extremes of n, tabs and zoom, a quick check after a page change)."""
    print(f"Machine: {machine()}\n")
    print("| page | action | server CPU ms | wall ms | payload kB | result |")
    print("|---|---|---:|---:|---:|---|")
    worst = []
    for page, action, cpu, wall, kb, ok, message in itertools.islice(rows(), limit):
        result = ("traceback" if not ok else message or "ok").replace("|", "/")
        flag = " ⚠" if cpu > TARGET_MS else ""
        print(f"| {page} | {action} | {cpu:,.0f}{flag} | {wall:,.0f} | {kb:,.1f} | {result} |", flush=True)
        worst.append((cpu, page, action))
    over = [w for w in worst if w[0] > TARGET_MS]
    print(f"\n{len(over)} of {len(worst)} actions over {TARGET_MS} ms of server CPU.")
    for cpu, page, action in sorted(over, reverse=True)[:10]:
        print(f"- {page}: {action}: {cpu:,.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=None, help="measure only the first N actions")
    main(parser.parse_args().first)
