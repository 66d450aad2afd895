"""Download buttons whose file is still there when a busy browser fetches it.

Why downloads ended "canceled" under load (read in Streamlit 1.67's `runtime/media_file_manager.py`):
a download built on click (`st.download_button` with a callable) is run by `execute_deferred` when
the browser asks for it; the file is stored and its URL sent back, but no session references it ("we
leave actual_file_id unmapped"). Every script run of ANY session ends with `remove_orphaned_files()`:
the first one marks an unreferenced download for deletion, the second deletes it. The browser then
fetches `/media/<id>` (a `fetch` check and an `<a download>` click). Alone, that fetch comes within
milliseconds and nothing else runs in between; with 20-30 sessions, runs end several times a second
and a starved browser fetches seconds later, gets a 404, and Chromium reports the download as
"canceled". The server logs nothing: a 404 on `/media` is not an error to it.

The fix: the callable handed to Streamlit builds the bytes and first pins the very file
`execute_deferred` is about to store (a file's id is a hash of its bytes, MIME type and name, so both
name the same file) under a slot of this module's own. The slot is a reference that no session's run
clears, so the sweep leaves the file alone. After `GRACE_S` the slot is pointed at an empty
placeholder and the ordinary sweep deletes the file: memory comes back, and pinned bytes are capped
(`MAX_PINNED_BYTES`, oldest released first). No Streamlit private state is touched: only
`MediaFileManager.add`, which, called outside a script run (as the deferred call is), files the
reference under Streamlit's session-less id.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

# Longer than any gap seen between the URL reaching the browser and its fetch (seconds under load 30),
# short enough that a closed class's downloads are gone before its sessions' TTL (120 s) has passed.
GRACE_S = 90.0
MAX_PINNED_BYTES = 512 * 2**20
SLOT_PREFIX = "ui.downloads/"
_PLACEHOLDER = b""
_quiet = threading.local()


class _NoContextWarning(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warning for this module's own calls only.

    `MediaFileManager.add` asks for the calling thread's script context to file the reference under its
    session; a pin is made outside any script run on purpose (the reference must belong to no session),
    so the warning would be logged for every download while saying nothing wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False)


def _add_quietly(manager, *args, **kwargs) -> None:
    _quiet.on = True
    try:
        manager.add(*args, **kwargs)
    finally:
        _quiet.on = False


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoContextWarning())


class Pins:
    """Built downloads kept referenced in a media file manager for a grace period, then let go."""

    def __init__(self, manager: Any = None, grace_s: float = GRACE_S, max_bytes: int = MAX_PINNED_BYTES, clock=None):
        self._manager = manager  # None: the running server's (looked up on use)
        self.grace_s, self.max_bytes = grace_s, max_bytes
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._free: list[int] = []  # slots whose reference is the placeholder, reusable
        self._next = itertools.count()
        self._due: list[tuple[float, int, int]] = []  # (release time, slot, bytes), a heap
        self.pinned_bytes = 0
        self._timer: threading.Timer | None = None

    def manager(self):
        if self._manager is not None:
            return self._manager
        from streamlit import runtime

        return runtime.get_instance().media_file_mgr

    def pin(self, data: bytes, mime: str, file_name: str) -> None:
        """Reference the file that `data`, `mime` and `file_name` make until the grace period is over."""
        with self._lock:
            slot = self._free.pop() if self._free else next(self._next)
            _add_quietly(
                self.manager(), data, mime, f"{SLOT_PREFIX}{slot}", file_name=file_name, is_for_static_download=True
            )
            heapq.heappush(self._due, (self._clock() + self.grace_s, slot, len(data)))
            self.pinned_bytes += len(data)
            while self.pinned_bytes > self.max_bytes and len(self._due) > 1:
                self._release(heapq.heappop(self._due))  # over the cap: the oldest goes first
        self._schedule()

    def release_due(self, now: float | None = None) -> int:
        """Let go of every pin whose grace period is over; how many."""
        now = self._clock() if now is None else now
        released = 0
        with self._lock:
            while self._due and self._due[0][0] <= now:
                self._release(heapq.heappop(self._due))
                released += 1
        self._schedule()
        return released

    def _release(self, entry: tuple[float, int, int]) -> None:
        _, slot, size = entry
        # the slot now names the empty placeholder, so the pinned file is unreferenced: the next sweeps delete it
        _add_quietly(self.manager(), _PLACEHOLDER, "application/octet-stream", f"{SLOT_PREFIX}{slot}")
        self.pinned_bytes -= size
        self._free.append(slot)

    def _schedule(self) -> None:
        """One timer, for the earliest release (a daemon: it never holds a server's shutdown)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._due:
                delay = max(0.0, self._due[0][0] - self._clock()) + 0.01
                self._timer = threading.Timer(delay, self.release_due)
                self._timer.daemon = True
                self._timer.start()


PINS = Pins()


def _as_bytes(data: bytes | str) -> bytes:
    # execute_deferred encodes a str as UTF-8 before it hashes: pin the same bytes it will store
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def built_on_click(build: Callable[[], bytes | str], file_name: str, mime: str, pins: Pins | None = None):
    """The callable for Streamlit's deferred download: builds, pins the result, returns the same bytes."""

    def run() -> bytes:
        data = _as_bytes(build())
        (pins or PINS).pin(data, mime, file_name)
        return data

    return run


def download_button(
    container, label: str, build: Callable[[], bytes | str], file_name: str, mime: str, key: str | None = None, **kw
) -> None:
    """`container.download_button` built on click, whose file survives other sessions' reruns until fetched.

    No rerun on click (`on_click="ignore"`): a download changes nothing on the page."""
    container.download_button(
        label, built_on_click(build, file_name, mime), file_name, mime, key=key, on_click="ignore", **kw
    )
