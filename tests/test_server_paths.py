"""What the served app (`streamlit run serve.py`, as `make run` starts it) answers on paths a visitor
should not reach or can mistype, at the HTTP level (issue 20).

Streamlit 1.67 answers `/_stcore/metrics` to anyone and has no setting to close it; for an unknown
nested path it sends its index page, whose relative script links then resolve under the bogus path,
so the browser shows a blank page. serve.py closes the one and redirects the other.
"""

from __future__ import annotations

import http.client
import re

import pytest


@pytest.fixture(scope="module")
def served():
    """`streamlit run serve.py` on a free loopback port: (host, port)."""
    from tests.browser import running_server

    with running_server(script="serve.py", browser=False) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield host, int(port)


def _get(host: str, port: int, path: str, method: str = "GET", timeout: float = 30):
    """(status, headers, body) of one request; (0, {}, b"") when nothing listens yet."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except OSError:
        return 0, {}, b""
    finally:
        conn.close()


def test_metrics_endpoint_is_closed(served):
    for path in ("/_stcore/metrics", "/_stcore/metrics/", "/_stcore/metrics?families=active_sessions"):
        status, _, body = _get(*served, path)
        assert status == 404, (path, status)
        assert b"session" not in body


def test_unknown_nested_path_goes_to_its_page_with_the_query_kept(served):
    for path, target in [
        ("/explorer/foo/bar", "/explorer"),
        ("/explorer/foo", "/explorer"),
        ("/learn/x/?step=3", "/learn?step=3"),
        ("/nope/deeper", "/nope"),  # the first segment's own page (Streamlit's "page not found" if none)
    ]:
        status, headers, _ = _get(*served, path)
        assert status == 307, (path, status)
        assert headers["location"].endswith(target), (path, headers["location"])
    assert _get(*served, "/explorer/foo/bar", method="HEAD")[0] == 307


def test_pages_health_and_assets_still_answer(served):
    for path in ("/", "/explorer", "/learn?step=2", "/_stcore/health", "/_stcore/host-config"):
        assert _get(*served, path)[0] == 200, path
    status, _, index = _get(*served, "/")
    scripts = re.findall(rb'src="\./(static/js/[^"]+\.js)"', index)
    assert scripts, "the index page names its script bundle"
    status, headers, _ = _get(*served, "/" + scripts[0].decode())
    assert status == 200 and "javascript" in headers["content-type"]


def test_the_browsers_base_path_probes_get_streamlits_answer_not_a_redirect(served):
    # The browser finds the base path by asking `<page>/_stcore/health` and `host-config` first; a
    # redirect to the page (200, HTML) made it take `/explorer/` for the base path, and a deep link
    # or a Reload then never connected (found in a browser walk, 02:20).
    for path in ("/explorer/_stcore/health", "/explorer/_stcore/host-config", "/learn/static/js/x.js"):
        status, headers, _ = _get(*served, path)
        assert status != 307 and "location" not in headers, (path, status)
    assert _get(*served, "/explorer/_stcore/metrics")[0] == 404


@pytest.mark.browser
def test_a_deep_link_and_a_reload_connect_under_serve_py(served, browser):
    from tests.browser import track_runs, wait_ready

    host, port = served
    context = track_runs(browser.new_context())
    page = context.new_page()
    for path, heading in [("/explorer?n=1024&lang=en", "Pattern Explorer"), ("/learn?step=3", "Learn")]:
        page.goto(f"http://{host}:{port}{path}")
        wait_ready(page, timeout=180_000)
        assert heading in page.locator("h1").first.inner_text()
        page.reload()
        wait_ready(page, timeout=180_000)
        assert heading in page.locator("h1").first.inner_text()
        assert not page.locator("[data-testid=stException]").count()
    context.close()


def test_housekeeping_runs_once_when_the_last_browser_has_been_gone_for_the_ttl():
    import threading

    import serve

    ran = threading.Event()
    idle = serve.Idle(lambda: 0.05, ran.set)
    idle.opened()
    idle.opened()
    idle.closed()
    assert idle._timer is None  # one browser still connected: nothing scheduled
    idle.closed()
    timer = idle._timer
    idle.opened()  # a visitor came back before the TTL: the quiet spell is over
    assert idle._timer is None and timer.finished.is_set()  # cancelled
    assert not ran.is_set()
    idle.closed()
    assert ran.wait(10) and idle.open == 0


def test_closed_sessions_past_their_ttl_are_expired_and_shut_down_now(monkeypatch):
    from types import SimpleNamespace

    from streamlit.runtime import Runtime
    from streamlit.runtime.memory_session_storage import MemorySessionStorage

    import serve

    class Session:
        def __init__(self, sid: str) -> None:
            self.id, self.shut = sid, False

        def shutdown(self) -> None:
            self.shut = True

    expired_store, live_store = MemorySessionStorage(ttl_seconds=0), MemorySessionStorage(ttl_seconds=3600)
    gone, kept = Session("gone"), Session("kept")
    expired_store.save(SimpleNamespace(session=gone))
    live_store.save(SimpleNamespace(session=kept))
    for store, expected in ((expired_store, 1), (live_store, 0)):
        fake = SimpleNamespace(_session_mgr=SimpleNamespace(_session_storage=store))
        monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls, f=fake: f))
        assert serve._expire_closed_sessions() == expected
    assert gone.shut and not kept.shut and live_store.get("kept") is not None


def test_after_the_class_the_per_request_caches_are_empty(monkeypatch):
    import streamlit as st

    import serve
    from sparse_core import analysis

    calls = []

    @st.cache_data
    def result(x: int) -> int:
        calls.append(x)
        return x

    monkeypatch.setattr(serve, "_expire_closed_sessions", lambda: 0)
    result(1)
    result(1)
    analysis._mask_memo["probe"] = object()
    from ui import inspector_progress

    inspector_progress._long_results()["probe"] = object()  # the Inspector's kept long result (755 MB at 8,192)
    report = serve.after_class()
    result(1)
    assert calls == [1, 1] and "probe" not in analysis._mask_memo and report["returned_bytes"] >= 0
    assert inspector_progress._long_results() == {}


@pytest.mark.slow  # a fresh process importing streamlit and torch (~7 CPU-s): make test runs it
def test_the_served_app_runs_torch_on_one_thread_whatever_imports_it_first():
    """serve.py's preload imports torch as the server starts, before app.py sets OMP_NUM_THREADS; torch
    sizes its thread pool at import, so serve.py must set it first. Without that, a Lab run's script
    thread spun 5.9 CPU-s instead of ~1 under load (issue #20's class run)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")} | {"HF_HUB_OFFLINE": "1"}
    probe = "import torch; print(torch.get_num_threads())"

    def threads(first: str) -> int:
        out = subprocess.run([sys.executable, "-c", first + probe], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1])

    assert threads("import serve; ") == 1
    if (os.cpu_count() or 1) > 1:  # the probe tells: on its own torch takes one thread per core
        assert threads("") > 1


@pytest.mark.slow  # a fresh process each (~0.5 CPU-s): make test runs it
@pytest.mark.parametrize("entry", ["serve", "app"])
def test_the_served_app_runs_numpy_without_huge_pages(entry):
    """numpy reads NUMPY_MADVISE_HUGEPAGE when it is imported; the server must set it before anything imports numpy.
    With huge pages the kernel compacted memory inline: random(8) at 2^20 spent 0.02-1.41 s in the kernel against
    0.14-0.20 s without, and the budget is calibrated without them (sparse_core/process.py)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"} | {"HF_HUB_OFFLINE": "1"}
    # the setter returns the setting it replaces: False when the entry point turned huge pages off
    probe = "from numpy._core import multiarray; print(multiarray._set_madvise_hugepage(True))"
    first = f"import {entry}; "
    out = subprocess.run([sys.executable, "-c", first + probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "False"
