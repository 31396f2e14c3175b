"""Incremental reading: only what was appended, truncation and replacement noticed, a file growing
while it is read."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from forge_monitor.ingest import LiveRun, read_increment
from forge_monitor.schema import RunInfo, validate_frame
from forge_monitor.synth import writers


def _pipe(step: int, loss: float) -> str:
    return f"Training epoch 0, iteration {step}/100 | lr: 1e-05 | global_step: {step} | reduced_train_loss: {loss}\n"


def _live(path) -> LiveRun:
    return LiveRun(RunInfo(run_id="r", source=str(path), format=""), [[path]])


def _loss(live: LiveRun) -> dict[int, float]:
    frame = validate_frame(live.frame)
    return frame[frame.metric == "train_loss"].set_index("step").value.to_dict()


def _grow_in_background(path, line_for_step, *, last_step: int, flush_every: int = 50):
    """Append lines for steps 2..last_step from a thread, flushing now and then (a trainer's writes)."""
    done = threading.Event()

    def writer():
        with open(path, "a") as handle:
            for step in range(2, last_step + 1):
                handle.write(line_for_step(step))
                if step % flush_every == 0:
                    handle.flush()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    return thread, done


def test_second_read_returns_only_the_appended_lines(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 1.0 / s) for s in range(1, 51)))
    info = RunInfo(run_id="r", source="", format="")
    first = read_increment(path, None, info)
    assert first.records["step"].n_unique() == 50 and first.cursor.line == 51
    with open(path, "a") as handle:
        handle.write(_pipe(51, 0.01) + _pipe(52, 0.009))
    second = read_increment(path, first.cursor, info)
    assert sorted(second.records["step"].unique().to_list()) == [51, 52]
    assert second.cursor.offset == path.stat().st_size and not second.reset
    assert set(second.records["line"].to_list()) == {51, 52}  # line numbers continue
    third = read_increment(path, second.cursor, info)
    assert third.records.height == 0  # nothing new, nothing re-read


def test_incomplete_last_line_is_read_whole_on_the_next_refresh(tmp_path):
    path = tmp_path / "train.log"
    line = _pipe(2, 0.5)
    path.write_text(_pipe(1, 1.0) + line[:25])
    live = _live(path)
    live.refresh()
    assert _loss(live) == {1: 1.0}
    with open(path, "a") as handle:
        handle.write(line[25:])
    live.refresh()
    assert _loss(live) == {1: 1.0, 2: 0.5}


def test_truncation_is_noticed_and_the_file_read_again(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 5.0) for s in range(1, 21)))
    live = _live(path)
    live.refresh()
    path.write_text(_pipe(1, 0.7))  # truncated and rewritten by a new run
    messages = live.refresh()
    assert any("truncated" in m for m in messages)
    assert _loss(live) == {1: 0.7}


def test_replacement_is_noticed(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 5.0) for s in range(1, 5)))
    live = _live(path)
    live.refresh()
    fresh = tmp_path / "new.log"
    fresh.write_text("".join(_pipe(s, 1.0) for s in range(1, 8)))  # longer than the old file
    os.replace(fresh, path)
    messages = live.refresh()
    assert any("replaced" in m for m in messages)
    assert _loss(live) == {s: 1.0 for s in range(1, 8)}


def test_rewrite_in_place_with_a_longer_file_is_noticed(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 5.0}) + "\n" for s in range(1, 4)))
    live = _live(path)
    live.refresh()
    with open(path, "r+") as handle:  # same inode, new content, bigger
        handle.write("".join(json.dumps({"step": s, "loss": 0.5}) + "\n" for s in range(1, 10)))
    messages = live.refresh()
    assert any("rewritten" in m for m in messages)
    assert _loss(live) == {s: 0.5 for s in range(1, 10)}


def test_restart_across_two_reads_drops_the_stale_steps(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 3.0) for s in range(1, 11)))
    live = _live(path)
    live.refresh()
    with open(path, "a") as handle:
        handle.write("".join(_pipe(s, 1.0) for s in range(6, 9)))  # resumed from step 5
    live.refresh()
    assert _loss(live) == {1: 3.0, 2: 3.0, 3: 3.0, 4: 3.0, 5: 3.0, 6: 1.0, 7: 1.0, 8: 1.0}
    assert [(r.from_step, r.to_step) for r in live.info.restarts] == [(10, 6)]


def _jsonl(rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _series(live, metric):
    frame = live.frame
    return dict(zip(frame.loc[frame["metric"] == metric, "step"], frame.loc[frame["metric"] == metric, "value"]))


def test_a_table_restarting_after_a_sparse_column_is_seen_across_reads(tmp_path):
    """A wide table's records are grouped by metric, not in line order: the last step read is the
    last line's, not the last row's (here a validation column logged only at step 0)."""
    path = tmp_path / "metrics.jsonl"
    path.write_text(_jsonl([{"step": 0, "loss": 2.0, "val_loss": 3.0, "lr": 0.1}]
                           + [{"step": s, "loss": 1.0 / s, "lr": 0.1} for s in range(1, 11)]))
    live = _live(path)
    live.refresh()
    assert live.cursors[path].last_step == 10
    with open(path, "a") as handle:
        handle.write(_jsonl([{"step": 3, "loss": 9.0}, {"step": 4, "loss": 9.0}]))  # resumed from step 2, no lr
    live.refresh()
    assert [(r.from_step, r.to_step) for r in live.info.restarts] == [(10, 3)]
    assert sorted(_series(live, "learning_rate")) == [0, 1, 2]
    assert _series(live, "train_loss") == {0: 2.0, 1: 1.0, 2: 0.5, 3: 9.0, 4: 9.0}


def test_a_replacing_table_that_starts_earlier_is_a_restart_from_its_first_line(tmp_path):
    """The first step of a replacing file is its first line's, not its first row's (an eval column
    sorts first and was logged later)."""
    path = tmp_path / "log.jsonl"
    path.write_text(_jsonl([{"step": s, "loss": 1.0, **({"eval_accuracy": 0.5} if s in (4, 8) else {})} for s in range(1, 11)]))
    live = _live(path)
    live.refresh()
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(_jsonl([{"step": s, "loss": 2.0, **({"eval_accuracy": 0.9} if s == 12 else {})} for s in range(6, 13)]))
    os.replace(replacement, path)
    live.refresh()
    assert [(r.from_step, r.to_step) for r in live.info.restarts] == [(10, 6)]
    assert _series(live, "eval:accuracy") == {4: 0.5, 12: 0.9}


def test_repeated_step_across_reads_keeps_the_last_value_per_metric(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 2.0) + "Training epoch 0, iteration 2/9 | global_step: 2 | reduced_train_loss: 1.5 | grad_norm: 3.0\n")
    live = _live(path)
    live.refresh()
    with open(path, "a") as handle:  # the progress bar refreshes step 2 with a new loss, no grad_norm
        handle.write("Training epoch 0, iteration 2/9 | global_step: 2 | reduced_train_loss: 1.4\n")
    live.refresh()
    frame = live.frame
    assert _loss(live) == {1: 2.0, 2: 1.4}
    assert frame[(frame.metric == "grad_norm")].value.tolist() == [3.0]


def test_console_dict_ordinal_continues_across_reads(tmp_path):
    path = tmp_path / "stdout.log"
    rows = [(s, {"loss": 1.0 / s, "epoch": s / 100}) for s in range(1, 7)]
    text = writers.trl_console(rows, total=6)
    cut = text.index("{'loss': '0.25'")  # after three dicts
    path.write_text(text[:cut])
    live = _live(path)
    live.refresh()
    assert sorted(_loss(live)) == [1, 2, 3]
    with open(path, "a") as handle:
        handle.write(text[cut:])
    live.refresh()
    assert sorted(_loss(live)) == [1, 2, 3, 4, 5, 6]


def test_csv_header_is_remembered_for_appended_rows(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("step,loss\n1,2.0\n")
    live = _live(path)
    live.refresh()
    with open(path, "a") as handle:
        handle.write("2,1.5\n3,1.2\n")
    live.refresh()
    assert _loss(live) == {1: 2.0, 2: 1.5, 3: 1.2}


def test_trainer_state_rewrite_is_read_whole(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text(writers.trainer_state([(1, {"loss": 2.0})], header={}))
    live = _live(path)
    live.refresh()
    path.write_text(writers.trainer_state([(1, {"loss": 2.0}), (2, {"loss": 1.0})], header={}))
    messages = live.refresh()
    assert _loss(live) == {1: 2.0, 2: 1.0}
    assert not messages  # rewriting trainer_state.json is how HF saves it: nothing to warn about


def test_file_growing_while_it_is_read(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 1.0))
    live = _live(path)
    thread, done = _grow_in_background(path, lambda step: _pipe(step, 1.0 / step), last_step=3000)
    refreshes = 0
    while not done.is_set() or refreshes == 0:
        live.refresh()  # reads whatever complete lines exist at this instant
        refreshes += 1
        frame = validate_frame(live.frame)
        steps = sorted(frame[frame.metric == "train_loss"].step)
        assert steps == list(range(1, len(steps) + 1))  # never a gap, never a torn line
    thread.join(timeout=30)
    live.refresh()
    assert len(_loss(live)) == 3000


@pytest.mark.parametrize("chunks", [2, 7])
def test_incremental_equals_full_read(tmp_path, chunks):
    text = "".join(_pipe(s, round(1.0 / s, 6)) for s in range(1, 301))
    full = tmp_path / "full.log"
    full.write_text(text)
    whole = _live(full)
    whole.refresh()
    growing = tmp_path / "growing.log"
    growing.write_text("")
    live = _live(growing)
    size = len(text) // chunks + 1
    for start in range(0, len(text), size):
        with open(growing, "a") as handle:
            handle.write(text[start:start + size])
        live.refresh()
    left = live.frame.sort_values(["metric", "step"]).reset_index(drop=True).drop(columns="run_id")
    right = whole.frame.sort_values(["metric", "step"]).reset_index(drop=True).drop(columns="run_id")
    assert left.equals(right)


_JSONL_SHAPES = {
    "clean": "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 301)),
    "blank lines": '{"step": 1, "loss": 1.0}\n\n{"step": 2, "loss": 0.9}\n  \n{"step": 3, "loss": 0.8}\n',
    "late key": "".join(json.dumps({"step": s, "loss": 1.0} | ({"eval_loss": 2.0} if s == 250 else {})) + "\n"
                        for s in range(1, 301)),
    "bad line": '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": NaN}\n{"step": 3, "loss": oops}\n{"step": 4, "loss": 0.5}\n',
    "incomplete last line": '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n{"step": 3, "lo',
    "no step key": '{"loss": 1.0}\n{"loss": 0.9}\n',
    "null step": '{"step": 1, "loss": 1.0}\n{"step": null, "loss": 0.9}\n{"step": 3, "loss": 0.8}\n',
    "long form": '{"step": 1, "metric": "loss", "value": 1.0}\n{"step": 1, "metric": "grad_norm", "value": 2.0}\n',
    "restart": "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in [*range(1, 11), *range(5, 8)]),
    "string values": '{"step": 1, "loss": "1.5"}\n{"step": 2, "loss": "0.9"}\n',
}


@pytest.mark.parametrize("shape", list(_JSONL_SHAPES))
def test_jsonl_read_in_place_equals_the_byte_path(tmp_path, monkeypatch, shape):
    """Large first reads of JSONL are parsed in place (polars reads the file); every JSONL shape
    must come out exactly as the byte path reads it: records, cursor, skips, lines counted."""
    from forge_monitor.ingest import reader, tabular

    path = tmp_path / "metrics.jsonl"
    path.write_text(_JSONL_SHAPES[shape])
    taken = []
    parse_in_place = tabular.parse_jsonl_file
    monkeypatch.setattr(tabular, "parse_jsonl_file", lambda *a, **k: taken.append(parse_in_place(*a, **k)) or taken[-1])
    results = []
    for threshold in (1 << 62, 0):  # never in place, always in place
        monkeypatch.setattr(reader, "MAP_JSONL_BYTES", threshold)
        info = RunInfo(run_id="r", source="", format="")
        increment = read_increment(path, None, info)
        results.append((increment.records.write_csv(), increment.cursor, increment.restart_from,
                        [(s.line, s.reason) for s in info.skipped], info.lines_read, info.warnings,
                        [(r.from_step, r.to_step) for r in info.restarts]))
    assert results[0] == results[1]
    assert results[0][0].count("\n") > 1  # a header and at least one record: something was read
    # The in-place path ran, and gave up (None) exactly where only the per-line path is right.
    gives_up = shape == "incomplete last line"
    assert len(taken) == 1 and (taken[0] is None) == gives_up


def test_jsonl_growing_while_read_in_place_never_tears(tmp_path, monkeypatch):
    from forge_monitor.ingest import reader

    monkeypatch.setattr(reader, "MAP_JSONL_BYTES", 0)
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    thread, done = _grow_in_background(path, lambda step: json.dumps({"step": step, "loss": 1.0 / step}) + "\n",
                                       last_step=3000)
    reads = 0
    while not done.is_set() or reads == 0:
        reads += 1
        info = RunInfo(run_id="r", source="", format="")
        # A first read each time: the in-place path (the torn last line of a growing file is left out).
        increment = read_increment(path, None, info, tail_idle=None)
        steps = sorted(increment.records.filter(increment.records["metric"] == "train_loss")["step"].to_list())
        assert steps == list(range(1, len(steps) + 1))  # never a gap, never a torn line
        assert increment.cursor.line == len(steps) + 1 and info.lines_read == len(steps)
    thread.join(timeout=30)


# --- the last line without a newline (audit H3) and log rotation while followed (audit M4) ---------

_NO_NEWLINE = {
    "nova_pipe": _pipe(1, 0.9) + _pipe(2, float("nan")).rstrip("\n"),
    "jsonl": '{"step": 1, "loss": 0.9}\n{"step": 2, "loss": NaN}',
    "csv": "step,loss\n1,0.9\n2,nan",
}


@pytest.mark.parametrize("fmt", list(_NO_NEWLINE))
def test_scan_reads_a_last_line_without_newline_and_flags_its_nan(tmp_path, fmt):
    import subprocess
    import sys

    path = tmp_path / ("train.log" if fmt == "nova_pipe" else f"metrics.{fmt}")
    path.write_text(_NO_NEWLINE[fmt])
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "scan", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    out = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr
    (run,) = out["runs"]
    assert run["steps"] == {"first": 1, "last": 2, "count": 2} and run["lines_read"] == _NO_NEWLINE[fmt].count("\n") + 1
    assert [(a["detector"], a["step"]) for a in out["alerts"] if a["severity"] == "critical"] == [("nonfinite", 2)]
    assert path.read_bytes() == before


def test_followed_live_an_unterminated_line_waits_for_quiet_then_is_shown_not_kept(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 1.0) + "Training epoch 0, iteration 2/100 | global_step: 2 | reduced_train_loss: 0.4")
    busy = path.stat().st_mtime + 3600  # "written a moment ago", however slow this machine is right now
    os.utime(path, (busy, busy))
    live = _live(path)
    live.info.live = True
    live.refresh()
    assert _loss(live) == {1: 1.0}  # just written: a writer may be mid-flush
    quiet = time.time() - 10
    os.utime(path, (quiet, quiet))
    live.refresh()
    assert _loss(live) == {1: 1.0, 2: 0.4}  # quiet for a while: shown as it stands
    assert live.info.lines_read == 1  # ... but not consumed
    with open(path, "a") as handle:
        handle.write("5\n" + _pipe(3, 0.3))  # the writer finishes the line: 0.45, not 0.4
    live.refresh()
    assert _loss(live) == {1: 1.0, 2: 0.45, 3: 0.3}
    assert live.info.lines_read == 3 and live.info.lines_skipped == 0 and not live.info.restarts


def test_log_rotation_while_followed_keeps_the_history(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 1.0) for s in range(1, 101)))
    live = _live(path)
    live.refresh()
    live.info.live = True
    path.rename(tmp_path / "train.log.1")  # logrotate: the file is moved away ...
    messages = live.refresh()  # ... no traceback, a note, and the steps stay
    assert any("train.log" in m and "retrying" in m for m in messages)
    assert len(_loss(live)) == 100
    assert live.refresh() == []  # said once
    path.write_text("".join(_pipe(s, 0.5) for s in range(101, 111)))  # ... and a new file continues it
    live.refresh()
    loss = _loss(live)
    assert sorted(loss) == list(range(1, 111)) and loss[100] == 1.0 and loss[110] == 0.5
    assert not live.info.restarts


def test_a_replacing_file_that_starts_over_is_a_restart(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(_pipe(s, 1.0) for s in range(1, 101)))
    live = _live(path)
    live.refresh()
    live.info.live = True
    path.rename(tmp_path / "old.log")
    path.write_text("".join(_pipe(s, 0.5) for s in range(1, 11)))
    live.refresh()
    assert _loss(live) == {s: 0.5 for s in range(1, 11)}  # the newest segment wins, as for any restart
    assert [(r.from_step, r.to_step) for r in live.info.restarts] == [(100, 1)]


def test_a_missing_file_on_a_one_shot_read_is_still_an_error(tmp_path):
    from forge_monitor.ingest import FormatError

    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 1.0))
    live = _live(path)
    live.refresh()
    path.unlink()
    with pytest.raises(FormatError):
        live.refresh()


def test_an_unchanged_unterminated_line_is_not_new_data(tmp_path):
    """A run that died mid-line must still look stalled: the same tail, read again, adds nothing."""
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 1.0) + "Training epoch 0, iteration 2/100 | global_step: 2 | reduced_train_loss: 0.4")
    quiet = path.stat().st_mtime - 10
    os.utime(path, (quiet, quiet))
    live = _live(path)
    live.info.live = True
    live.refresh()
    assert _loss(live) == {1: 1.0, 2: 0.4}
    seen, frame = live.last_new_data, live.frame
    live.refresh()
    assert live.last_new_data == seen and live.frame is frame  # nothing new, nothing rebuilt
