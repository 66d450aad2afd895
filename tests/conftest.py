import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def app_url():
    from tests.browser import require_chromium, start_server

    require_chromium()
    proc, url = start_server()
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a server busy with a heavy rerun may ignore SIGTERM for a while
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture
def ready_page(page, app_url):
    """A page of the app in a wide viewport; navigate with page.goto(app_url + path)."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    return page


def app_test(timeout: float = 120):
    """AppTest of the whole app (navigation included), run from the project root."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)


def clear_caches() -> None:
    """Empty Streamlit's data caches, so that a measured rerun does the work a new input would."""
    import streamlit as st

    st.cache_data.clear()
