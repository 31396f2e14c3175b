"""The dashboard reads the folder it opens on as it starts (issue 15, target 3): what it reads, that a
visitor who arrives meanwhile waits for that read instead of reading again, that a failure never stops
the server, and the real server saying so on its log."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from forge_monitor import frame_facts
from forge_monitor.demo import dashboard_env, free_port, start_dashboard, stop, wait_until_up
from forge_monitor.ui import folders, startup

from conftest import PROJECT_ROOT, open_app

SAMPLES = PROJECT_ROOT / "sample_logs"


def _two_runs(folder):
    for name in ("nova-sft-datamix-high-lr", "nova-sft-lora-healthy"):
        shutil.copytree(SAMPLES / name, folder / name)
    return folder


def test_the_landing_folder_is_the_first_opened_one_else_the_samples(monkeypatch, tmp_path):
    monkeypatch.delenv("FORGE_MONITOR_OPEN", raising=False)
    monkeypatch.delenv("FORGE_MONITOR_LOGS", raising=False)
    assert startup.landing_folder() == SAMPLES
    monkeypatch.setenv("FORGE_MONITOR_LOGS", str(tmp_path))
    assert startup.landing_folder() == tmp_path
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.setenv("FORGE_MONITOR_OPEN", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert startup.landing_folder() == (tmp_path / "a").resolve()


def test_the_start_up_read_is_what_the_pages_get_and_says_what_it_read(monkeypatch, tmp_path):
    folder = _two_runs(tmp_path / "runs").resolve()
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(folder))
    out = io.StringIO()
    loaded = startup.read_landing_folder(out)
    assert loaded is not None and len(loaded.runs) == 2
    assert folders.read_folder(folder) is loaded  # the page's read: nothing changed, the same answer
    line = out.getvalue()
    assert line.startswith(startup.READ_LINE) and f"2 run(s) in {folder}" in line
    assert "critical" in line and "healthy" in line, line  # the overview's counts, worked out already
    assert loaded.overview is not None
    for run in loaded.runs:  # what a run page works out from its frame first, kept with the frame
        facts = set(frame_facts._facts[id(run.frame)])
        assert {"plot_series", "step_window", "metric_names"} <= facts
        # The x-axes (about a third of a frame's memory) only for the run a visitor is sent to first.
        assert ("x_axes" in facts) == (run.info.run_id == loaded.default_run()), run.info.run_id


@pytest.mark.parametrize("named", [True, False])
def test_the_landing_folder_is_the_one_a_visit_without_a_query_opens(monkeypatch, tmp_path, named):
    """The start-up read and ``state.init`` each know which folder a plain visit opens (the first one
    named on the command line, else FORGE_MONITOR_LOGS / the samples): the visit must get the very
    answer the start-up read left, not read the folder again under another key."""
    folder = _two_runs(tmp_path / "runs").resolve()
    monkeypatch.delenv("FORGE_MONITOR_OPEN", raising=False)
    monkeypatch.delenv("FORGE_MONITOR_LOGS", raising=False)
    monkeypatch.setenv("FORGE_MONITOR_OPEN" if named else "FORGE_MONITOR_LOGS", str(folder))
    loaded = startup.read_landing_folder(io.StringIO())
    visit = open_app("overview")
    assert not visit.exception
    assert visit.session_state["loaded"] is loaded


def test_a_visitor_during_the_start_up_read_waits_for_it_instead_of_reading_again(monkeypatch, tmp_path):
    folder = _two_runs(tmp_path / "runs").resolve()
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(folder))
    opened, real = [], folders.open_run

    def slow_open(spec):
        opened.append(spec.run_id)
        time.sleep(0.4)
        return real(spec)

    monkeypatch.setattr(folders, "open_run", slow_open)
    results = {}
    reader = threading.Thread(target=lambda: results.update(start=startup.read_landing_folder(io.StringIO())))
    reader.start()
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:  # the start-up read is under way
        time.sleep(0.01)
    visitor = folders.read_folder(folder)
    reader.join(30)
    assert results["start"] is visitor
    assert sorted(opened) == sorted(run.info.run_id for run in visitor.runs)  # each run read once


def test_a_start_up_read_that_fails_is_said_and_never_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(tmp_path))

    def broken(folder):
        raise PermissionError("no access")

    monkeypatch.setattr(folders, "read_folder", broken)
    out = io.StringIO()
    assert startup.read_landing_folder(out) is None
    assert f"could not read {tmp_path} at start (PermissionError: no access)" in out.getvalue()


def test_a_landing_folder_with_nothing_to_show_is_said_as_such(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(tmp_path / "missing"))
    out = io.StringIO()
    loaded = startup.read_landing_folder(out)
    assert loaded is not None and not loaded.runs
    assert out.getvalue().startswith(f"forge-monitor: nothing to show in {tmp_path / 'missing'} at start: no training runs")


def test_a_server_stopped_during_its_start_up_read_exits_at_once():
    """Python waits at exit for a thread pool's workers to finish every queued job: a server stopped
    while its start-up read had a folder's worth of runs queued would stay up until all were read."""
    script = (
        "import threading, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from forge_monitor.ui import serve\n"
        "pool = ThreadPoolExecutor(2)\n"
        "jobs = [pool.submit(time.sleep, 30) for _ in range(4)]\n"  # 60 s of queued reading
        "reader = threading.Thread(target=lambda: [j.result() for j in jobs], daemon=True)\n"
        "reader.start()\n"
        "serve.finish(reader, 3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=25, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr


def test_the_dashboard_says_on_its_log_when_it_has_read_its_folder(tmp_path):
    """The real server, started as `forge-monitor dashboard` starts it: its log says the folder is read
    (the page bench waits for that line) and Streamlit's 'No runtime found' warnings do not appear."""
    folder = _two_runs(tmp_path / "runs").resolve()
    port = free_port()
    process = start_dashboard(port, dashboard_env([folder]), quiet=True, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(raw.decode("utf-8", "replace") for raw in process.stderr),
                              daemon=True)
    reader.start()
    try:
        assert wait_until_up(port, process)
        deadline = time.monotonic() + 60
        while not any(line.startswith(startup.READ_LINE) for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(process)
    reader.join(10)
    said = [line for line in lines if line.startswith(startup.READ_LINE)]
    assert len(said) == 1 and f"2 run(s) in {folder}" in said[0], lines
    assert not any("No runtime found" in line for line in lines), lines
