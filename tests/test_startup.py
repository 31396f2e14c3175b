"""The dashboard reads the folder it opens on as it starts (issue 15, target 3): what it reads, that a
visitor who arrives meanwhile waits for that read instead of reading again, that a failure never stops
the server, and the real server saying so on its log."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
import time

from forge_monitor import frame_facts
from forge_monitor.demo import dashboard_env, free_port, start_dashboard, stop, wait_until_up
from forge_monitor.ui import data, startup

from conftest import PROJECT_ROOT

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
    loaded = startup.read_landing_folder(out, runtime_wait=0)
    assert loaded is not None and len(loaded.runs) == 2
    assert data.read_folder(folder) is loaded  # the page's read: nothing changed, the same answer
    line = out.getvalue()
    assert line.startswith(startup.READ_LINE) and f"2 run(s) in {folder}" in line
    assert "critical" in line and "healthy" in line, line  # the overview's counts, worked out already
    assert loaded.overview is not None
    for run in loaded.runs:  # what a run page works out from its frame first, kept with the frame
        assert {"x_axes", "plot_series", "step_window", "metric_names"} <= set(frame_facts._facts[id(run.frame)])


def test_a_visitor_during_the_start_up_read_waits_for_it_instead_of_reading_again(monkeypatch, tmp_path):
    folder = _two_runs(tmp_path / "runs").resolve()
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(folder))
    opened, real = [], data.open_run

    def slow_open(spec):
        opened.append(spec.run_id)
        time.sleep(0.4)
        return real(spec)

    monkeypatch.setattr(data, "open_run", slow_open)
    results = {}
    reader = threading.Thread(target=lambda: results.update(start=startup.read_landing_folder(io.StringIO(), runtime_wait=0)))
    reader.start()
    deadline = time.monotonic() + 10
    while not opened and time.monotonic() < deadline:  # the start-up read is under way
        time.sleep(0.01)
    visitor = data.read_folder(folder)
    reader.join(30)
    assert results["start"] is visitor
    assert sorted(opened) == sorted(run.info.run_id for run in visitor.runs)  # each run read once


def test_a_start_up_read_that_fails_is_said_and_never_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(tmp_path))

    def broken(folder):
        raise PermissionError("no access")

    monkeypatch.setattr(data, "read_folder", broken)
    out = io.StringIO()
    assert startup.read_landing_folder(out, runtime_wait=0) is None
    assert "could not read the landing folder at start (PermissionError: no access)" in out.getvalue()


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
