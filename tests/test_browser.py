"""The running dashboard in headless Chromium (Debian's package, driven by Playwright).

Skips locally, loudly, when Chromium is missing; under CI=true it must run (`make test` installs it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from forge_monitor.demo import free_port, start_dashboard, stop

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "Debian's chromium is not installed (make test installs it when run as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(f"BROWSER TESTS SKIPPED: {message}")
    return path


def wait_healthy(port: int, process, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("the dashboard did not become healthy")


@pytest.fixture(scope="module")
def dashboard():
    executable = chromium()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_MONITOR_")}
    process = start_dashboard(port, {})
    os.environ.update(env)
    try:
        wait_healthy(port, process)
        yield f"http://127.0.0.1:{port}", executable
    finally:
        stop(process)


@pytest.fixture
def browser_page(dashboard):
    from playwright.sync_api import sync_playwright

    url, executable = dashboard
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROME_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield url, page, errors
        finally:
            browser.close()


def test_alert_on_the_chart_remediation_beside_it_and_no_console_errors(browser_page):
    url, page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(url)
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=90_000)  # the overview, the landing page
    # A run picked in the sidebar on the overview opens its page; then the picker switches runs there.
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile(r"nova-rft-hyperpod-kl-spike")).click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('nova-rft-hyperpod-kl-spike'))",
                           timeout=60_000)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name=re.compile(r"nova-sft-datamix-high-lr")).click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('nova-sft-datamix-high-lr'))",
                           timeout=60_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    annotation = page.locator('[data-testid="stPlotlyChart"] .annotation-text', has_text="loss_spike").first
    annotation.wait_for(timeout=60_000)
    assert annotation.is_visible()
    remedy = page.get_by_text("revert to the default first").first
    remedy.wait_for(timeout=30_000)
    assert remedy.is_visible()
    page.screenshot(path=str(ARTIFACTS / "browser-run-page.png"))
    page.locator('[data-testid="stSidebarNav"] a', has_text="Post-mortem").click()
    page.get_by_text("What went wrong first").first.wait_for(timeout=60_000)
    assert "nova-sft-datamix-high-lr" in page.url or "postmortem" in page.url
    with page.expect_download(timeout=60_000) as download:  # built on the click, not on every rerun
        page.get_by_role("button", name="HTML report").click()
    report = Path(download.value.path()).read_text(encoding="utf-8")
    assert "nova-sft-datamix-high-lr/train.log" in report and "loss_spike" in report
    page.screenshot(path=str(ARTIFACTS / "browser-postmortem.png"))
    assert errors == [], errors


def test_the_overview_lands_first_and_a_row_opens_its_run(browser_page):
    """A new user's first look: the overview, worst runs first; one click on a row opens that run's
    page with its alerts, and the Overview link brings the table back."""
    url, page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(url)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=90_000)
    page.get_by_text("3 critical · 3 warning · 11 healthy").first.wait_for(timeout=30_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "browser-overview.png"))
    assert "run=" not in page.url  # the overview's own link, not a run's
    assert page.get_by_role("button", name="Deploy").count() == 0  # viewer toolbar: no developer chrome (review L7)
    box = grid.bounding_box()
    # The third row (worst first: two runs with one critical alert, then the high-LR run with three),
    # clicked in its selection column; rows are 35 px under a 35 px header.
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 35 * 2 + 17)
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('nova-sft-datamix-high-lr'))",
                           timeout=60_000)
    assert "/run?" in page.url and "run=nova-sft-datamix-high-lr" in page.url
    page.get_by_text("revert to the default first").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").click()
    page.get_by_text("3 critical · 3 warning · 11 healthy").first.wait_for(timeout=60_000)
    assert errors == [], errors


def test_the_live_overview_follows_a_folder(tmp_path):
    """Live on the overview: a NaN appended to a run turns its row critical, a run that appears is
    added, within a few 5 s refreshes, with nothing else touched."""
    from playwright.sync_api import sync_playwright
    import urllib.parse

    executable = chromium()
    job = tmp_path / "runs" / "job"
    job.mkdir(parents=True)
    (job / "train.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 60)))
    port = free_port()
    process = start_dashboard(port, {"FORGE_MONITOR_ROOTS": str(tmp_path)})
    try:
        wait_healthy(port, process)
        url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"source": "folder", "folder": str(tmp_path / "runs")})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROME_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url)
            page.get_by_text("1 run(s) · 1 healthy").first.wait_for(timeout=90_000)
            page.get_by_text("Live", exact=True).click()
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
            with open(job / "train.jsonl", "a") as handle:
                handle.write('{"step": 60, "loss": NaN}\n')
            page.get_by_text("1 run(s) · 1 critical").first.wait_for(timeout=30_000)
            (tmp_path / "runs" / "job2").mkdir()
            (tmp_path / "runs" / "job2" / "train.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n')
            page.get_by_text("2 run(s) · 1 critical · 1 healthy").first.wait_for(timeout=30_000)
            browser.close()
    finally:
        stop(process)


_RANGES = ("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"
           ".map(g => g._fullLayout.xaxis.range.map(v => Math.round(v)))")


def _x_ranges(page) -> list:
    return page.evaluate(_RANGES)


def _drag_across_first_chart(page, start: float, middle: float, end: float) -> None:
    """Drag across the first chart's plot area, at its mid-height, through fractions of its width."""
    box = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * middle, y, steps=8)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
    page.mouse.up()


def _settled_ranges(page, *, charts: int = 3, narrower_than: float, timeout: float = 30_000) -> list:
    """The charts' x ranges once there are ``charts`` of them and every one shows the same range,
    narrower than ``narrower_than`` steps (each chart is redrawn on its own after a rerun, and until the
    rerun ends the page may still hold the chart it replaces: on a busy machine the last may lag the
    first by more than a fixed pause)."""
    page.wait_for_function(f"() => {{ const r = ({_RANGES})(); return r.length === {charts} && "
                           "r.every(x => x[0] === r[0][0] && x[1] === r[0][1]) && "
                           f"r[0][1] - r[0][0] < {narrower_than}; }}", timeout=timeout)
    return _x_ranges(page)


def test_a_drag_zooms_every_chart_the_zoom_survives_a_control_and_resets(browser_page):
    """Issue 17 H2/H3: drag a step range on the Loss chart: every chart of the run shows it, it stays
    when a control changes, Reset zoom brings the whole run back; six alerts are three incident
    cards with the recipe finding said once; SFT runs count only the detectors that apply."""
    url, page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{url}/?run=nova-sft-datamix-high-lr/train.log")
    page.get_by_text("revert to the default first").first.wait_for(timeout=90_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= 3",
                           timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    whole = _x_ranges(page)
    assert len(whole) == 3 and whole[0][1] >= 400
    # The incident cards arrive one by one after the first: wait for three, then check there are no more.
    page.wait_for_function("() => [...document.querySelectorAll('button')].filter(b => b.innerText.includes("
                           "'Show on charts')).length >= 3", timeout=60_000)
    assert page.get_by_role("button", name="Show on charts").count() == 3  # 6 alerts, 3 incidents
    assert page.get_by_text("the first thing to revert").count() == 1
    assert page.get_by_text("5/7").first.is_visible()
    _drag_across_first_chart(page, 0.5, 0.6, 0.7)
    page.get_by_text("Every chart shows steps").first.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    zoomed = _settled_ranges(page, narrower_than=0.5 * (whole[0][1] - whole[0][0]))
    assert zoomed[0][1] - zoomed[0][0] < 0.5 * (whole[0][1] - whole[0][0]), zoomed
    assert zoomed == [zoomed[0]] * 3, zoomed  # synced: every chart, not only the one dragged
    page.screenshot(path=str(ARTIFACTS / "browser-zoom-synced.png"), full_page=True)
    page.get_by_text("Log scale", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout.yaxis.type === 'log')",
                           timeout=60_000)
    page.wait_for_timeout(500)
    assert _x_ranges(page) == zoomed  # a rerun (a control changed) kept the zoom
    page.get_by_role("button", name="Reset zoom").click()
    page.get_by_text("Drag across any chart to zoom").first.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(500)
    assert _x_ranges(page)[0][1] >= 400
    assert errors == [], errors


def test_dashboard_path_opens_the_users_folder_in_the_browser(tmp_path):
    """`forge-monitor dashboard PATH`: the folder named opens (an allowed root, no environment to set)."""
    from forge_monitor.demo import dashboard_env

    mine = tmp_path / "my-runs" / "job"
    mine.mkdir(parents=True)
    (mine / "train.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 80)))
    with _fresh_dashboard(dashboard_env([tmp_path / "my-runs"])) as (url, page):
        page.goto(f"{url}/")
        page.get_by_text("1 run(s) · 1 healthy").first.wait_for(timeout=90_000)
        page.get_by_text("Folders this dashboard may read").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser-dashboard-path.png"))


@contextlib.contextmanager
def _fresh_dashboard(env: dict | None = None):
    """``(url, page)``: a dashboard server of its own (started and stopped by PID) and a new browser's page."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    port = free_port()
    process = start_dashboard(port, env)
    try:
        wait_healthy(port, process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROME_ARGS, headless=True)
            try:
                yield f"http://127.0.0.1:{port}", browser.new_page(viewport={"width": 1500, "height": 1100})
            finally:
                browser.close()
    finally:
        stop(process)


@pytest.mark.parametrize("path, heading", [("run", "nova-cpt-healthy/train.log"), ("postmortem", "Post-mortem")])
def test_a_page_address_opened_first_on_a_fresh_server_shows_that_page(path, heading):
    """The address bar shows /run?run=... on a run page; opened in a new tab right after the server
    started (no visit had run app.py yet), Streamlit ran pages/run.py alone: no sidebar, "No runs in
    this source yet". Now the visit goes through app.py and lands on the page it named."""
    with _fresh_dashboard() as (url, page):
        page.goto(f"{url}/{path}?run=nova-cpt-healthy/train.log")
        page.get_by_role("heading", name=heading).first.wait_for(timeout=90_000)
        page.get_by_text("Read runs from").first.wait_for(timeout=30_000)  # app.py's sidebar, not the page alone
        assert page.get_by_text("No runs in this source yet").count() == 0
        assert urllib.parse.urlsplit(page.url).path == f"/{path}" and "open=" not in page.url, page.url


def _layouts(page, expression: str) -> list:
    return page.evaluate("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')]"
                         f".map(g => {expression})")


def _settled(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(500)


def test_charts_in_a_grid_against_epochs_and_a_drag_in_epochs_zooms_every_chart_in_steps(browser_page):
    """Issue 17 M2/M3: the overfit run's charts two per row; drawn against epochs (624 steps = 2
    epochs); a drag in epochs zooms every chart, the caption says the steps; back to steps, the same
    steps are shown."""
    url, page, errors = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{url}/?run=nova-sft-2epoch-overfit/train.log")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= 3",
                           timeout=90_000)
    _settled(page)
    boxes = [c.bounding_box() for c in page.locator('[data-testid="stPlotlyChart"]').all()[:3]]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 5 and boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"] - 5  # side by side
    assert boxes[2]["y"] > boxes[0]["y"] + boxes[0]["height"] - 5  # the third on the next row
    page.locator('[data-testid="stSelectbox"]', has_text="X axis").click()
    page.get_by_role("option", name="epoch", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout.xaxis.title.text === 'epoch')",
                           timeout=60_000)
    _settled(page)
    whole = _layouts(page, "g._fullLayout.xaxis.range")
    assert 1.9 < whole[0][1] < 2.2, whole
    _drag_across_first_chart(page, 0.3, 0.4, 0.55)
    caption = page.get_by_text(re.compile(r"Every chart shows steps \d+–\d+")).first
    caption.wait_for(timeout=60_000)
    _settled(page)
    first, last = map(int, re.search(r"steps (\d+)–(\d+)", caption.text_content()).groups())
    zoomed = _layouts(page, "g._fullLayout.xaxis.range")
    assert all(r == zoomed[0] for r in zoomed), zoomed  # every chart
    assert 0 < zoomed[0][0] < zoomed[0][1] < 1.5  # in epochs ...
    assert abs(zoomed[0][0] * 312 - first) < 3 and abs(zoomed[0][1] * 312 - last) < 3  # ... of the steps said
    page.screenshot(path=str(ARTIFACTS / "browser-epoch-grid.png"), full_page=True)
    page.locator('[data-testid="stSelectbox"]', has_text="X axis").click()
    page.get_by_role("option", name="step", exact=True).click()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(g => g._fullLayout.xaxis.title.text === 'step')",
                           timeout=60_000)
    _settled(page)
    in_steps = _layouts(page, "g._fullLayout.xaxis.range.map(v => Math.round(v))")
    assert all(abs(r[0] - first) <= 1 and abs(r[1] - last) <= 1 for r in in_steps), (in_steps, first, last)
    assert errors == [], errors


def test_compare_hover_lists_every_run_and_a_ticked_sweep_row_joins_the_charts(browser_page):
    """Issue 17 M4/M5: unified hover on every Compare chart; ticking a sweep-table row adds its run."""
    url, page, errors = browser_page
    page.goto(f"{url}/?run=nova-sft-lora-healthy/train.log")
    page.get_by_text("No alerts").first.wait_for(timeout=90_000)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Compare").click()
    page.get_by_text("Sweep table").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .js-plotly-plot').length >= 1",
                           timeout=90_000)
    _settled(page)
    assert set(_layouts(page, "g._fullLayout.hovermode")) == {"x unified"}
    before = _layouts(page, "g.data.filter(t => t.showlegend !== false && (t.mode || '').startsWith('lines')).length")[0]
    assert before == 4
    grid = page.locator('[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    # Rows are sorted by dataset then place: the llava-cot runs come first and are not in the chart yet.
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 17)
    # Between the click and the redraw the chart may be gone for a moment: a predicate that throws is not retried.
    page.wait_for_function("(n) => { const g = document.querySelector('.js-plotly-plot'); return !!(g && g.data) && "
                           "g.data.filter(t => t.showlegend !== false && (t.mode || '').startsWith('lines')).length === n + 1; }",
                           arg=before, timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "browser-compare.png"), full_page=True)
    assert errors == [], errors


def test_no_run_picker_on_the_detector_reference_and_the_run_kept(browser_page):
    """Issue 17 L7/M9: the Detector reference draws no run picker (it shows no run) and lists the
    thresholds in use; back on the Run page the same run is open."""
    url, page, errors = browser_page
    page.goto(f"{url}/?run=nova-rft-hyperpod-kl-spike/train.log")
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('nova-rft-hyperpod-kl-spike'))",
                           timeout=90_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]', has_text="Run").first.wait_for(timeout=60_000)
    _settled(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Detector reference").click()
    page.get_by_text("Thresholds in use: the defaults").first.wait_for(timeout=60_000)
    _settled(page)
    assert sidebar.locator('[data-testid="stSelectbox"]', has_text="Run").count() == 0
    assert "run=nova-rft-hyperpod-kl-spike" in page.url
    page.locator('[data-testid="stSidebarNav"] a', has_text=re.compile(r"^Run$")).click()
    page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes('nova-rft-hyperpod-kl-spike'))",
                           timeout=60_000)
    sidebar.locator('[data-testid="stSelectbox"]', has_text="Run").first.wait_for(timeout=60_000)
    _settled(page)  # the run kept, not the default run (the high-LR one) the picker falls back to
    assert page.locator("h1").first.text_content().startswith("nova-rft-hyperpod-kl-spike")
    page.screenshot(path=str(ARTIFACTS / "browser-back-to-run.png"))
    assert errors == [], errors
