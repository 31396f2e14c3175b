"""`forge-monitor scan`: the JSON contract, the table, the exit codes - run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PROJECT_ROOT, SAMPLE_LOGS
from forge_monitor.samples import SAMPLES

RUN_KEYS = {"run_id", "source", "format", "technique", "steps", "metrics", "skipped_lines", "restarts", "warnings"}


def scan(*args, cwd=PROJECT_ROOT):
    return subprocess.run([sys.executable, "-m", "forge_monitor", "scan", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_scan_json_contract_on_the_sample_logs():
    done = scan(SAMPLE_LOGS, "--json")
    assert done.returncode == 1, done.stderr  # the faulty samples raise warnings (default --fail-on warning)
    payload = json.loads(done.stdout)
    assert set(payload) >= {"runs", "alerts"}
    for alert in payload["alerts"]:
        assert set(alert) == {"run_id", "detector", "severity", "metric", "step", "step_end", "message", "remediation", "evidence"}
    fired = {(a["run_id"].split("/")[0], a["detector"]) for a in payload["alerts"]}
    assert ("nova-sft-datamix-high-lr", "loss_spike") in fired and ("nova-rft-hyperpod-kl-spike", "kl_spike") in fired
    assert len(payload["runs"]) == len(SAMPLES)
    for run in payload["runs"]:
        assert RUN_KEYS <= set(run)
        assert set(run["steps"]) == {"first", "last", "count"} and run["steps"]["count"] > 0
    by_id = {r["run_id"]: r for r in payload["runs"]}
    spiky = by_id["nova-sft-datamix-high-lr/train.log"]
    assert spiky["format"] == "nova_pipe" and spiky["technique"] == "sft" and spiky["platform"] == "hyperpod"
    assert spiky["steps"] == {"first": 1, "last": 400, "count": 400}
    assert {"train_loss", "grad_norm", "learning_rate"} <= set(spiky["metrics"])
    assert spiky["hyperparameters"]["learning_rate"] == 5e-5


def test_scan_prints_a_readable_table():
    done = scan(SAMPLE_LOGS / "nova-rft-healthy")
    assert done.returncode == 0
    header = done.stdout.splitlines()[0].split()
    assert header == ["run", "format", "technique", "steps", "metrics", "skipped", "restarts"]
    assert "nova-rft-healthy/train.log" in done.stdout and "1–200 (200)" in done.stdout


def test_missing_path_exits_2_with_one_line(tmp_path):
    done = scan(tmp_path / "nope.log")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"forge-monitor: {tmp_path / 'nope.log'}: no such file or directory"]


def test_file_that_cannot_be_read_as_a_log_exits_2(tmp_path):
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)  # opening it would block forever: it must be refused before any read
    done = scan(fifo)
    assert done.returncode == 2 and "not a regular file" in done.stderr


def test_unrecognized_file_exits_2_and_names_the_fix(tmp_path):
    path = tmp_path / "weird.log"
    path.write_bytes(b"\x00\x01binary")
    done = scan(path)
    assert done.returncode == 2 and "binary data" in done.stderr
    other = tmp_path / "text.log"
    other.write_text("epoch one went fine\n")
    done = scan(other)
    assert done.returncode == 2 and "--metric-definitions" in done.stderr


def test_bad_file_does_not_cost_the_good_one(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"step": 1, "loss": 1.0}\n')
    done = scan(good, tmp_path / "missing.log", "--json")
    assert done.returncode == 2
    payload = json.loads(done.stdout)
    assert [r["run_id"] for r in payload["runs"]] == [str(good)]
    assert payload["errors"][0]["reason"] == "no such file or directory"


def test_metric_definitions_file_from_the_command_line(tmp_path):
    log = tmp_path / "llmc.log"
    log.write_text("s:0 trl:11.0 lr:0.000001 norm:14.9\ns:1 trl:10.9 lr:0.000002 norm:15.1\n")
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps({"StepRegex": r"^s:(\d+)", "MetricDefinitions": [{"Name": "train_loss", "Regex": r"trl:([0-9.]+)"}]}))
    done = scan(log, "--metric-definitions", defs, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["runs"][0]["metrics"] == ["train_loss"]
    defs.write_text('[{"Name": "x", "Regex": "("}]')
    done = scan(log, "--metric-definitions", defs)
    assert done.returncode == 2 and "invalid regex" in done.stderr


def test_usage_error_exits_2():
    assert scan().returncode == 2
    assert scan(SAMPLE_LOGS, "--fail-on", "sometimes").returncode == 2


def test_console_script_is_installed():
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "forge-monitor"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "scan" in done.stdout


def test_fail_on_levels_and_config(tmp_path):
    healthy = SAMPLE_LOGS / "nova-rft-healthy"
    assert scan(healthy, "--fail-on", "info").returncode == 0
    overfit = SAMPLE_LOGS / "nova-sft-2epoch-overfit"
    assert scan(overfit, "--fail-on", "critical").returncode == 1  # the overfit is critical (+11 %)
    config = tmp_path / "thresholds.toml"
    config.write_text("[overfitting]\ncritical_rise = 0.5\n")
    assert scan(overfit, "--fail-on", "critical", "--config", config).returncode == 0
    assert scan(overfit, "--fail-on", "warning", "--config", config).returncode == 1
    config.write_text("[overfitting]\npatience = 0\n")
    done = scan(overfit, "--config", config)
    assert done.returncode == 2 and "patience" in done.stderr


def test_readable_report_groups_alerts_with_remediation():
    done = scan(SAMPLE_LOGS / "nova-sft-datamix-high-lr")
    assert "[CRITICAL] loss_spike at step 230" in done.stdout
    assert "revert to the default first" in done.stdout
    assert "not checked" in done.stdout


def test_detector_reference_and_default_config_round_trip(tmp_path):
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "detectors"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "loss_spike (required)" in done.stdout and "z_threshold" in done.stdout
    toml = subprocess.run([sys.executable, "-m", "forge_monitor", "detectors", "--toml"], capture_output=True, text=True, timeout=60)
    config = tmp_path / "defaults.toml"
    config.write_text(toml.stdout)
    assert scan(SAMPLE_LOGS / "nova-rft-healthy", "--config", config, "--fail-on", "info").returncode == 0
