"""Live monitoring: a run replayed line by line into a file; alerts appear near their onset and are
never silently withdrawn."""

from __future__ import annotations

from conftest import SAMPLE_LOGS
from forge_monitor.alerts import Alert, CheckResult, Report, Status
from forge_monitor.ingest import load_paths
from forge_monitor.live import AlertLedger, LiveMonitor


def _replay(tmp_path, sample: str, chunk: int):
    source = next((SAMPLE_LOGS / sample).glob("*.log"))
    lines = source.read_text().splitlines(keepends=True)
    target = tmp_path / sample / source.name
    target.parent.mkdir()
    for recipe in (SAMPLE_LOGS / sample).glob("*.yaml"):
        (target.parent / recipe.name).write_text(recipe.read_text())
    target.write_text("".join(lines[:chunk]))
    monitor = LiveMonitor(load_paths([str(target.parent)]).runs[0])
    return monitor, target, lines


def test_kl_spike_appears_at_its_step_while_the_run_is_replayed(tmp_path):
    monitor, target, lines = _replay(tmp_path, "nova-rft-hyperpod-kl-spike", 20)
    seen_at = None
    for start in range(20, len(lines), 10):
        with open(target, "a") as handle:
            handle.write("".join(lines[start:start + 10]))
        _, fresh = monitor.update()
        for entry in fresh:
            if entry.alert.detector == "kl_spike" and seen_at is None:
                seen_at = entry.first_raised_at
                assert entry.alert.step == 182
    assert seen_at is not None and seen_at - 182 < 10  # within one refresh of the spike
    spike = [e for e in monitor.ledger.entries if e.alert.detector == "kl_spike"]
    assert len(spike) == 1 and spike[0].active


def test_overfitting_within_two_eval_points_live(tmp_path):
    monitor, target, lines = _replay(tmp_path, "nova-sft-2epoch-overfit", 50)
    for start in range(50, len(lines), 13):
        with open(target, "a") as handle:
            handle.write("".join(lines[start:start + 13]))
        monitor.update()
    entry = next(e for e in monitor.ledger.entries if e.alert.detector == "overfitting")
    assert entry.alert.evidence["best_step"] == 312
    assert entry.first_raised_at - 312 <= 2 * 52 + 13  # two eval points (every 52 steps) plus one refresh


def _alert(step, end=None):
    return Alert("r", "reward_plateau", "warning", "reward", step, end or step + 10, "m", "r", {})


def test_ledger_keeps_an_alert_that_stopped_holding_as_resolved():
    ledger = AlertLedger()

    def report(*alerts):
        return Report("r", (CheckResult("reward_plateau", Status.ALERT if alerts else Status.OK, tuple(alerts)),))

    fresh = ledger.merge(report(_alert(1, 40)), 40)
    assert len(fresh) == 1
    assert ledger.merge(report(_alert(1, 60)), 60) == []  # the same alert, grown: not new
    ledger.merge(report(), 90)  # the reward started to rise: the plateau no longer holds
    assert ledger.active == [] and ledger.entries[0].resolved_at == 90 and ledger.entries[0].alert.step_end == 60


def test_live_demo_replay_raises_alerts_as_they_happen(tmp_path):
    import hashlib
    import threading

    from forge_monitor.demo import prepare_replay, replay

    sample = SAMPLE_LOGS / "nova-sft-datamix-high-lr" / "train.log"
    before = hashlib.sha256(sample.read_bytes()).hexdigest()
    path, lines = prepare_replay("nova-sft-datamix-high-lr", tmp_path)
    path.write_text("".join(lines[:5]))
    monitor = LiveMonitor(load_paths([str(path.parent)]).runs[0])
    writer = threading.Thread(target=replay, args=(path, lines[5:], 2000.0))
    writer.start()
    raised = []
    while writer.is_alive() or not raised:
        _, fresh = monitor.update()
        raised += [e.alert.detector for e in fresh]
        if not writer.is_alive():
            monitor.update()
            break
    writer.join(timeout=30)
    _, fresh = monitor.update()
    raised += [e.alert.detector for e in fresh]
    assert "loss_spike" in raised and monitor.run.info.recipe_path  # the recipe came along: LR advice works
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == before  # the bundled sample is untouched


def test_stalled_uses_when_data_last_arrived_not_old_log_timestamps(tmp_path):
    monitor, target, lines = _replay(tmp_path, "nova-cpt-healthy", 100)  # lines stamped 2026-03: months old
    assert not [a for a in monitor.report.alerts if a.detector == "stalled"]
    monitor.run.live.last_new_data -= 3 * 3600  # as if nothing had arrived for three hours
    monitor.update()
    stalled = [a for a in monitor.report.alerts if a.detector == "stalled"]
    assert stalled and stalled[0].severity.value == "critical" and "no new data for 180 min" in stalled[0].message
