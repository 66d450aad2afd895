"""Real-browser harness: a Streamlit server on a free port and Debian's chromium via playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run browser tests, but /usr/bin/chromium is missing (make test installs it)")
    pytest.skip("Debian chromium is not installed; `make test` installs it")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str] | None = None, script: str = "app.py"):
    """Start `streamlit run <script>` on a free loopback port; (process, url) once it accepts connections.

    `script` is app.py, or serve.py (what `make run` serves: app.py behind st.App)."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            script,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url, f"streamlit run {script}", 90)
    return proc, url


def wait_healthy(proc: subprocess.Popen, url: str, label: str, seconds: float) -> None:
    """Return once the server at `url` answers its health check; kill it and raise if it exits or stays
    silent for `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{label} exited with code {proc.returncode}")
        try:  # healthy, not only listening: the runtime answers once it can take sessions
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{label} did not answer its health check within {seconds:g} s")


@contextmanager
def running_server(env: dict[str, str] | None = None, script: str = "app.py", browser: bool = True):
    """A Streamlit server on a free port for the duration of the block; killed if it ignores SIGTERM.

    `browser=False` for tests that only speak HTTP to it (no chromium needed)."""
    if browser:
        require_chromium()
    proc, url = start_server(env, script)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a server busy with a heavy rerun may ignore SIGTERM for a while
            proc.kill()
            proc.wait(timeout=10)


# Counts the rerun requests a page sends on Streamlit's websocket and the runs that end, so that a wait
# after a click knows whether the run the click asked for has finished, not just "no run is going on
# now" (that is also true in the moment between the click and the server starting the run).
# BackMsg.rerun_script is field 11, length-delimited: a request's first byte is 0x5a, since the
# client sets no other field with it. ForwardMsg.script_finished is field 6 (a varint); status 2,
# FINISHED_EARLY_FOR_RERUN, is not an end: the run the user asked for follows it.
RUN_TRACKER = """
(() => {
  if (window.__stRuns) return;
  const runs = (window.__stRuns = { asked: 0, answered: 0, finished: [] });
  const bytes = d => d instanceof ArrayBuffer ? new Uint8Array(d)
    : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
  const finishedStatus = b => {
    let i = 0;
    const varint = () => {
      let x = 0, f = 1, c;
      do { c = b[i++]; x += (c & 0x7f) * f; f *= 128; } while (c & 0x80 && i < b.length);
      return x;
    };
    while (i < b.length) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) { const v = varint(); if (field === 6) return v; }
      else if (wire === 2) { const length = varint(); i += length; }  // not i += varint(): i is read first
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return -1;
    }
    return -1;
  };
  const watched = new WeakSet();
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (String(this.url).includes("/_stcore/stream")) {
      if (!watched.has(this)) {
        watched.add(this);
        this.addEventListener("message", e => {
          const b = bytes(e.data), status = b ? finishedStatus(b) : -1;
          if (status >= 0) runs.finished.push(status);
          if (status >= 0 && status !== 2) runs.answered = runs.asked;
        });
      }
      const b = bytes(data);
      if (b && b[0] === 0x5a) runs.asked += 1;
    }
    return send.call(this, data);
  };
})();
"""
READY = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  const runs = window.__stRuns;
  return app !== null && app.getAttribute('data-test-script-state') === 'notRunning'
    && runs !== undefined && runs.asked > 0 && runs.answered >= runs.asked;
}"""


def track_runs(context):
    """Every page of this browser context counts its script runs (wait_ready needs it); returns the context."""
    context.add_init_script(RUN_TRACKER)
    return context


def wait_ready(page, timeout: float = 90_000) -> None:
    """Connected, and every script run the page has asked for (page load, click, fragment) has finished.

    The page must come from a context given to `track_runs` (the `context` fixture is)."""
    page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout)
    # two frames: a click's own handlers, which send the rerun request, have run before the check
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_function(READY, timeout=timeout)


def wait_charts(page, timeout: float = 60_000) -> None:
    """Every Plotly chart on the page has drawn (an empty grey frame until Plotly has loaded), and no
    element is still a loading skeleton (a lazily loaded chart is a skeleton before it is a chart)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))"
        " && !document.querySelector('[data-testid=stSkeleton]')",
        timeout=timeout,
    )


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
