"""A download clicked in one tab completes although other tabs rerun before the browser fetches it.

Real server, real Chromium. The server holds every `/media/` request (a middleware waits for a flag
file) as a starved browser or a busy server delays them under a class's load; while tab A's fetches
wait, tab B reruns twice, then the fetches go on. Streamlit's own deferred button has lost the file by
then (Chromium reports the download "canceled"); ui.downloads keeps it.
"""

from __future__ import annotations

import textwrap
import time

import pytest

from tests.browser import running_server, track_runs, wait_ready

pytestmark = pytest.mark.browser

SIZE = 300_000
APP = textwrap.dedent(
    f"""
    import streamlit as st
    from ui import downloads

    def build():
        return bytes(range(256)) * ({SIZE} // 256) + b"x" * ({SIZE} % 256)

    if st.query_params.get("plain") == "1":
        st.download_button("Download", build, "data.bin", "application/octet-stream", on_click="ignore")
    else:
        downloads.download_button(st, "Download", build, "data.bin", "application/octet-stream", key="dl")
    st.button("Rerun")
    """
)
# st.App serving APP, with a middleware that makes each /media/ request wait for the flag file `go`
# (its arrival is written to `arrived`, so the test knows when the fetches are waiting)
SERVE = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path

    import streamlit as st
    from starlette.middleware import Middleware

    HERE = Path(__file__).parent

    class Hold:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http" and scope["path"].startswith("/media/"):
                with open(HERE / "arrived", "a") as f:
                    f.write(scope["path"] + "\\n")
                while not (HERE / "go").exists():
                    await asyncio.sleep(0.02)
            await self.app(scope, receive, send)

    app = st.App("download_app.py", middleware=[Middleware(Hold)])
    """
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("downloads")
    (folder / "download_app.py").write_text(APP, encoding="utf-8")
    (folder / "serve_app.py").write_text(SERVE, encoding="utf-8")
    with running_server(script=str(folder / "serve_app.py")) as url:
        yield url, folder


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the server never saw the download's requests")
        time.sleep(0.02)


def _download_while_another_tab_reruns(browser, server, query: str):
    url, folder = server
    for name in ("go", "arrived"):
        (folder / name).unlink(missing_ok=True)
    tab_a, tab_b = (track_runs(browser.new_context()) for _ in range(2))
    a, b = tab_a.new_page(), tab_b.new_page()
    for page in (a, b):
        page.goto(url + query)
        wait_ready(page)
    try:
        with a.expect_download(timeout=60_000) as info:
            a.get_by_test_id("stDownloadButton").get_by_role("button").click()
            # the check `fetch` and the `<a download>` request both wait at the server
            _until(lambda: (folder / "arrived").exists() and len((folder / "arrived").read_text().split()) >= 2)
            for _ in range(2):  # two runs end elsewhere on the server: two orphan sweeps
                b.get_by_role("button", name="Rerun").click()
                wait_ready(b)
            (folder / "go").touch()
        download = info.value
        failure = download.failure()
        return failure, None if failure else download.path().stat().st_size
    finally:
        (folder / "go").touch()
        tab_a.close()
        tab_b.close()


def test_streamlits_own_deferred_download_is_lost_when_other_tabs_rerun_before_the_fetch(browser, server):
    failure, _ = _download_while_another_tab_reruns(browser, server, "/?plain=1")
    assert failure == "canceled"


def test_ui_downloads_keeps_the_file_until_the_fetch(browser, server):
    failure, size = _download_while_another_tab_reruns(browser, server, "/")
    assert failure is None and size == SIZE
