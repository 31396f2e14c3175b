"""The overview (landing page): every run of the source, worst first, with its status, counts by
severity, worst alert and trend; a filter; and the ways to a run's page (a row, a ``?run=`` link, the
sidebar's picker). AppTest drives the app; the row click is driven in Chromium (test_browser.py)."""

from __future__ import annotations

import math
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import PROJECT_ROOT
from forge_monitor.fleet import RUNNING_WINDOW, ago, fleet_rows, sparkline
from forge_monitor.ingest import load_paths
from forge_monitor.detectors import run_checks
from forge_monitor.samples import SAMPLES

APP = str(PROJECT_ROOT / "app.py")


def landing(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_landing_page_lists_every_sample_run_worst_first_with_its_severities():
    at = landing()
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    loaded = at.session_state["loaded"]
    assert sorted(table["Run"]) == sorted(r.info.run_id for r in loaded.runs)
    assert {s.folder for s in SAMPLES} == {r.split("/")[0] for r in table["Run"]}
    for run_id, critical, warning, info in zip(table["Run"], table["critical"], table["warning"], table["info"]):
        alerts = loaded.reports[run_id].alerts
        assert (critical, warning, info) == tuple(sum(a.severity.value == level for a in alerts)
                                                  for level in ("critical", "warning", "info")), run_id
    levels = ["critical" if c else "warning" if w else "info" if i else "healthy"
              for c, w, i in zip(table["critical"], table["warning"], table["info"])]
    order = ["critical", "warning", "info", "healthy"]
    assert levels == sorted(levels, key=order.index)  # worst first
    high_lr = table[table["Run"] == "nova-sft-datamix-high-lr/train.log"].iloc[0]
    assert (high_lr["critical"], high_lr["warning"]) == (3, 3)
    assert high_lr["Worst alert"].startswith("loss_spike (critical, steps 141-143): train_loss 4.692 at step 141")
    assert high_lr["Status"] == "finished" and high_lr["Technique"] == "SFT" and high_lr["Last step"] == 400
    run = next(r for r in loaded.runs if r.info.run_id == "nova-sft-datamix-high-lr/train.log")
    loss = run.frame[run.frame["metric"] == "train_loss"]["value"]
    assert len(high_lr["Trend"]) == 60 and max(high_lr["Trend"]) == loss[loss.map(math.isfinite)].max()  # spikes kept
    healthy = table[table["Run"] == "nova-cpt-healthy/train.log"].iloc[0]
    assert healthy["Worst alert"] == "no alerts" and healthy["critical"] == healthy["warning"] == 0
    # The samples are recordings: never "running", whatever their files' times after a checkout.
    assert set(table["Status"]) == {"finished"}
    caption = at.caption[0].value
    assert caption.startswith("17 run(s) · 3 critical · 3 warning · 11 healthy")
    assert "run" not in at.query_params  # a link to the overview opens the overview


def test_the_filter_narrows_by_text_and_by_level():
    at = landing()
    at.text_input(key="overview_filter").input("kl_spike").run()
    assert list(at.dataframe[0].value["Run"]) == ["nova-rft-hyperpod-kl-spike/train.log"]
    at.text_input(key="overview_filter").input("").run()
    at.multiselect(key="overview_levels").select("critical").run()
    table = at.dataframe[0].value
    assert len(table) == 3 and (table["critical"] > 0).all()
    at.multiselect(key="overview_levels").select("healthy").run()
    assert len(at.dataframe[0].value) == 14


def test_a_link_naming_a_run_opens_its_page():
    """``/?run=…&step=…`` (the watcher's notifications, shared links) opens the run, not the overview.
    (The sidebar picker and a row click opening a run are driven in Chromium: AppTest's reruns run the
    page alone, without app.py's switch.)"""
    at = landing(run="nova-rft-hyperpod-kl-spike/train.log", step="182")
    assert at.title[0].value == "nova-rft-hyperpod-kl-spike/train.log"  # the run page, not the overview
    assert at.query_params["run"] == "nova-rft-hyperpod-kl-spike/train.log" and at.query_params["step"] == "182"


def test_unreadable_files_are_rows_with_their_reason(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "good").mkdir(parents=True)
    (runs / "good" / "train.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    (runs / "broken").mkdir()
    (runs / "broken" / "train.log").write_bytes(b"\x00" * 2000)
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(tmp_path))
    at = landing(source="folder", folder=str(runs))
    table = at.dataframe[0].value
    broken = table[table["Status"] == "unreadable"]
    assert len(broken) == 1 and broken.iloc[0]["Run"].endswith("broken/train.log")
    assert "binary data" in broken.iloc[0]["Worst alert"]
    good = table[table["Run"] == "good/train.jsonl"].iloc[0]
    assert good["Status"] == "running"  # written just now
    assert list(table["Status"]) == ["unreadable", "running"]  # a file that needs attention sorts above a healthy run


def test_status_and_recency_of_local_runs(tmp_path):
    log = tmp_path / "runs" / "job" / "train.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    result = load_paths([str(tmp_path / "runs")])
    reports = {r.info.run_id: run_checks(r.frame, r.info) for r in result.runs}
    [row] = fleet_rows(result.runs, reports)
    assert row.status == "running" and row.last_step == 39 and row.metric == "train_loss"
    old = time.time() - RUNNING_WINDOW - 60
    os.utime(log, (old, old))
    [row] = fleet_rows(result.runs, reports)
    assert row.status == "finished" and ago(time.time() - row.last_data_at) == "16 min ago"
    [row] = fleet_rows(result.runs, reports, recorded=True)
    assert row.status == "finished" and row.last_data_at is None  # no time in the data, and a recording


def test_the_sparkline_keeps_a_spike_and_leaves_out_non_finite_values():
    import numpy as np
    import pandas as pd

    steps = np.arange(1, 5001)
    values = 2 * np.exp(-steps / 2000)
    values[3000] = 9.0
    values[100] = math.nan
    frame = pd.DataFrame({"run_id": "r", "step": steps, "metric": "train_loss", "value": values, "wall_time": np.nan})
    line = sparkline(frame, "train_loss")
    assert len(line) == 60 and max(line) == 9.0 and all(math.isfinite(v) for v in line)


def test_a_running_row_turns_finished_once_its_data_is_older_than_the_window(tmp_path):
    log = tmp_path / "runs" / "job" / "train.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    result = load_paths([str(tmp_path / "runs")])
    [row] = fleet_rows(result.runs, {r.info.run_id: run_checks(r.frame, r.info) for r in result.runs})
    assert row.status_at(time.time()) == "running"
    assert row.status_at(time.time() + RUNNING_WINDOW + 1) == "finished"


def test_the_live_overview_reads_only_what_was_appended_and_checks_only_the_runs_that_changed(tmp_path, monkeypatch):
    """A folder reload after one run grew: that run is read on from its last offset (no open_run, no
    read from byte 0), the others are the very same objects, and a run that appeared is opened."""
    import forge_monitor.ui.folders as folders
    from forge_monitor.ingest import reader

    runs = tmp_path / "runs"
    for name in ("a", "b", "c"):
        (runs / name).mkdir(parents=True)
        (runs / name / "train.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    cache = folders.FolderCache(runs)
    first = cache.load([tmp_path])
    opened, checked, offsets = [], [], []
    real_open, real_checks, real_read = folders.open_run, folders.run_checks, reader._read_from
    monkeypatch.setattr(folders, "open_run", lambda spec, **kw: opened.append(spec.run_id) or real_open(spec, **kw))
    monkeypatch.setattr(folders, "run_checks", lambda frame, info, *a: checked.append(info.run_id) or real_checks(frame, info, *a))
    monkeypatch.setattr(reader, "_read_from", lambda path, offset, limit=None: offsets.append((path.parent.name, offset, limit))
                        or real_read(path, offset, limit))
    size = (runs / "b" / "train.jsonl").stat().st_size
    with open(runs / "b" / "train.jsonl", "a") as handle:
        handle.write('{"step": 40, "loss": NaN}\n')
    (runs / "d").mkdir()
    (runs / "d" / "train.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n')
    second = cache.load([tmp_path])
    old, new = ({r.info.run_id: r for r in loaded.runs} for loaded in (first, second))
    assert opened == ["d/train.jsonl"]  # only the new run is opened
    assert sorted(checked) == ["b/train.jsonl", "d/train.jsonl"]
    assert new["a/train.jsonl"] is old["a/train.jsonl"] and new["c/train.jsonl"] is old["c/train.jsonl"]
    assert [o for o in offsets if o[0] == "b" and o[2] is None] == [("b", size, None)]  # read on from the offset
    assert new["b/train.jsonl"].frame["step"].max() == 40 and old["b/train.jsonl"].frame["step"].max() == 39
    assert any(a.detector == "nonfinite" for a in second.reports["b/train.jsonl"].alerts)
    assert not any(a.detector == "nonfinite" for a in first.reports["b/train.jsonl"].alerts)  # the old answer unchanged
