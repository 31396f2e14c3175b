"""Bad input gets a clear message and loses nothing else; the user's files are never modified."""

from __future__ import annotations

import hashlib
import json
import math
import os

import pytest

from forge_monitor.ingest import load_paths
from forge_monitor.schema import validate_frame


def _pipe(step: int, loss: float) -> str:
    return f"Training epoch 0, iteration {step}/100 | lr: 1e-05 | global_step: {step} | reduced_train_loss: {loss}\n"


def _digest(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_truncated_last_line_is_left_for_the_next_read(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 2.0) + _pipe(2, 1.9) + "Training epoch 0, iteration 3/100 | lr: 1e-05 | global_st")
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == [1, 2]
    assert run.info.lines_skipped == 0  # not malformed: just not written yet


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file (0 bytes)"),
    (b"\n\n   \n", "empty file (only whitespace)"),
    (bytes(range(256)) * 40, "binary data"),
    (b"\x89PNG\r\n\x1a\n" + os.urandom(2048).replace(b"\x00", b"\x01") + b"\x00", "binary data"),
    (b"just some text\nwith no metrics at all\n", "unrecognized format"),
])
def test_unusable_file_named_on_the_command_line_is_an_error_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "thing.log"
    path.write_bytes(content)
    result = load_paths([str(path)])
    assert not result.runs
    assert len(result.errors) == 1 and reason in result.errors[0].reason


def test_nan_and_infinity_tokens_are_values_not_errors(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": NaN, "grad_norm": Infinity}\n{"step": 2, "loss": 1.0, "grad_norm": -Infinity}\n')
    frame = load_paths([str(path)]).runs[0].frame
    assert math.isnan(frame[(frame.metric == "train_loss") & (frame.step == 1)].value.iloc[0])
    assert frame[(frame.metric == "grad_norm")].value.tolist() == [math.inf, -math.inf]


def test_duplicated_steps_keep_the_last_value(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 2.0) + _pipe(2, 1.9) + _pipe(2, 1.7) + _pipe(3, 1.6))
    run = load_paths([str(path)]).runs[0]
    loss = run.frame[run.frame.metric == "train_loss"]
    assert loss.set_index("step").value.to_dict() == {1: 2.0, 2: 1.7, 3: 1.6}
    assert not run.info.restarts


def test_step_regression_is_a_restart_and_the_newest_segment_wins(tmp_path):
    path = tmp_path / "train.log"
    first = "".join(_pipe(s, 3.0 - 0.1 * s) for s in range(1, 11))  # crashed after step 10
    resumed = "".join(_pipe(s, 9.0 + s) for s in range(6, 13))  # resumed from the step-5 checkpoint
    path.write_text(first + resumed)
    run = load_paths([str(path)]).runs[0]
    loss = run.frame[run.frame.metric == "train_loss"].set_index("step").value
    assert list(loss.index) == list(range(1, 13))
    assert loss[5] == pytest.approx(2.5) and loss[6] == 15.0 and loss[10] == 19.0  # never interleaved
    assert [(r.line, r.from_step, r.to_step) for r in run.info.restarts] == [(11, 10, 6)]


def test_unknown_keys_are_kept_under_their_own_names(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0, "my/custom_metric": 42, "tag": "a-string"}\n')
    frame = load_paths([str(path)]).runs[0].frame
    assert set(frame.metric) == {"train_loss", "my/custom_metric"}


def test_one_bad_line_among_ten_thousand_costs_only_that_line(tmp_path):
    lines = [json.dumps({"step": s, "loss": 1.0 / s}) for s in range(1, 10001)]
    lines[4999] = '{"step": 5000, "loss": 0.0002'  # a torn write in the middle
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = load_paths([str(path)]).runs[0]
    validate_frame(run.frame)
    assert len(run.frame[run.frame.metric == "train_loss"]) == 9999
    assert run.info.lines_skipped == 1
    assert run.info.skipped[0].line == 5000 and "not valid JSON" in run.info.skipped[0].reason
    # line numbers after the bad line still point at the right rows
    assert 10000 in set(run.frame.step)


def test_bad_line_in_a_text_log(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 2.0) + "Training epoch 0, iteration 2/100 | global_step: nan | reduced_train_loss: 1.9\n" + _pipe(3, 1.8))
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == [1, 3]
    assert run.info.lines_skipped == 1 and run.info.skipped[0].line == 2


def test_directory_with_no_runs(tmp_path):
    (tmp_path / "README.md").write_text("# nothing here\n")
    (tmp_path / "notes.txt").write_text("meeting notes\n")
    result = load_paths([str(tmp_path)])
    assert not result.runs
    assert result.errors[0].reason.startswith("no training runs found in this directory (1 file(s) skipped; notes.txt: "
                                              "unrecognized format")  # why, in the error itself (audit L11)
    assert "unrecognized format" in result.problems[0].reason  # notes.txt, explained


def test_a_bad_file_in_a_directory_does_not_cost_the_other_runs(tmp_path):
    (tmp_path / "good.log").write_text(_pipe(1, 2.0))
    (tmp_path / "garbage.log").write_bytes(b"\x00\x01\x02" * 100)
    result = load_paths([str(tmp_path)])
    assert [r.info.run_id for r in result.runs] == [f"{tmp_path.name}/good.log"]
    assert not result.errors and "binary" in result.problems[0].reason


def test_missing_path(tmp_path):
    result = load_paths([str(tmp_path / "nope.log")])
    assert result.errors[0].reason == "no such file or directory"


def test_files_are_never_modified(tmp_path, real_runs):
    path = tmp_path / "train.log"
    path.write_text(_pipe(1, 2.0) + _pipe(2, 1.9))
    before = _digest(path)
    listing_before = sorted(p.name for p in tmp_path.iterdir())
    load_paths([str(tmp_path)])
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing_before
    real_before = {p: _digest(p) for p in real_runs.rglob("*") if p.is_file()}
    load_paths([str(real_runs)])
    assert {p: _digest(p) for p in real_runs.rglob("*") if p.is_file()} == real_before


def test_blank_lines_in_jsonl_keep_line_numbers_right(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 1.0}\n\n{"step": 2, "loss": 0.9}\n{"step": 3, "loss": oops}\n'
                    '{"step": null, "loss": 0.7}\n')
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == [1, 2]
    # The per-line parser runs (oops); a row without a step is named by its line, not its row.
    assert sorted(s.line for s in run.info.skipped) == [4, 5]


@pytest.mark.parametrize("in_place", [False, True])
def test_blank_lines_in_valid_jsonl_keep_the_fast_path_and_the_line_numbers(tmp_path, monkeypatch, in_place):
    # One stray blank line used to send a whole file to the per-line parser (13.8 s instead of
    # 0.84 s on 1,000,000 lines): the fast readers skip blank lines, so rows are mapped to lines.
    from forge_monitor.ingest import reader, tabular
    from forge_monitor.schema import RunInfo

    def per_line_parser(*args, **kwargs):
        raise AssertionError("the per-line parser ran")

    monkeypatch.setattr(tabular, "_json_lines_slow", per_line_parser)
    monkeypatch.setattr(reader, "MAP_JSONL_BYTES", 0 if in_place else 1 << 62)
    path = tmp_path / "m.jsonl"
    path.write_text('\n{"step": 1, "loss": 1.0}\n\r\n{"step": null, "loss": 0.9}\n \t\n{"step": 3, "loss": 0.8}\n\n')
    info = RunInfo(run_id="r", source="", format="")
    increment = reader.read_increment(path, None, info)
    assert dict(zip(increment.records["step"].to_list(), increment.records["line"].to_list())) == {1: 2, 3: 6}
    assert [(s.line, s.reason) for s in info.skipped] == [(4, "row has no numeric 'step'")]
    assert info.lines_read == 7 and increment.cursor.line == 8


def test_jsonl_row_without_a_step_is_skipped_on_the_fast_path(tmp_path):
    # Valid JSON throughout, so a one-call reader handles it: the null step must cost that row only,
    # and a key first seen after polars' inference window (row 150) must not be dropped.
    rows = [{"step": s, "loss": 2.0 - s / 1000} for s in range(1, 201)]
    rows[99]["step"] = None
    rows[149]["eval_loss"] = 1.5
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_paths([str(path)]).runs[0]
    loss = run.frame[run.frame.metric == "train_loss"]
    assert len(loss) == 199 and 100 not in set(loss.step)
    assert run.frame[run.frame.metric == "val_loss"].set_index("step").value.to_dict() == {150: 1.5}
    assert [(s.line, s.reason) for s in run.info.skipped] == [(100, "row has no numeric 'step'")]


def test_jsonl_restart_is_resolved_and_recorded(tmp_path):
    rows = [{"step": s, "loss": 5.0} for s in range(1, 11)] + [{"step": s, "loss": 1.0} for s in range(6, 9)]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = load_paths([str(path)]).runs[0]
    loss = run.frame[run.frame.metric == "train_loss"].set_index("step").value.to_dict()
    assert loss == {1: 5.0, 2: 5.0, 3: 5.0, 4: 5.0, 5: 5.0, 6: 1.0, 7: 1.0, 8: 1.0}
    assert [(r.from_step, r.to_step) for r in run.info.restarts] == [(10, 6)]


def test_large_jsonl_with_bad_lines_is_read_in_blocks_like_line_by_line(tmp_path, monkeypatch):
    # A bad line costs its block only: the result must be what the per-line parser gives for the
    # whole file - records, line numbers, skips - with a late key, a type change and blank lines.
    import io

    import polars as pl

    from forge_monitor.ingest import reader, tabular
    from forge_monitor.schema import RunInfo

    rows = [json.dumps({"step": s, "loss": 2.0 - s / 1000}) for s in range(1, 401)]
    rows[50] = '{"step": 51, "loss": NaN}'
    rows[120] = '{"step": 121, "loss": oops}'
    rows[200] = ""
    rows[300] = json.dumps({"step": 301, "loss": 1.7, "eval_loss": 1.9})
    rows[350] = json.dumps({"step": 351, "loss": "1.65"})
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(rows) + "\n")
    per_line = tabular._json_lines_slow
    lines_parsed_one_by_one = []

    def counting(text, *args):
        lines_parsed_one_by_one[-1] += text.count("\n")
        return per_line(text, *args)

    monkeypatch.setattr(tabular, "_json_lines_slow", counting)
    results = {}
    for block_bytes in (1 << 40, 1000):  # one block (all line by line, as the bad line forces); ~40 lines a block
        monkeypatch.setattr(tabular, "_BLOCK_BYTES", block_bytes)
        for in_place in (False, True):
            monkeypatch.setattr(reader, "MAP_JSONL_BYTES", 0 if in_place else 1 << 62)
            lines_parsed_one_by_one.append(0)
            info = RunInfo(run_id="r", source="", format="")
            increment = reader.read_increment(path, None, info)
            results[block_bytes, in_place] = (increment.records.sort("metric", "step").write_csv(),
                                              increment.cursor.line, info.lines_read,
                                              tuple(sorted((s.line, s.reason) for s in info.skipped)))
    assert len(set(results.values())) == 1
    records, next_line, lines_read, skipped = results[1000, True]
    assert next_line == 401 and lines_read == 400
    assert [line for line, _ in skipped] == [121]
    records = pl.read_csv(io.StringIO(records))
    loss = dict(records.filter(pl.col("metric") == "train_loss").select("step", "value").iter_rows())
    assert len(loss) == 398 and math.isnan(loss[51]) and loss[351] == 1.65  # 121 bad, 201 blank
    assert records.filter(pl.col("metric") == "val_loss").select("step", "line", "value").rows() == [(301, 301, 1.9)]
    # One block went line by line for the whole file; in blocks, only the two holding lines 51 and 121.
    assert lines_parsed_one_by_one[0] == 400 and 0 < lines_parsed_one_by_one[-1] <= 2 * 40


def test_a_looping_or_dangling_symlink_is_named_as_such(tmp_path):
    """Audit L11: a looping symlink named on the command line said 'no such file or directory'."""
    loop = tmp_path / "loop.log"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling.log"
    dangling.symlink_to(tmp_path / "gone.log")
    result = load_paths([str(loop), str(dangling), str(tmp_path / "absent.log")])
    assert [e.reason for e in result.errors] == ["a symlink that leads nowhere (its target is missing, or it loops)"] * 2 + [
        "no such file or directory"]


def test_a_broken_aws_config_is_named_not_a_missing_profile(tmp_path, monkeypatch):
    from forge_monitor.ingest.cloudwatch import CloudWatchError, CloudWatchSource, make_clients

    config = tmp_path / "config"
    config.write_text("[default\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(CloudWatchError, match="cannot read the AWS configuration"):
        make_clients(CloudWatchSource("j", region="us-east-1"))


def test_what_cannot_be_a_log_in_a_folder_is_listed_not_skipped_quietly(tmp_path):
    """Audit L8: FIFOs, dangling and looping symlinks inside a folder were ignored without a word."""
    import os

    (tmp_path / "good.log").write_text(_pipe(1, 2.0))
    os.mkfifo(tmp_path / "pipe.log")
    (tmp_path / "dangling.log").symlink_to(tmp_path / "gone.log")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "back").symlink_to(tmp_path)  # a folder link that loops back to the top
    result = load_paths([str(tmp_path)])
    assert [r.info.run_id for r in result.runs] == [f"{tmp_path.name}/good.log"]  # read once, no hang
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in result.problems}
    assert reasons["pipe.log"].startswith("not a regular file") and reasons["dangling.log"].startswith("a symlink that leads nowhere")


def test_jsonl_whose_step_key_changes_part_way_keeps_its_later_rows(tmp_path):
    """Audit L12: rows after `step` became `global_step` were skipped as 'no numeric step'."""
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"step": {s}, "loss": {1.0 / s}}}\n' for s in range(1, 6))
                    + "".join(f'{{"global_step": {s}, "loss": {1.0 / s}}}\n' for s in range(6, 11)))
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == list(range(1, 11))
    assert run.info.lines_skipped == 0 and "global_step" not in set(run.frame.metric.astype(str))


@pytest.mark.parametrize("case", ["nul line", "latin-1 column", "long preamble"])
def test_a_few_bad_bytes_or_a_long_preamble_do_not_cost_the_file(tmp_path, case):
    """Audit L4: one NUL line, a Latin-1 text column or a 1 MB preamble made the whole file unreadable."""
    if case == "nul line":
        path = tmp_path / "train.log"
        path.write_bytes(_pipe(1, 2.0).encode() + b"\x00" * 20 + b"\n" + "".join(_pipe(s, 1.0) for s in range(2, 101)).encode())
    elif case == "latin-1 column":
        path = tmp_path / "metrics.csv"
        path.write_bytes(b"step,loss,note\n" + b"".join(f"{s},{1.0 / s},".encode() + b"caf\xe9 cr\xe8me\n" for s in range(1, 101)))
    else:
        path = tmp_path / "train.log"
        path.write_text("config dump\n" + "setting = value\n" * 80_000 + "".join(_pipe(s, 1.0) for s in range(1, 101)))
        assert path.stat().st_size > (1 << 20)
    result = load_paths([str(path)])
    assert not result.errors, result.errors
    run = result.runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step)[-1] == 100


def test_json_rows_inside_a_verl_log_are_counted_not_dropped_quietly(tmp_path):
    """Audit L5: 50 JSON lines in a pipe + verl file were dropped with skipped_lines 0."""
    path = tmp_path / "mixed.log"
    pipe = "".join(_pipe(s, 1.0) for s in range(1, 51))
    jsonl = "".join(f'{{"step": {s}, "loss": 0.5}}\n' for s in range(51, 101))
    verl = "".join(f"step:{s} - actor/pg_loss:0.1 - critic/rewards/mean:0.5\n" for s in range(101, 151))
    path.write_text(pipe + jsonl + verl)
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == list(range(1, 51))
    assert sorted(run.frame[run.frame.metric == "reward"].step) == list(range(101, 151))
    assert run.info.lines_skipped == 50 and "JSON / dict metric row" in run.info.skipped[0].reason


def test_a_file_that_is_not_a_log_is_not_sniffed_again_until_it_changes(tmp_path, monkeypatch):
    """A watcher searches its folders every interval: an unrecognized file costs a read once."""
    import os

    from forge_monitor.ingest import discover

    (tmp_path / "good.log").write_text(_pipe(1, 2.0))
    notes = tmp_path / "notes.log"
    notes.write_text("meeting notes\n")
    reads = []
    real_head = discover._head
    monkeypatch.setattr(discover, "_head", lambda path, *a, **k: reads.append(path.name) or real_head(path, *a, **k))
    for _ in range(3):
        assert "unrecognized format" in discover.find_runs(tmp_path)[1][0].reason
    assert reads.count("notes.log") == 1
    notes.write_text("meeting notes, longer now\n")
    os.utime(notes, ns=(notes.stat().st_mtime_ns + 10**9,) * 2)
    discover.find_runs(tmp_path)
    assert reads.count("notes.log") == 2  # changed: read again
