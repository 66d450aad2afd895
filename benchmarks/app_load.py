"""A class at once: N browser sessions against one server on this machine (loopback only).

Each session runs a realistic mix: the explorer at several n up to 1M with parameter changes (by
URL, as a shared link does), the inspector with a 256-token text (every other session also on
SmolLM2), a Learn step and a cost-curve view; the first --speed-runs sessions also start a measured
speed run. Prints errors, median and p95 latency per action, and the server's peak and
after-close RSS.

    python -m benchmarks.app_load --sessions 20 --minutes 6

The sessions are contexts of ONE headless Chromium driven by asyncio: on a 2-core machine twenty
browser processes would take the cores from the server they are meant to load (a first version
did, and every page load timed out in the browser, not in the server). In a real class each
student's browser runs on their own machine. Bounded: at most --sessions contexts, each stops after
its script or --minutes, whichever comes first.

Targets at N = 20 on the 2-core machine: 0 errors, p95 <= 5 s for explorer actions, peak RSS <= 3 GB,
RSS back within 300 MB of the idle figure after the sessions close.
"""

from __future__ import annotations

import argparse
import asyncio
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
LEARN = [f"/learn?step={s}" for s in (1, 2, 3, 6, 7)]
TIMEOUT_MS = 240_000


def _rss(proc: psutil.Process) -> float:
    """Resident memory of the server and its children, in MB."""
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


async def _ready(page) -> None:
    await page.wait_for_selector("[data-testid=stApp][data-test-connection-state=CONNECTED]", timeout=TIMEOUT_MS)
    await page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=TIMEOUT_MS)


def _script(index: int) -> list[tuple[str, str]]:
    explorer = EXPLORER[index % 3 :] + EXPLORER[: index % 3]
    steps = [("explorer", p) for p in explorer[:4]]
    steps += [("inspector", "/inspector")]
    steps += [("inspector smollm2", "/inspector")] if index % 2 else []
    steps += [("learn", LEARN[index % len(LEARN)]), ("cost", "/cost"), ("explorer", explorer[4])]
    return steps


async def _session(browser, index, url, deadline, speed_run, results, errors) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    for action, path in _script(index):
        if time.time() > deadline:
            break
        t0 = time.perf_counter()
        try:
            await page.goto(url + path, wait_until="commit", timeout=TIMEOUT_MS)
            await _ready(page)
            if action == "inspector smollm2":
                await page.get_by_test_id("stRadio").get_by_text("SmolLM2", exact=False).first.click()
                await page.wait_for_timeout(500)  # let the rerun start before waiting for its end
                await _ready(page)
            if await page.get_by_test_id("stException").count():
                raise RuntimeError("an exception is shown on the page")
            results[action].append(time.perf_counter() - t0)
        except Exception as e:  # one failed action is counted; the session goes on
            errors.append(f"session {index} {action} {path}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
        if speed_run and action == "cost":
            t0 = time.perf_counter()
            try:
                await page.get_by_role("tab").nth(3).click()
                await page.wait_for_timeout(500)
                await _ready(page)
                await page.get_by_test_id("stButton").filter(has_text="Measure").first.click()
                await page.wait_for_timeout(500)
                await _ready(page)
                results["speed run (queued)"].append(time.perf_counter() - t0)
            except Exception as e:
                errors.append(f"session {index} speed run: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
    await context.close()


async def _drive(url, server, idle, sessions, minutes, speed_runs, results, errors) -> float:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # A warm server is the baseline: each page once, both models loaded (they stay cached by design).
        warm = await browser.new_page()
        for path in ("/", "/explorer", "/learn", "/cost", "/inspector"):
            await warm.goto(url + path, wait_until="commit", timeout=TIMEOUT_MS)
            await _ready(warm)
        await warm.get_by_test_id("stRadio").get_by_text("SmolLM2", exact=False).first.click()
        await warm.wait_for_timeout(500)
        await _ready(warm)
        await warm.close()
        idle.append(_rss(server))
        deadline = time.time() + minutes * 60
        t0 = time.perf_counter()
        tasks = []
        for i in range(sessions):
            tasks.append(asyncio.create_task(_session(browser, i, url, deadline, i < speed_runs, results, errors)))
            await asyncio.sleep(0.2)  # a class arrives within seconds, not within the same millisecond
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
        await browser.close()
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=6)
    parser.add_argument("--speed-runs", type=int, default=2)
    args = parser.parse_args()
    sessions = max(1, min(args.sessions, 40))
    proc, url = start_server()
    server = psutil.Process(proc.pid)
    results, errors = defaultdict(list), []
    peak, stop = [0.0], threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss(server))
            stop.wait(0.5)

    try:
        idle: list[float] = []
        threading.Thread(target=watch, daemon=True).start()
        wall = asyncio.run(_drive(url, server, idle, sessions, args.minutes, args.speed_runs, results, errors))
        time.sleep(10)  # sessions closed: let the server drop them
        after = _rss(server)
        cpu = sum(p.cpu_times().user + p.cpu_times().system for p in [server, *server.children(recursive=True)])
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)
    print(f"Machine: {machine()}; {sessions} sessions (contexts of one Chromium), {wall:.0f} s wall, ", end="")
    print(f"server CPU {cpu:.0f} s\n")
    print("| action | count | median (s) | p95 (s) | max (s) |")
    print("|---|---|---|---|---|")
    for action, times in sorted(results.items()):
        ordered = sorted(times)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"| {action} | {len(times)} | {statistics.median(times):.2f} | {p95:.2f} | {max(times):.2f} |")
    print(f"\nErrors: {len(errors)}")
    for line in errors[:20]:
        print(f"- {line}")
    print(f"\nServer RSS: warm idle {idle[0]:.0f} MB (every page once, both models loaded), ", end="")
    print(f"peak {peak[0]:.0f} MB, after close {after:.0f} MB")


if __name__ == "__main__":
    main()
