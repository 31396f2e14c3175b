"""Post-mortem exports: the HTML report (self-contained, everything escaped), CSV, Parquet, JSON."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd

from conftest import SAMPLE_LOGS
from forge_monitor.detectors import run_checks
from forge_monitor.ingest import load_paths
from forge_monitor.report import alerts_json, frame_csv, frame_parquet, html_report, timeline


def _run(path):
    run = load_paths([str(path)]).runs[0]
    return run, run_checks(run.frame, run.info)


def test_report_cli_writes_a_self_contained_html(tmp_path):
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "report", str(SAMPLE_LOGS / "nova-sft-datamix-high-lr"),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "<script" in page and "plotly" in page.lower()  # plotly.js inline: opens offline
    assert not re.search(r"<script[^>]*\ssrc=", page)  # no external script tags: it opens offline
    assert "What went wrong, in order" in page and "revert to the default first" in page
    assert page.index("at step 140") < page.index("at step 230")  # in order of onset


def test_every_name_from_a_log_is_escaped(tmp_path):
    folder = tmp_path / "<img src=x onerror=alert(1)>"
    folder.mkdir()
    (folder / "<script>alert(1)<!-- x.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0 / s, "<b>metric</b>": 1.0}) + "\n" for s in range(1, 40)))
    run, report = _run(folder)
    page = html_report([(run, report)], title="<title>")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;!-- x.jsonl" in page
    assert "<img src=x" not in page and "<b>metric</b>" not in page


def test_timeline_is_in_order_of_onset_and_exports_round_trip():
    run, report = _run(SAMPLE_LOGS / "nova-sft-datamix-high-lr")
    steps = [row["step"] for row in timeline(report)]
    assert steps == sorted(steps) and steps[0] == 140
    assert json.loads(alerts_json(report))[0]["detector"] == "grad_norm_spike"
    csv = pd.read_csv(io.BytesIO(frame_csv(run.frame)))
    parquet = pd.read_parquet(io.BytesIO(frame_parquet(run.frame)))
    assert len(csv) == len(parquet) == len(run.frame)
    assert list(parquet.columns) == ["run_id", "step", "metric", "value", "wall_time"]


def test_csv_export_defuses_formulas_in_names():
    """Audit L2: a metric named =HYPERLINK(...) was exported as a live spreadsheet formula."""
    frame = pd.DataFrame({"run_id": pd.Categorical(["@run"] * 2), "step": np.array([1, 2], dtype=np.int64),
                          "metric": pd.Categorical(['=HYPERLINK("http://127.0.0.1:9/x","click")', "train_loss"]),
                          "value": [-1.5, 2.0], "wall_time": [np.nan, np.nan]})
    csv = pd.read_csv(io.BytesIO(frame_csv(frame)))
    assert csv.metric.tolist() == ["'=HYPERLINK(\"http://127.0.0.1:9/x\",\"click\")", "train_loss"]
    assert csv.run_id.tolist() == ["'@run", "'@run"] and csv.value.tolist() == [-1.5, 2.0]  # numbers untouched
