"""``watch`` notices beyond the first message: "resolved" notices, the per-route rate limit and
``--repeat``. A Nova log whose loss is flat (``loss_plateau`` opens) and then starts to fall (the
plateau no longer holds: the ledger marks it resolved) drives the Watcher in-process with dry-run
routes, whose printed messages are what a target would get; clocks are injected, nothing sleeps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from forge_monitor.notify import Outbox, Route, parse_route
from forge_monitor.synth.writers import nova_pipe
from forge_monitor.watch import Watcher, WatchState

PROJECT = Path(__file__).resolve().parents[1]


def _loss(step: int) -> float:
    """Flat (about 2.0) up to step 69, then falling: loss_plateau holds, then stops holding."""
    base = 2.0 if step < 70 else 2.0 * math.exp(-(step - 70) / 60)
    return base + 0.005 * math.sin(step * 1.3)


def _lines(first: int, last: int, *, flat: bool = False) -> str:
    rows = [(s, {"lr": 1e-5, "global_step": s, "reduced_train_loss": 2.0 + 0.005 * math.sin(s * 1.3) if flat else _loss(s)})
            for s in range(first, last)]
    return "".join(nova_pipe(rows, total=500, step_seconds=2).splitlines(keepends=True)[1:])


def _run(tmp_path) -> Path:
    log = tmp_path / "runs" / "job" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text(nova_pipe([], total=500, step_seconds=2) + _lines(1, 70))
    return log


def _append(log: Path, text: str) -> None:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(text)


def _routes():
    return [Route("json://127.0.0.1:9/with", "warning", resolved=True), Route("json://127.0.0.1:10/without", "warning")]


def _watcher(log, state_dir, **kwargs) -> Watcher:
    return Watcher([log.parent.parent], Outbox(_routes(), dry_run=True), WatchState(state_dir), **kwargs)


def _sent(capsys) -> list[tuple[str, str]]:
    """(route label, title) of each message printed by the dry-run routes since the last call."""
    out = capsys.readouterr().out
    blocks = out.split("--- would send to ")[1:]
    return [(b.split(" (min")[0], b.split("---\n", 1)[1].splitlines()[0]) for b in blocks]


def test_a_resolved_notice_goes_once_to_the_routes_that_asked_and_survives_a_restart(tmp_path, capsys):
    log, state = _run(tmp_path), tmp_path / "state"
    watcher = _watcher(log, state)
    watcher.refresh()
    assert [t for _, t in _sent(capsys)] == ["[WARNING] loss_plateau in job/train.log at steps 2-69"] * 2

    _append(log, _lines(70, 80))  # the loss starts to fall: the plateau no longer holds
    watcher.refresh()
    sent = _sent(capsys)
    assert sent == [("json://127.0.0.1:9", "[RESOLVED] loss_plateau in job/train.log (open since step 2)")]
    _append(log, _lines(80, 90))
    watcher.refresh()
    assert _sent(capsys) == []  # once
    stored = WatchState(state).runs[str(log.resolve())]
    assert stored[0]["resolved_at"] == 79 and stored[0]["resolved_notified"] is True

    restarted = _watcher(log, state)  # reads the log again from the start
    restarted.refresh()
    restarted.refresh()
    assert _sent(capsys) == []


def test_an_alert_that_resolved_while_nobody_watched_is_announced_after_the_restart(tmp_path, capsys):
    log, state = _run(tmp_path), tmp_path / "state"
    _watcher(log, state).refresh()
    assert len(_sent(capsys)) == 2
    _append(log, _lines(70, 100))  # the watcher is down while the plateau ends
    restarted = _watcher(log, state)
    restarted.refresh()
    out = [t for _, t in _sent(capsys)]
    assert out == ["[RESOLVED] loss_plateau in job/train.log (open since step 2)"]
    restarted.refresh()
    assert _sent(capsys) == []


def test_a_state_from_before_resolved_notices_sends_no_backlog(tmp_path, capsys):
    log, state = _run(tmp_path), tmp_path / "state"
    _append(log, _lines(70, 100))
    state.mkdir()
    old = {"detector": "loss_plateau", "metric": "train_loss", "step": 2, "step_end": 69, "severity": "warning",
           "resolved_at": 79}  # written by an earlier version: resolved, no resolved_notified
    (state / "watch-state.json").write_text(json.dumps({"version": 1, "runs": {str(log.resolve()): [old]},
                                                        "pending": {}}))
    _watcher(log, state).refresh()
    assert _sent(capsys) == []


def test_resolved_notices_from_the_command_line_across_two_runs(tmp_path):
    log = _run(tmp_path)

    def once(*extra):
        done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log), "--dry-run", "--once",
                               "--state", str(tmp_path / "s"), *extra], cwd=PROJECT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    first = once("--notify", "warning+resolved=json://127.0.0.1:9/hook")
    assert "[WARNING] loss_plateau" in first.stdout and "resolved notices" in first.stderr
    _append(log, _lines(70, 100))
    second = once("--notify", "warning+resolved=json://127.0.0.1:9/hook")
    assert "[RESOLVED] loss_plateau" in second.stdout and "Resolved at: step 99" in second.stdout
    assert "Open since: step 2" in second.stdout
    assert once("--notify-resolved").stdout == ""  # already announced, kept in the state


@pytest.mark.parametrize("text, minimum, resolved", [
    ("json://127.0.0.1:9/h", "info", False),
    ("json://127.0.0.1:9/h?a=resolved", "info", False),
    ("critical=json://127.0.0.1:9/h", "critical", False),
    ("warning+resolved=json://127.0.0.1:9/h", "warning", True),
    ("resolved+critical=json://127.0.0.1:9/h", "critical", True),
    ("resolved=json://127.0.0.1:9/h", "info", True),
])
def test_route_prefix_sets_minimum_and_resolved(text, minimum, resolved):
    route = parse_route(text, default_min="info")
    assert (route.url.split("?")[0], route.min_severity, route.resolved) == ("json://127.0.0.1:9/h", minimum, resolved)


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _alert(step: int) -> dict:
    return {"detector": "loss_spike", "severity": "warning", "metric": "train_loss", "step": step, "step_end": step,
            "message": f"spike at step {step}", "remediation": "look"}


def test_a_route_over_its_rate_holds_messages_and_sends_them_as_one_summary(capsys):
    clock = Clock()
    outbox = Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True, rate=2, window=3600, clock=clock)
    for step in range(1, 6):
        outbox.submit("run", [_alert(step)])
    outbox.flush()
    captured = capsys.readouterr()
    assert captured.out.count("--- would send to") == 2
    assert captured.err.count("rate limit reached (2 per 1 h); holding 3 message(s)") == 1
    clock.now += 1800
    outbox.flush()
    assert capsys.readouterr().out == "" and len(outbox.pending()[outbox.routes[0].key]) == 3  # held, not dropped
    clock.now += 1801  # the first two sends left the window
    outbox.flush()
    captured = capsys.readouterr()
    assert captured.out.count("--- would send to") == 1
    assert "[WARNING] 3 more alerts (held by the limit of 2 per 1 h)" in captured.out
    assert all(f"spike at step {s}" in captured.out for s in (3, 4, 5))
    assert outbox.routes[0].sent == 3 and outbox.pending() == {}
    outbox.submit("run", [_alert(9)])
    outbox.flush()  # one slot left in the window: a lone message goes out as itself
    assert "[WARNING] loss_spike in run at step 9" in capsys.readouterr().out


def test_repeat_sends_a_still_open_alert_again_after_the_interval_and_not_once_resolved(tmp_path, capsys):
    log, clock = _run(tmp_path), Clock()
    watcher = Watcher([log.parent.parent], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True),
                      WatchState(tmp_path / "state"), repeat=3600, clock=clock)
    watcher.refresh()
    assert len(_sent(capsys)) == 1
    _append(log, _lines(70, 75, flat=True))
    clock.now += 1800
    watcher.refresh()
    assert _sent(capsys) == []
    clock.now += 1800
    watcher.refresh()
    assert [t for _, t in _sent(capsys)] == ["[WARNING] loss_plateau in job/train.log at steps 2-74 "
                                             "(still open, sent again every 1 h)"]
    watcher.refresh()
    assert _sent(capsys) == []  # the next repeat is an hour from now
    _append(log, "".join(_lines(75, 76, flat=True)) + _lines(76, 120))
    clock.now += 7200
    watcher.refresh()
    assert _sent(capsys) == []  # resolved (no resolved notice on this route): never repeated


@pytest.mark.parametrize("args, says", [(["--repeat", "0"], "--repeat"), (["--repeat", "nan"], "--repeat"),
                                        (["--notify-rate", "-1"], "--notify-rate")])
def test_bad_repeat_or_rate_is_a_usage_error(tmp_path, args, says):
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(_run(tmp_path)), "--dry-run", "--once",
                           "--state", str(tmp_path / "s"), *args], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_alerts_of_one_run_found_within_the_group_window_go_out_as_one_message(capsys):
    clock = Clock()
    outbox = Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True, group_wait=10, clock=clock)
    outbox.submit("run-a", [_alert(5)])
    outbox.submit("run-b", [_alert(7)])
    assert outbox.next_due() == clock.now + 10
    outbox.flush()
    assert capsys.readouterr().out == ""  # held for the window
    pending = outbox.pending()[outbox.routes[0].key]  # a watch that dies now sends them at its restart
    assert sorted(m["run_id"] for m in pending) == ["run-a", "run-b"]
    clock.now += 6
    outbox.submit("run-a", [_alert(9)])  # one refresh later, the same run: joins the group
    outbox.flush()
    assert capsys.readouterr().out == ""
    clock.now += 4
    outbox.flush()
    out = capsys.readouterr().out
    assert out.count("--- would send to") == 2  # one message per run, not per alert
    assert "[WARNING] 2 alerts in run-a: loss_spike" in out and "spike at step 5" in out and "spike at step 9" in out
    assert "[WARNING] loss_spike in run-b at step 7" in out
    assert outbox.pending() == {} and outbox.next_due() is None


def test_repeats_are_not_held_and_release_sends_every_group_at_once(capsys):
    clock = Clock()
    outbox = Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True, group_wait=30, clock=clock)
    outbox.submit("run", [_alert(3)], still_open="sent again every 1 h")
    outbox.submit("run", [_alert(4)])
    outbox.flush()
    out = capsys.readouterr().out
    assert out.count("--- would send to") == 1 and "(still open, sent again every 1 h)" in out
    outbox.release()  # the watch ends: what it gathered goes out now
    outbox.flush()
    assert "[WARNING] loss_spike in run at step 4" in capsys.readouterr().out


def test_the_watch_sends_a_group_when_its_window_ends_between_refreshes(tmp_path, capsys):
    """Run in real time: the group window (0.3 s) ends long before the next refresh (60 s away); the
    watcher wakes for it rather than waiting for the refresh. (Bounded waits only: a busy machine may
    take seconds over the first refresh, never a minute.)"""
    import threading
    import time

    log = _run(tmp_path)
    watcher = Watcher([log.parent.parent], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True,
                                                  group_wait=0.3), WatchState(tmp_path / "state"))
    thread = threading.Thread(target=watcher.run, args=(60.0,))
    started = time.monotonic()
    thread.start()
    try:
        deadline = started + 30
        while watcher.outbox.routes[0].sent == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        sent_after = time.monotonic() - started
    finally:
        watcher.stop()
        thread.join(10)
    assert watcher.outbox.routes[0].sent == 1 and sent_after < 30, sent_after  # before the refresh at 60 s
    assert "[WARNING] loss_plateau in job/train.log" in capsys.readouterr().out


def test_the_rate_count_survives_a_restart(tmp_path, capsys):
    """Two messages sent under a limit of 2 per hour, then a restart: the third waits for the window,
    as it would have without the restart."""
    clock = Clock()
    state = WatchState(tmp_path / "state")
    outbox = Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True, rate=2, clock=clock)
    for step in (1, 2):
        outbox.submit("run", [_alert(step)])
    outbox.flush()
    state.save(outbox.pending(), outbox.sends())
    assert capsys.readouterr().out.count("--- would send to") == 2

    clock.now += 600
    restarted_state = WatchState(tmp_path / "state")
    restarted = Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True, rate=2, clock=clock)
    restarted.restore(restarted_state.pending, restarted_state.sends)
    restarted.submit("run", [_alert(3)])
    restarted.flush()
    captured = capsys.readouterr()
    assert captured.out == "" and "rate limit reached (2 per 1 h)" in captured.err
    clock.now += 3001  # an hour after the first two sends
    restarted.flush()
    assert "[WARNING] loss_spike in run at step 3" in capsys.readouterr().out
    assert restarted.sends() == {restarted.routes[0].key: [clock.now]}


def test_an_alert_whose_severity_rises_reaches_the_routes_that_skipped_it(tmp_path, capsys):
    """The high-LR sample read up to step 229: its grad-norm spike at step 229 is ``info`` (not sent on
    a warning route); the rest of the log makes it a ``warning``: it is sent then, once, saying so."""
    import re

    lines = (PROJECT / "sample_logs" / "nova-sft-datamix-high-lr" / "train.log").read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if re.search(r"global_step: 230\b", line))
    log = tmp_path / "runs" / "job" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(lines[:cut]))
    watcher = Watcher([log.parent.parent], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True),
                      WatchState(tmp_path / "state"))
    watcher.refresh()
    out = capsys.readouterr().out
    assert "Steps: 229-" not in out  # info: below this route's minimum
    _append(log, "".join(lines[cut:]))
    watcher.refresh()
    out = capsys.readouterr().out
    block = next(b for b in out.split("\n\n") if "Steps: 229-" in b)
    assert "Detector: grad_norm_spike" in block and "Severity: warning" in block
    assert "Escalated: from info to warning" in block
    watcher.refresh()
    assert "229" not in capsys.readouterr().out  # once
