"""A restarted ``watch`` goes on from the saved read positions (``ingest.snapshot``): it reads only what
was appended while it was down, keeps the history the detectors judge against, and falls back to a
full read - saying why - when the files changed or the snapshot cannot be used."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from forge_monitor.ingest import find_runs, open_run, reader
from forge_monitor.ingest.snapshot import load_snapshot, save_snapshot
from forge_monitor.notify import Outbox, Route
from forge_monitor.synth.writers import nova_pipe
from forge_monitor.watch import Watcher, WatchState


def _lines(first: int, last: int, *, spike: int | None = None) -> str:
    rows = []
    for step in range(first, last):
        loss = 2.0 * math.exp(-step / 2000) + 0.01 * math.sin(step * 1.3)
        rows.append((step, {"lr": 1e-5, "global_step": step, "reduced_train_loss": loss * 4 if step == spike else loss}))
    return "".join(nova_pipe(rows, total=5000, step_seconds=2).splitlines(keepends=True)[1:])


def _run(tmp_path, steps: int = 3000) -> Path:
    log = tmp_path / "runs" / "job" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text(nova_pipe([], total=5000, step_seconds=2) + _lines(1, steps))
    return log


def _watcher(log: Path, state: Path) -> Watcher:
    return Watcher([log.parent.parent], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True),
                   WatchState(state))


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"run_id": str, "metric": str}).sort_values(["metric", "step"]).reset_index(drop=True)


@pytest.fixture
def reads(monkeypatch):
    """Every (offset, limit) a reader asked of a file."""
    calls: list[tuple[int, int | None]] = []
    original = reader._read_from

    def spy(path, offset, limit=None):
        calls.append((offset, limit))
        return original(path, offset, limit)

    monkeypatch.setattr(reader, "_read_from", spy)
    return calls


def test_a_restarted_watch_reads_only_what_was_appended_and_still_sees_a_spike(tmp_path, capsys, reads):
    log, state = _run(tmp_path), tmp_path / "state"
    first = _watcher(log, state)
    first.refresh()
    first.checkpoint(force=True)
    size_before = log.stat().st_size
    assert capsys.readouterr().out == ""  # a healthy run: nothing sent

    with open(log, "a", encoding="utf-8") as handle:  # written while no watcher ran
        handle.write(_lines(3000, 3010, spike=3005))
    reads.clear()
    restarted = _watcher(log, state)
    restarted.refresh()
    err = capsys.readouterr()
    assert "job/train.log: resumed from the saved state (steps 1-2999" in err.err
    assert f"{size_before:,} of {log.stat().st_size:,} bytes read before" in err.err
    # Only the appended bytes were read (and the first 4 KB, to notice a file rewritten in place).
    assert reads and all(offset >= size_before or (offset == 0 and limit is not None and limit <= 4096)
                         for offset, limit in reads), reads
    # The spike is judged against the 3,000 steps before it: they came from the snapshot.
    assert "[WARNING] loss_spike in job/train.log at step 3005" in err.out
    assert _tidy(restarted.monitors[str(log)].run.frame).equals(_tidy(open_run(find_runs(log.parent.parent)[0][0]).frame))


def test_a_file_replaced_while_the_watch_was_down_is_read_again_from_the_start(tmp_path, capsys):
    log, state = _run(tmp_path), tmp_path / "state"
    first = _watcher(log, state)
    first.refresh()
    first.checkpoint(force=True)
    log.unlink()  # a new job at the same path: different content, fewer steps
    log.write_text(nova_pipe([], total=5000, step_seconds=2) + _lines(1, 500))
    restarted = _watcher(log, state)
    restarted.refresh()
    frame = restarted.monitors[str(log)].run.frame
    # Read as when a file is replaced under a live watch: the new file goes back to step 1, a restart
    # that voids every older row; what is left is exactly the new file.
    assert "resumed from the saved state" in capsys.readouterr().err
    assert _tidy(frame).equals(_tidy(open_run(find_runs(log.parent.parent)[0][0]).frame))
    assert int(frame["step"].max()) == 499


@pytest.mark.parametrize("damage, says", [
    (lambda p: p.write_bytes(b"not parquet at all"), "unreadable snapshot"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "unreadable snapshot"),
])
def test_a_damaged_snapshot_is_said_and_the_run_read_in_full(tmp_path, capsys, damage, says):
    log, state = _run(tmp_path, steps=400), tmp_path / "state"
    first = _watcher(log, state)
    first.refresh()
    first.checkpoint(force=True)
    snapshots = list((state / "runs").glob("*.parquet"))
    assert len(snapshots) == 1
    damage(snapshots[0])
    capsys.readouterr()
    restarted = _watcher(log, state)
    restarted.refresh()
    err = capsys.readouterr().err
    assert f"job/train.log: saved read position not used ({says}" in err and "reading the run in full" in err
    assert int(restarted.monitors[str(log)].run.frame["step"].max()) == 399


def test_a_snapshot_of_other_files_or_another_version_is_not_used(tmp_path, monkeypatch):
    log = _run(tmp_path, steps=200)
    spec = find_runs(log.parent.parent)[0][0]
    path = tmp_path / "snap.parquet"
    save_snapshot(open_run(spec), path)
    run, why = load_snapshot(spec, path)
    assert run is not None and why == "resumed" and run.info.format == "nova_pipe"
    other = log.parent / "other.log"
    other.write_text(log.read_text())
    moved = type(spec)(spec.run_id, [[other]], other)
    assert load_snapshot(moved, path) == (None, "the run's files changed (a file was added or removed)")
    import forge_monitor.ingest.snapshot as snapshot

    monkeypatch.setattr(snapshot, "__version__", "9.9.9")
    run, why = load_snapshot(spec, path)
    assert run is None and why.startswith("written by forge-monitor ")


def test_checkpoints_are_written_only_for_runs_that_gained_data(tmp_path):
    log, state = _run(tmp_path, steps=200), tmp_path / "state"
    watcher = _watcher(log, state)
    watcher.checkpoint_every = 0.0
    watcher.refresh()
    snapshot = next((state / "runs").glob("*.parquet"))
    written = snapshot.stat().st_mtime_ns
    watcher.refresh()  # nothing appended: not written again
    assert snapshot.stat().st_mtime_ns == written
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(_lines(200, 210))
    watcher.refresh()
    assert snapshot.stat().st_mtime_ns != written


def test_a_watch_of_a_relative_folder_resumes_too(tmp_path, monkeypatch, capsys):
    """``forge-monitor watch runs/`` from the runs' parent: the snapshot is found again (it is keyed by
    the resolved path, whatever form the folder was named in)."""
    log = _run(tmp_path, steps=300)
    monkeypatch.chdir(tmp_path)
    first = Watcher(["runs"], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True), WatchState(Path("state")))
    first.refresh()
    first.checkpoint(force=True)
    capsys.readouterr()
    again = Watcher(["runs"], Outbox([Route("json://127.0.0.1:9/h", "warning")], dry_run=True), WatchState(Path("state")))
    again.refresh()
    assert "job/train.log: resumed from the saved state (steps 1-299" in capsys.readouterr().err
    assert log.exists()
