"""``forge-monitor watch --mlflow``: MLflow runs followed like log files, against the real ``mlflow
server`` of test_mlflow.py (SQLite, 127.0.0.1), with dry-run routes in-process and the CLI end to end."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT_ROOT
from forge_monitor.ingest.mlflow import MLflowSource
from forge_monitor.notify import Outbox, Route
from forge_monitor.watch import Watcher, WatchState
from test_mlflow import log_rows, mlflow_server, new_run, sft_rows, tracking  # noqa: F401 - fixtures


def _sent(capsys) -> list[str]:
    out = capsys.readouterr().out
    return [block.split("---\n", 1)[1].splitlines()[0] for block in out.split("--- would send to ")[1:]]


def test_watch_follows_running_mlflow_runs_and_sends_a_new_spike_once(mlflow_server, tracking, tmp_path, capsys):
    train, evals, _ = sft_rows()
    experiment = "watch-mlflow"
    running = new_run(tracking, experiment, "sft-live")
    log_rows(tracking, running, train[:150])
    done = new_run(tracking, experiment, "sft-old")
    log_rows(tracking, done, train[:150])
    tracking.set_terminated(done, "FINISHED")
    source = MLflowSource(mlflow_server, experiment=experiment)
    watcher = Watcher([], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True), WatchState(tmp_path / "state"),
                      mlflow=source)
    watcher.refresh()
    err = capsys.readouterr().err
    assert "following MLflow run watch-mlflow/sft-live" in err and "sft-old" not in err  # finished: not followed
    log_rows(tracking, running, train[150:], start=150)  # the rest, with the loss spike at step 200
    watcher.refresh()
    titles = _sent(capsys)
    assert len(titles) == 1 and titles[0].startswith("[CRITICAL] loss_spike in watch-mlflow/sft-live at steps 200-"), titles
    watcher.refresh()
    assert _sent(capsys) == []  # once
    tracking.set_terminated(running, "FINISHED")
    for _ in range(watcher.relist_every + 1):
        watcher.refresh()
    assert "watch-mlflow/sft-live: finished (FINISHED); read to the end, no longer followed" in capsys.readouterr().err


def test_watch_mlflow_cli_once_and_its_usage_errors(mlflow_server, tracking, tmp_path):
    train, _, _ = sft_rows()
    run = new_run(tracking, "watch-mlflow-cli", "named")
    log_rows(tracking, run, train)
    tracking.set_terminated(run, "FINISHED")
    command = [sys.executable, "-m", "forge_monitor", "watch", "--mlflow", mlflow_server, "--experiment", "watch-mlflow-cli",
               "--run", "named", "--dry-run", "--once", "--state", str(tmp_path / "s")]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[CRITICAL] loss_spike in watch-mlflow-cli/named at steps 200-" in done.stdout  # named: read even if finished
    assert "named: finished (FINISHED); read to the end" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", "--run", "x", "--dry-run"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--experiment and --run choose MLflow runs" in bad.stderr
    env_less = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", "--mlflow", "--dry-run"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=60,
                              env={k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"})
    assert env_less.returncode == 2 and "no MLflow tracking URI" in env_less.stderr
