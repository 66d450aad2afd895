"""Downloads built on click survive other sessions' reruns until the browser fetches them (issue #20 item 4).

Streamlit's own MediaFileManager and in-memory storage, driven as the server drives them: a session's
run registers the button, the click runs the callable outside any script run (the server's
`asyncio.to_thread`), and every other session's run ends with `remove_orphaned_files()`. Only the
session id each call is filed under is set by hand (what a script thread's context would give).
"""

from __future__ import annotations

import os

import pytest
from streamlit.runtime import media_file_manager as mfm
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from ui import downloads

MIME = "application/octet-stream"
NAME = "mask.npy"


class Server:
    """One media file manager, and the session whose thread is calling it."""

    def __init__(self, monkeypatch) -> None:
        self.storage = MemoryMediaFileStorage("/media")
        self.manager = mfm.MediaFileManager(self.storage)
        self.session = "dontcare"  # what a thread without a script run context is filed under
        monkeypatch.setattr(mfm, "_get_session_id", lambda: self.session)

    def render(self, session: str, data, mime: str = MIME, name: str = NAME, coordinates: str = "1.2.3") -> str:
        """`session`'s run draws a download button built on click: its deferred id."""
        self.session = session
        self.manager.clear_session_refs(session)  # a full run starts by dropping its old references
        file_id = self.manager.add_deferred(data, mime, coordinates, file_name=name)
        self.manager.remove_orphaned_files()  # ... and its end sweeps
        self.session = "dontcare"
        return file_id

    def click(self, deferred_id: str) -> str:
        """The browser's click: the callable runs outside any script run; the URL the browser fetches next."""
        self.session = "dontcare"
        return self.manager.execute_deferred(deferred_id)

    def other_runs_end(self, count: int) -> None:
        for _ in range(count):
            self.manager.remove_orphaned_files()

    def fetch(self, url: str) -> bytes:
        """What GET /media/<id> serves (404 when the file is gone)."""
        return self.storage.get_file(os.path.basename(url)).content


def build() -> bytes:
    return bytes(range(256)) * 64


def test_a_plain_deferred_download_is_deleted_by_two_other_runs_before_the_browser_fetches_it(monkeypatch):
    """The cause, pinned against Streamlit's code: alone it works, two runs elsewhere in between lose it."""
    server = Server(monkeypatch)
    url = server.click(server.render("A", build))
    assert server.fetch(url) == build()  # alone: the fetch comes before any other run ends
    server.other_runs_end(2)  # a class: two other sessions' runs end before a starved browser fetches
    with pytest.raises(MediaFileStorageError):
        server.fetch(url)  # the 404 that Chromium reports as a "canceled" download


def test_a_download_built_by_ui_downloads_survives_other_runs_and_then_goes(monkeypatch):
    server = Server(monkeypatch)
    now = [0.0]
    pins = downloads.Pins(server.manager, grace_s=90, clock=lambda: now[0])
    url = server.click(server.render("A", downloads.built_on_click(build, NAME, MIME, pins)))
    server.other_runs_end(50)
    server.render("A", downloads.built_on_click(build, NAME, MIME, pins))  # even its own session reruns
    assert server.fetch(url) == build() and server.fetch(url) == build()  # the check fetch and the link
    assert pins.pinned_bytes == len(build())
    now[0] = 89.0
    assert pins.release_due() == 0
    now[0] = 90.0
    assert pins.release_due() == 1 and pins.pinned_bytes == 0
    server.other_runs_end(2)  # memory comes back: the ordinary sweep deletes it once it is let go
    with pytest.raises(MediaFileStorageError):
        server.fetch(url)


def test_text_is_pinned_as_the_bytes_streamlit_stores_and_slots_are_reused(monkeypatch):
    server = Server(monkeypatch)
    now = [0.0]
    pins = downloads.Pins(server.manager, grace_s=10, clock=lambda: now[0])
    text = "row,col\n" + "1,2\n" * 100 + "中文\n"
    on_click = downloads.built_on_click(lambda: text, "m.csv", "text/csv", pins)
    url = server.click(server.render("A", on_click, "text/csv", "m.csv"))
    server.other_runs_end(3)
    assert server.fetch(url) == text.encode("utf-8")
    now[0] = 11.0
    pins.release_due()
    url2 = server.click(server.render("B", downloads.built_on_click(build, NAME, MIME, pins)))
    assert pins._free == [] and next(pins._next) == 1  # the released slot was taken again
    server.other_runs_end(3)
    assert server.fetch(url2) == build()


def test_pinned_bytes_are_capped_oldest_first(monkeypatch):
    server = Server(monkeypatch)
    now = [0.0]
    size = len(build())
    pins = downloads.Pins(server.manager, grace_s=90, max_bytes=2 * size, clock=lambda: now[0])
    urls = []
    for i in range(3):
        content = bytes([i]) * size
        now[0] = float(i)
        urls.append(server.click(server.render("A", downloads.built_on_click(lambda c=content: c, NAME, MIME, pins))))
    assert pins.pinned_bytes == 2 * size
    server.other_runs_end(2)
    with pytest.raises(MediaFileStorageError):
        server.fetch(urls[0])
    assert server.fetch(urls[1]) and server.fetch(urls[2])


def test_a_timer_lets_go_without_any_other_call(monkeypatch):
    server = Server(monkeypatch)
    pins = downloads.Pins(server.manager, grace_s=0.05)
    url = server.click(server.render("A", downloads.built_on_click(build, NAME, MIME, pins)))
    assert pins._timer is not None
    pins._timer.join(timeout=10)  # the timer thread released it
    assert pins.pinned_bytes == 0
    server.other_runs_end(2)
    with pytest.raises(MediaFileStorageError):
        server.fetch(url)


def test_the_button_builds_nothing_until_it_is_clicked():
    from streamlit.testing.v1 import AppTest

    def app():
        import streamlit as st

        from ui import downloads

        downloads.download_button(st, "Get", lambda: 1 / 0, "x.bin", "application/octet-stream", key="k")

    at = AppTest.from_function(app).run()
    (button,) = at.get("download_button")
    assert not at.exception and button.proto.deferred_file_id and not button.proto.url
    assert button.proto.ignore_rerun  # a download changes nothing on the page: no rerun on click
