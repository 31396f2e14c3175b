"""Issue 17 (the UX review): one incident per cause, a zoom shared by a run's charts and kept across
reruns and live refreshes, the dashboard on the user's folder, not applicable vs could not check."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import PROJECT_ROOT, SAMPLE_LOGS
from forge_monitor.alerts import Alert, Severity
from forge_monitor.detectors import run_checks
from forge_monitor.incidents import evidence_rows, group_incidents, step_window
from forge_monitor.ingest import load_paths
from test_app import chart_specs, open_app

HIGH_LR = "nova-sft-datamix-high-lr/train.log"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "forge_monitor", *map(str, args)], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120)


def x_ranges(at) -> list:
    return [spec["layout"].get("xaxis", {}).get("range") for spec in chart_specs(at)]


# --- incidents -------------------------------------------------------------------------------------

def test_a_grad_norm_spike_and_the_loss_spike_it_led_are_one_incident():
    run = load_paths([SAMPLE_LOGS / "nova-sft-datamix-high-lr"]).runs[0]
    report = run_checks(run.frame, run.info)
    incidents = group_incidents(report.alerts, window=step_window(run.frame["step"]))
    assert len(report.alerts) == 6
    assert [(i.step, i.step_end, i.severity.value) for i in incidents] == [(140, 143, "critical"), (229, 236, "critical"),
                                                                          (301, 307, "critical")]
    assert all(set(i.detectors) == {"grad_norm_spike", "loss_spike"} for i in incidents)
    assert incidents[0].lead.detector == "loss_spike"  # the most severe alert speaks for the incident


def test_alerts_far_apart_stay_apart_and_sparse_logging_widens_the_window():
    def alert(detector, step, severity="warning"):
        return Alert("r", detector, Severity(severity), "m", step, step, "seen", "change")

    apart = group_incidents([alert("loss_spike", 10), alert("overfitting", 300, "critical")])
    assert len(apart) == 2
    assert step_window(np.arange(0, 1000, 10)) == 20  # logged every 10 steps: two points apart
    assert len(group_incidents([alert("grad_norm_spike", 140), alert("loss_spike", 150)], window=20)) == 1
    assert evidence_rows({"median": 0.8427221606199756, "steps": [1, 2]}) == [("median", "0.8427"), ("steps", "1; 2")]


def test_the_run_page_shows_one_card_per_incident_and_the_recipe_finding_once():
    at = open_app(run=HIGH_LR)
    assert not at.exception, at.exception
    cards = [b.key for b in at.button if b.key and b.key.endswith("-focus")]
    assert len(cards) == 3  # six alerts, three incidents
    assert sum("the first thing to revert" in w.value for w in at.warning) == 1  # was 6 boxes + a line
    assert any("Likely cause: recipe finding" in c.value for c in at.caption)
    assert any(m.value.count("grad\\_norm\\_spike → loss\\_spike") for m in at.markdown)
    assert any("Evidence (2 alerts)" in e.label for e in at.expander)


# --- zoom -----------------------------------------------------------------------------------------

def test_a_card_zooms_every_chart_to_its_incident_and_the_zoom_survives_reruns_until_reset():
    at = open_app(run=HIGH_LR)
    assert x_ranges(at) == [None, None, None]
    focus = [b.key for b in at.button if b.key and b.key.endswith("-focus")][1]
    at.button(key=focus).click().run()
    assert not at.exception, at.exception
    ranges = x_ranges(at)
    assert ranges[0] is not None and ranges[0][0] < 229 < 236 < ranges[0][1]
    assert ranges == [ranges[0]] * 3  # every chart of the run, not only one
    assert at.session_state["step"] == 229  # the card's step: the link's ?step=
    revisions = {spec["layout"].get("uirevision") for spec in chart_specs(at)}
    assert len(revisions) == 1 and None not in revisions  # the browser keeps the view across reruns
    at.slider(key="smoothing").set_value(0.6).run()  # a control changed: the zoom stays
    at.toggle(key="log_y").set_value(True).run()
    assert x_ranges(at) == ranges
    assert {spec["layout"].get("uirevision") for spec in chart_specs(at)} == revisions
    at.button(key="zoom-reset").click().run()
    assert x_ranges(at) == [None, None, None]


def test_the_zoom_is_kept_by_live_refreshes():
    at = open_app(run=HIGH_LR)
    focus = [b.key for b in at.button if b.key and b.key.endswith("-focus")][0]
    at.button(key=focus).click().run()
    zoomed = x_ranges(at)
    at.toggle(key="live").set_value(True).run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("live · last step 400") for c in at.caption)
    assert x_ranges(at) == zoomed
    at.run()  # the next refresh
    assert x_ranges(at) == zoomed


def test_charts_take_a_dragged_step_range_as_the_zoom():
    """The selection a drag leaves in a chart's state becomes every chart's range (the browser test
    drags for real)."""
    at = open_app(run=HIGH_LR)
    at.session_state["chart-Loss-0"] = {"selection": {"box": [{"x": [200.0, 260.0], "y": [0, 1]}], "points": [],
                                           "point_indices": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert x_ranges(at) == [[200.0, 260.0]] * 3


# --- not applicable vs could not check --------------------------------------------------------------

def test_rl_detectors_are_not_applicable_to_sft_and_not_counted():
    run = load_paths([SAMPLE_LOGS / "nova-sft-datamix-high-lr"]).runs[0]
    report = run_checks(run.frame, run.info)
    na = {r.detector for r in report.not_applicable}
    assert na == {"kl_spike", "reward_plateau", "reward_gaming", "kl_drift", "entropy_collapse"}
    assert all(r.reason.startswith("applies to RFT") and r.reason.endswith("this run is SFT") for r in report.not_applicable)
    assert {r.detector for r in report.skipped} == {"overfitting", "forgetting"}  # data missing: actionable
    at = open_app(run=HIGH_LR)
    assert [m.value for m in at.metric][3] == "5/7"  # was 5/12
    skipped = next(e for e in at.expander if "could not check" in e.label)
    assert skipped.label.startswith("2 detector(s) could not check this run (data missing)")
    assert any(c.value.startswith("Not applicable to SFT runs (not counted): kl\\_spike") for c in at.caption)


def test_a_run_nothing_could_check_is_said_on_the_page(tmp_path, monkeypatch):
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "m.csv").write_text("step,foo\n" + "".join(f"{i},{i}\n" for i in range(1, 30)))
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(tmp_path))
    at = open_app(source="folder", folder=str(tmp_path), run="job/m.csv")
    assert not at.exception, at.exception
    assert any("No applicable detector could check this run" in e.value for e in at.error)
    assert not any("No alerts" in s.value for s in at.success)


def test_scan_exits_3_when_nothing_applicable_could_check_and_says_so(tmp_path):
    path = tmp_path / "unknown.csv"
    path.write_text("step,foo\n1,2\n2,3\n")
    done = cli("scan", path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "NOTHING CHECKED" in done.stdout and "no applicable detector could check" in done.stderr
    assert cli("scan", path, "--allow-unchecked").returncode == 0
    payload = json.loads(cli("scan", path, "--json").stdout)
    assert payload["runs"][0]["nothing_checked"] is True
    healthy = cli("scan", SAMPLE_LOGS / "nova-sft-lora-healthy", "--json")
    assert healthy.returncode == 0
    checks = json.loads(healthy.stdout)["runs"][0]["checks"]
    assert {c["detector"] for c in checks if not c["applicable"]} == {"kl_spike", "reward_plateau", "reward_gaming",
                                                                      "kl_drift", "entropy_collapse"}
    text = cli("scan", SAMPLE_LOGS / "nova-sft-lora-healthy").stdout
    assert "kl_spike" not in text and "not checked (3; could not check, data missing)" in text


def test_a_readme_is_never_read_as_a_run(tmp_path):
    done = cli("scan", PROJECT_ROOT / "README.md")
    assert done.returncode == 2 and "a documentation file (.md), not a training log" in done.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text((PROJECT_ROOT / "README.md").read_text())
    done = cli("scan", notes)
    assert done.returncode == 2 and "prose, not a training log" in done.stderr
    log = tmp_path / "train.log"  # the same example line, as a log holds it
    log.write_text("(TaskRunner pid=1) step:1 - actor/entropy:2.54 - critic/rewards/mean:0.83\n")
    assert cli("scan", log, "--json").returncode in (0, 3)


# --- your own runs ----------------------------------------------------------------------------------

def test_the_folders_named_on_the_command_line_open_and_are_allowed(tmp_path, monkeypatch):
    mine = tmp_path / "my-runs"
    (mine / "job").mkdir(parents=True)
    (mine / "job" / "train.log").write_text((SAMPLE_LOGS / "nova-cpt-healthy" / "train.log").read_text())
    monkeypatch.delenv("FORGE_MONITOR_ROOTS", raising=False)
    monkeypatch.delenv("FORGE_MONITOR_LOGS", raising=False)
    monkeypatch.setenv("FORGE_MONITOR_OPEN", str(mine))
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["source"] == "folder" and at.session_state["folder"] == str(mine)
    assert [r.info.run_id for r in at.session_state["loaded"].runs] == ["job/train.log"]
    assert any("Folders this dashboard may read" in c.value and "forge-monitor dashboard" in c.value
               for c in at.sidebar.caption)


def test_the_local_folder_source_explains_how_to_allow_folders(monkeypatch):
    for name in ("FORGE_MONITOR_ROOTS", "FORGE_MONITOR_LOGS", "FORGE_MONITOR_OPEN"):
        monkeypatch.delenv(name, raising=False)
    at = open_app(source="folder")
    assert any("No folder may be read yet" in c.value and "forge-monitor dashboard" in c.value for c in at.sidebar.caption)


def test_dashboard_and_demo_refuse_a_missing_path_with_one_line(tmp_path):
    for command in ("dashboard", "demo"):
        done = cli(command, tmp_path / "nope")
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [f"forge-monitor: {tmp_path / 'nope'}: no such file or directory"]


@pytest.mark.parametrize("command", ["dashboard", "demo"])
def test_dashboard_path_serves_the_users_folder(tmp_path, command):
    """`forge-monitor dashboard PATH` / `demo PATH`: one URL, printed once the server answers, opening
    the folder; stopped by its PID."""
    import os
    import signal
    import urllib.request

    mine = tmp_path / "runs"
    mine.mkdir()
    (mine / "m.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    process = subprocess.Popen([sys.executable, "-m", "forge_monitor", command, str(mine)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, start_new_session=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith(f"forge-monitor dashboard on {mine}"), lines
        url = lines[1].removeprefix("Open ").strip()
        assert url.startswith("http://127.0.0.1:") and "source=folder" in url and "folder=" in url
        with urllib.request.urlopen(url.split("/?")[0] + "/_stcore/health", timeout=10) as response:
            assert response.read() == b"ok"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
