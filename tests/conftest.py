import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ARTIFACTS = ROOT / "test-artifacts"

# CI replays the same examples every run (Hypothesis's advice for CI): a gate that passes or fails by the
# draw is noise. Local runs keep drawing new examples, which is where new counterexamples come from.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# `make test-fast` (SPARSE_TEST_FAST=1): every property test draws a fifth of its examples (at least 10). The
# same properties are checked, on fewer draws; `make test` keeps every test's own count. Tests that state their
# count in @settings ignore a profile, so the count is lowered on each collected test (see below).
FAST = os.environ.get("SPARSE_TEST_FAST") == "1"
settings.register_profile("fast", max_examples=20)
if FAST:
    settings.load_profile("fast")


def pytest_collection_modifyitems(config, items):
    if not FAST:
        return
    for item in items:
        fn = getattr(item, "obj", None)
        own = getattr(fn, "_hypothesis_internal_use_settings", None)  # where @given reads its settings at run time
        if own is not None and own.max_examples > 10:
            fn._hypothesis_internal_use_settings = settings(own, max_examples=max(10, own.max_examples // 5))


@pytest.fixture(scope="session")
def app_url():
    """One server shared by the browser tests that don't need a fresh one."""
    from tests.browser import running_server

    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def fresh_server():
    """A server of the module's own: no page has run in it before the module's first request."""
    from tests.browser import running_server

    with running_server() as url:
        yield url


@pytest.fixture
def lab_memory_cache(monkeypatch):
    """The lab caches in memory only, emptied around each test: results never come from an earlier run."""
    from sparse_core import lab

    monkeypatch.setenv("SPARSE_LAB_DISK_CACHE", "0")
    lab.clear_cache(memory_only=True)
    yield
    lab.clear_cache(memory_only=True)


@pytest.fixture(scope="session", autouse=True)
def patient_expect():
    """Browser assertions retry for a minute, not Playwright's 5 s: on a loaded 2-core machine a chart can
    take longer than 5 s to arrive after its script run (seen under load 18: zero charts at 5 s)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture
def context(context):
    """pytest-playwright's context, with the script-run counter that wait_ready reads."""
    from tests.browser import track_runs

    return track_runs(context)


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
    """Empty Streamlit's data caches and the engine's mask memos, so that a measured rerun does the work a new
    input would."""
    import streamlit as st

    from sparse_core.patterns.base import clear_dense_memo

    st.cache_data.clear()
    clear_dense_memo()


# Where test time goes, in CPU seconds (the machine is shared, so wall time says more about the neighbours
# than about the tests): SPARSE_TEST_CPU=<file> appends one line per test as it ends, "cpu_s<TAB>nodeid" (the
# test's own process time, setup and teardown included, plus that of the subprocesses it waited for), so a run
# cut short still says where its time went; `sort -rn <file> | head` lists the slowest.
_CPU_LOG = os.environ.get("SPARSE_TEST_CPU")


def _cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _CPU_LOG:
        yield
        return
    start = _cpu_now()
    yield
    with open(_CPU_LOG, "a") as f:
        f.write(f"{_cpu_now() - start:.2f}\t{item.nodeid}\n")
