"""``forge-monitor watch`` end to end: a growing Nova log, the watcher as a subprocess, and a local HTTP
receiver as apprise's ``json://`` target. Every wait is bounded; every process is stopped by its PID."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from forge_monitor.alerts import Severity

from forge_monitor.synth.writers import nova_pipe

INTERVAL = 0.5
PROJECT = Path(__file__).resolve().parents[1]


class Receiver:
    """A JSON webhook on 127.0.0.1 that records (arrival time, payload); can go down and come back."""

    def __init__(self, port: int = 0):
        self.received: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        self.port = port
        self._start()

    def _start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.cond:
                    outer.received.append((time.time(), data))
                    outer.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def down(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def up(self) -> None:
        self._start()

    def wait_for(self, count: int, timeout: float) -> list[tuple[float, dict]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)


def _lines(first: int, last: int, *, spike=None, nan=None) -> list[str]:
    rows = []
    for step in range(first, last):
        loss = 2.0 * math.exp(-step / 200) + 0.01 * math.sin(step * 1.3)
        loss = loss * 4 if step == spike else float("nan") if step == nan else loss
        rows.append((step, {"lr": 1e-5, "global_step": step, "reduced_train_loss": loss}))
    return nova_pipe(rows, total=500, step_seconds=2).splitlines(keepends=True)[1:]


def _append(path: Path, lines: list[str]) -> float:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return time.time()


def _start_watch(folder: Path, receiver: Receiver, state: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "forge_monitor", "watch", str(folder), "--notify",
               f"json://127.0.0.1:{receiver.port}/hook", "--state", str(state), "--interval", str(INTERVAL),
               "--dashboard-url", "http://127.0.0.1:8501/", *extra]
    return subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> int | None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            return None
    return process.returncode


def _wait_log(log: Path, text: str, timeout: float, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(encoding="utf-8", errors="replace")
        if text in content:
            return content
        assert process.poll() is None, f"watch exited early:\n{content}"
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the watch log after {timeout} s:\n{log.read_text()}")


def _fields(payload: dict) -> dict:
    """The ``Field: value`` lines of the first alert block of apprise's json:// ``message``."""
    block = payload["message"].split("\n\n")[0]
    return dict(line.split(": ", 1) for line in block.splitlines())


def test_watch_sends_each_new_alert_once_survives_a_receiver_outage_and_a_restart(tmp_path):
    runs = tmp_path / "runs"
    (runs / "job-a").mkdir(parents=True)
    log_a = runs / "job-a" / "train.log"
    log_a.write_text(nova_pipe([], total=500, step_seconds=2) + "".join(_lines(1, 40)))
    state, stderr = tmp_path / "state", tmp_path / "watch.err"
    receiver = Receiver()
    watch = _start_watch(runs, receiver, state, stderr)
    latencies = {}
    try:
        _wait_log(stderr, "following job-a/train.log", 30, watch)
        # Healthy growth over several refreshes: nothing is sent.
        for start in range(40, 80, 5):
            _append(log_a, _lines(start, start + 5))
            time.sleep(0.1)  # the writer's pace (a training step), not synchronization
        assert receiver.wait_for(1, timeout=3 * INTERVAL) == []

        written = _append(log_a, _lines(80, 81, spike=80))
        got = receiver.wait_for(1, timeout=10 * INTERVAL)
        assert len(got) == 1, stderr.read_text()
        latencies["loss_spike"] = got[0][0] - written
        payload = got[0][1]
        fields = _fields(payload)
        assert payload["type"] == "warning" and "loss_spike" in payload["title"] and "job-a/train.log" in payload["title"]
        assert fields["Run"] == "job-a/train.log" and fields["Detector"] == "loss_spike"
        assert fields["Severity"] == "warning" and fields["Steps"] == "80-80"
        assert "5.35 at step 80" in fields["Seen"] and "step 80" in fields["Remediation"]
        assert fields["Dashboard"] == "http://127.0.0.1:8501/?run=job-a%2Ftrain.log&step=80"

        _append(log_a, _lines(81, 90))
        written = _append(log_a, _lines(90, 91, nan=90))
        got = receiver.wait_for(2, timeout=10 * INTERVAL)
        assert len(got) == 2
        latencies["nonfinite"] = got[1][0] - written
        fields = _fields(got[1][1])
        assert got[1][1]["type"] == "failure"
        assert (fields["Detector"], fields["Severity"], fields["Steps"]) == ("nonfinite", "critical", "90-90")
        assert "NaN at step 90" in fields["Seen"] and fields["Remediation"]

        # The receiver goes down; a run appears later in the folder, with a NaN: detection goes on.
        receiver.down()
        (runs / "job-b").mkdir()
        log_b = runs / "job-b" / "train.log"
        log_b.write_text(nova_pipe([], total=500, step_seconds=2) + "".join(_lines(1, 30, nan=25)))
        _wait_log(stderr, "job-b/train.log: 1 new alert(s): nonfinite", 10, watch)
        _wait_log(stderr, "send failed", 10, watch)
        _append(log_a, _lines(91, 100))  # more refreshes while the target is down: no duplicate queued
        receiver.up()
        back = time.time()
        got = receiver.wait_for(3, timeout=15)
        assert len(got) == 3, stderr.read_text()
        latencies["after_outage"] = got[2][0] - back
        fields = _fields(got[2][1])
        assert (fields["Run"], fields["Detector"], fields["Steps"]) == ("job-b/train.log", "nonfinite", "25-25")

        assert _stop(watch) == 0  # SIGTERM: a clean stop with the state written
        assert "stopped: 3 sent" in stderr.read_text()
        saved = json.loads((state / "watch-state.json").read_text())
        assert set(saved["runs"]) == {str((runs / j / "train.log").resolve()) for j in ("job-a", "job-b")}
        assert saved["pending"] == {}

        # Restarted with the same state: each run goes on from its saved read position (the logs are
        # not parsed again from the start), nothing is sent again; a line written while no watcher
        # ran is read and alerted on.
        _append(log_a, _lines(100, 101, spike=100))
        again = _start_watch(runs, receiver, state, tmp_path / "again.err", "--once")
        try:
            assert again.wait(timeout=30) == 0
        finally:
            _stop(again)
        said = (tmp_path / "again.err").read_text()
        assert "job-a/train.log: resumed from the saved state (steps 1-99" in said, said
        assert "job-b/train.log: resumed from the saved state (steps 1-29" in said, said
        got = receiver.wait_for(4, timeout=5)
        assert len(got) == 4 and "job-a/train.log: 1 new alert(s): loss_spike (warning) at step 100" in said
        assert _fields(got[3][1])["Steps"] == "100-100"
    finally:
        _stop(watch)
        receiver.down()
    print(f"latency line written -> notification received: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in latencies.items()))
    # Printed, not asserted: speed belongs in measurements, not in a timed assert that a loaded CI
    # machine would fail. Each notification was awaited with a bounded wait above.


def test_dry_run_prints_the_grouped_message_and_sends_nothing(tmp_path):
    log = tmp_path / "run" / "train.log"
    log.parent.mkdir()
    log.write_text(nova_pipe([], total=500, step_seconds=2) + "".join(_lines(1, 100, spike=80, nan=90)))
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--dry-run", "--once",
                           "--state", str(tmp_path / "state"), "--notify", "critical=json://127.0.0.1:9/hook"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "would send to json://127.0.0.1:9 (min critical)" in done.stdout
    assert "Detector: nonfinite" in done.stdout and "Detector: loss_spike" not in done.stdout  # below the minimum


@pytest.mark.parametrize("args, says", [
    (["--notify", "nonsense"], "not an apprise URL"),
    ([], "needs --notify"),
    (["--dry-run", "--interval", "0"], "--interval"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, says):
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([], total=5, step_seconds=2) + "".join(_lines(1, 5)))
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--state", str(tmp_path / "s"),
                           "--once", *args], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_watch_demo_replays_a_sample_and_prints_each_alert_once():
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "demo", "--watch", "--rate", "400"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    alerts = [_fields({"message": block}) for block in done.stdout.split("\n\n") if "Detector: " in block]
    sent: dict[tuple, list] = {}
    for alert in alerts:
        sent.setdefault((alert["Detector"], alert["Steps"].split("-")[0]), []).append(alert)
    assert len(sent) == 6 and ("loss_spike", "141") in sent, sorted(sent)  # every alert of the run
    # An alert is printed again only when its severity rose, saying so ("Escalated: from warning to
    # critical"): on a busy machine the replay can outrun the checks, which then catch a spike before it
    # settles. Its first print can be such a rise too: an alert first seen as info (a grad-norm spike one
    # step before the loss spike it leads) is printed when it becomes a warning.
    rank = {level.value: level.rank for level in Severity}
    for key, prints in sent.items():
        severities = [rank[p["Severity"]] for p in prints]
        assert severities == sorted(set(severities)), (key, prints)  # never twice at one severity
        assert all("Escalated" in p for p in prints[1:]), (key, prints)
        for p in prints:
            if "Escalated" in p:
                before, after = p["Escalated"].removeprefix("from ").split(" to ")
                assert rank[before] < rank[after] == rank[p["Severity"]], (key, p)


@pytest.mark.parametrize("content", ['{"version": 1, "runs": []}', "[1, 2]", "not json"])
def test_a_malformed_state_file_is_one_line_and_exit_2(tmp_path, content):
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([], total=5, step_seconds=2) + "".join(_lines(1, 5)))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "watch-state.json").write_text(content)
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--state", str(tmp_path / "s"),
                           "--once", "--dry-run"], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a forge-monitor watch state" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_an_infinite_interval_is_a_usage_error(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([], total=5, step_seconds=2) + "".join(_lines(1, 5)))
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--interval", "inf", "--dry-run"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--interval" in done.stderr


def test_two_watched_folders_with_the_same_run_id_keep_apart(tmp_path):
    """Run ids are relative to the folder searched: a/job/train.log and b/job/train.log are two runs."""
    for side in ("a", "b"):
        log = tmp_path / side / "job" / "train.log"
        log.parent.mkdir(parents=True)
        log.write_text(nova_pipe([], total=40, step_seconds=2) + "".join(_lines(1, 40, nan=35)))
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(tmp_path / "a"), str(tmp_path / "b"),
                           "--state", str(tmp_path / "s"), "--once", "--dry-run"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("new alert") == 2  # one for each folder's run, not one for both


def test_routes_from_a_file(tmp_path):
    """`--notify-config FILE`: one route a line, the --notify form, comments and blank lines skipped."""
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([], total=500, step_seconds=2) + "".join(_lines(1, 80, spike=60, nan=70)))
    routes = tmp_path / "routes.txt"
    routes.write_text("# the team's routes\n\ncritical=json://127.0.0.1:9/pager\n  warning=json://127.0.0.1:9/chat\n")
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--once", "--dry-run",
                           "--state", str(tmp_path / "state"), "--notify-config", str(routes)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "would send to json://127.0.0.1:9 (min critical)" in done.stdout
    assert "would send to json://127.0.0.1:9 (min warning)" in done.stdout
    routes.write_text("critical=json://127.0.0.1:9/pager\nnonsense\n")
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--once", "--dry-run",
                           "--state", str(tmp_path / "state"), "--notify-config", str(routes)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"{routes}, line 2:" in done.stderr and len(done.stderr.strip().splitlines()) == 1
