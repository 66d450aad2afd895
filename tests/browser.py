"""Real-browser harness: a Streamlit server on a free port and Debian's chromium via playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
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


def start_server(env: dict[str, str] | None = None):
    """Start `streamlit run app.py` on a free loopback port; (process, url) once it accepts connections."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
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
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


@contextmanager
def running_server(env: dict[str, str] | None = None):
    """A Streamlit server on a free port for the duration of the block; killed if it ignores SIGTERM."""
    require_chromium()
    proc, url = start_server(env)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a server busy with a heavy rerun may ignore SIGTERM for a while
            proc.kill()
            proc.wait(timeout=10)


def wait_ready(page, timeout: float = 90_000) -> None:
    """Connected, then the script has finished its run (twice, to skip the first idle flash)."""
    page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout)


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
