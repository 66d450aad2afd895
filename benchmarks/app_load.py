"""A class at once: N real browser sessions against one server on this machine (loopback only).

Each session runs a realistic mix: the explorer at several n up to 1M with parameter changes (by
URL, as a shared link does), the inspector on both models with a 256-token text, Learn steps, and a
cost-curve view; two of the sessions also start a measured speed run. Prints errors, median and p95
latency per action, and the server's peak and after-close RSS.

    python -m benchmarks.app_load --sessions 20 --minutes 5

Bounded: at most --sessions browsers, each stops after its script or --minutes, whichever first.
Targets at N = 20 on the 2-core machine: 0 errors, p95 <= 5 s for explorer actions, peak RSS <= 3 GB,
RSS back within 300 MB of the idle figure after the sessions close.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import defaultdict

import psutil

from benchmarks.common import machine
from tests.browser import CHROMIUM, CHROMIUM_ARGS, start_server

EXPLORER = [
    "/explorer?pattern=window(window=64)&n=4096",
    "/explorer?pattern=bigbird(block=64,window_blocks=3,global_blocks=2,random_blocks=3,seed=0)&n=65536",
    "/explorer?pattern=longformer(window=256,global_tokens=1)&n=1048576",
    "/explorer?pattern=strided(stride=1024)&n=1048576&causal=1",
    "/explorer?pattern=random(random_keys=8,seed=1)&n=262144",
    "/explorer?pattern=dilated(window=16,dilation=4)+global(global_tokens=8)&n=16384&op=union",
]
INSPECTOR = ["/inspector", "/inspector"]  # 256 tokens by default; the second also switches to SmolLM2
LEARN = [f"/learn?step={s}" for s in (1, 2, 3, 6, 7)]
COST = ["/cost"]


def _rss(proc: psutil.Process) -> float:
    """Resident memory of the server and its children, in MB."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def _ready(page, timeout_ms: float) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=timeout_ms)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout_ms)


def _session(index: int, url: str, deadline: float, speed_run: bool, results, errors, lock) -> None:
    from playwright.sync_api import sync_playwright

    script = [("explorer", p) for p in EXPLORER[index % 3 :] + EXPLORER[: index % 3]]
    script += [("inspector", INSPECTOR[0])]
    script += [("inspector smollm2", INSPECTOR[1])] if index % 2 else []
    script += [("learn", LEARN[index % len(LEARN)]), ("cost", COST[0])]
    script += [("explorer", EXPLORER[(index + 2) % len(EXPLORER)])]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
        for action, path in script:
            if time.time() > deadline:
                break
            t0 = time.perf_counter()
            try:
                page.goto(url + path)
                _ready(page, timeout_ms=180_000)
                if action == "inspector smollm2":
                    page.get_by_test_id("stRadio").get_by_text("SmolLM2", exact=False).first.click()
                    page.wait_for_timeout(500)  # let the rerun start before waiting for it to end
                    _ready(page, timeout_ms=300_000)
                if page.get_by_test_id("stException").count():
                    raise RuntimeError("exception shown on the page")
                elapsed = time.perf_counter() - t0
                with lock:
                    results[action].append(elapsed)
            except Exception as e:  # one failed action is counted, the session goes on
                with lock:
                    errors.append(f"session {index} {action} {path}: {type(e).__name__}: {str(e)[:120]}")
            if speed_run and action == "cost":
                t0 = time.perf_counter()
                try:
                    page.get_by_role("tab").nth(3).click()
                    _ready(page, timeout_ms=60_000)
                    page.get_by_test_id("stButton").filter(has_text="Measure").first.click()
                    _ready(page, timeout_ms=300_000)
                    with lock:
                        results["speed run"].append(time.perf_counter() - t0)
                except Exception as e:
                    with lock:
                        errors.append(f"session {index} speed run: {type(e).__name__}: {str(e)[:120]}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=6)
    parser.add_argument("--speed-runs", type=int, default=2)
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 40))
    proc, url = start_server()
    server = psutil.Process(proc.pid)
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:  # warm the server once: the first model load is not a class's typical wait
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            _ready(page, 120_000)
            browser.close()
        idle = _rss(server)
        results, errors, lock = defaultdict(list), [], threading.Lock()
        peak = [idle]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], _rss(server))
                stop.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.time() + args.minutes * 60
        threads = [
            threading.Thread(target=_session, args=(i, url, deadline, i < args.speed_runs, results, errors, lock))
            for i in range(sessions)
        ]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
            time.sleep(0.2)  # a class arrives within seconds, not within the same millisecond
        for th in threads:
            th.join(timeout=max(1.0, deadline - time.time() + 300))
        wall = time.perf_counter() - t0
        time.sleep(5)  # let sessions close and caches settle
        after = _rss(server)
        stop.set()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(f"Machine: {machine()}; {sessions} browser sessions, {wall:.0f} s\n")
    print("| action | count | median (s) | p95 (s) | max (s) |")
    print("|---|---|---|---|---|")
    for action, times in sorted(results.items()):
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"| {action} | {len(times)} | {statistics.median(times):.2f} | {p95:.2f} | {max(times):.2f} |")
    print(f"\nErrors: {len(errors)}")
    for line in errors[:20]:
        print(f"- {line}")
    print(f"\nServer RSS: idle {idle:.0f} MB, peak {peak[0]:.0f} MB, after close {after:.0f} MB")


if __name__ == "__main__":
    main()
