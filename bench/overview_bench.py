"""The overview with many runs, in headless Chromium: 200 runs of 5,000 steps in a folder.

Targets (issue "Fleet overview"): the overview drawn and the app idle in <= 12 s on the first visit
and <= 2 s on a later visit (the address opened again in the tab: a new session, the folder cached by
the server) or a reload. Printed with
the naive baseline measured in the same run: every run opened one by one and checked, in-process,
with nothing cached (what each visit would cost without the folder cache).

"Drawn and idle": the overview's table is on the page and Streamlit's running indicator is gone.

Usage: ``python bench/overview_bench.py [--runs N] [--steps S]``. Exit status 1 when a target is missed.
Needs Debian's chromium (``make chromium``).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forge_monitor.demo import dashboard_env, free_port, start_dashboard, stop, wait_until_up  # noqa: E402
from forge_monitor.synth.writers import nova_pipe  # noqa: E402

CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST_TARGET, LATER_TARGET = 12.0, 2.0


def write_runs(root: Path, runs: int, steps: int) -> None:
    """Healthy SFT runs with a loss spike in every 17th (so the overview has something to sort)."""
    for index in range(runs):
        folder = root / f"job-{index:03d}"
        folder.mkdir(parents=True)
        rng = random.Random(index)
        rows = []
        for step in range(1, steps + 1):
            loss = 2 * math.exp(-step / (steps / 2)) + 0.02 * rng.random()
            if index % 17 == 0 and step == steps * 3 // 5:
                loss *= 5
            rows.append((step, {"lr": 1e-5, "global_step": step, "reduced_train_loss": round(loss, 5)}))
        (folder / "train.log").write_text(nova_pipe(rows, total=steps, step_seconds=2))


def naive(root: Path) -> float:
    from forge_monitor.detectors import run_checks
    from forge_monitor.ingest import find_runs, open_run

    start = time.perf_counter()
    specs, _ = find_runs(root)
    for spec in specs:
        run = open_run(spec)
        run_checks(run.frame, run.info)
    return time.perf_counter() - start


def wait_for_idle(page, timeout_ms: int) -> None:
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def visit(page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url)
    wait_for_idle(page, 120_000)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5000)
    args = parser.parse_args()
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        print("chromium is not installed (make chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="forge-overview-bench-"))
    root = work / "runs"
    process = None
    try:
        write_runs(root, args.runs, args.steps)
        baseline = naive(root)
        port = free_port()
        # As `forge-monitor dashboard runs/` starts it: the folder it opens on is read as it starts, and
        # the first visit, right after the server answers, waits for that read.
        process = start_dashboard(port, dashboard_env([root]))
        url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"source": "folder", "folder": str(root)})
        if not wait_until_up(port, process):
            print("the dashboard did not start", file=sys.stderr)
            return 2
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROME_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            first = visit(page, url)
            rows = page.evaluate("() => document.querySelector('[data-testid=\"stDataFrame\"]') !== null")
            page.goto("about:blank")
            later = visit(page, url)  # the same tab, sent back to the address: a new session of the app
            start = time.perf_counter()
            page.reload()
            wait_for_idle(page, 120_000)
            reload = time.perf_counter() - start
            # A new tab also pays for the browser's new renderer process: printed, not a target.
            new_tab = visit(browser.new_page(viewport={"width": 1500, "height": 1100}), url)
            browser.close()
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
    print(f"overview of {args.runs} runs x {args.steps} steps (drawn and idle in headless Chromium):")
    print(f"  naive load (every run opened and checked one by one, in-process): {baseline:.2f} s")
    print(f"  first visit: {first:.2f} s (target <= {FIRST_TARGET:g} s; {baseline / first:.2f}x the naive load)")
    print(f"  later visit (the address again, a new session): {later:.2f} s (target <= {LATER_TARGET:g} s; "
          f"{baseline / later:.1f}x faster than naive)")
    print(f"  reload: {reload:.2f} s (target <= {LATER_TARGET:g} s)")
    print(f"  in a new tab (the browser starts a renderer too; no target): {new_tab:.2f} s")
    met = rows and first <= FIRST_TARGET and later <= LATER_TARGET and reload <= LATER_TARGET
    print("all targets met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
