"""The tidy frame a reader returns is the user's to change (a public data contract): its columns are
writable arrays, never read-only views into the parser's memory."""

from __future__ import annotations

import math

from forge_monitor.ingest import load_paths
from forge_monitor.synth.writers import nova_pipe


def test_a_loaded_frame_can_be_changed_in_place(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([(s, {"lr": 1e-5, "global_step": s, "reduced_train_loss": 2 * math.exp(-s / 50)})
                              for s in range(1, 40)], total=40, step_seconds=2))
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    for path in (log, jsonl):
        frame = load_paths([str(path)]).runs[0].frame
        frame.loc[frame.index[0], "value"] = 5.0
        frame["step"] += 1
        frame.iloc[1, frame.columns.get_loc("wall_time")] = 1.0
        assert frame["value"].iloc[0] == 5.0 and frame["step"].iloc[0] == 2


def _records(rows):
    import polars as pl

    from forge_monitor.ingest._tidy import records_from_lists

    seq = list(range(len(rows)))
    return records_from_lists(seq, [i + 1 for i in seq], [r[0] for r in rows], [r[1] for r in rows],
                              [r[2] for r in rows], [float(i) for i in seq]).with_columns(pl.col("metric").cast(pl.Categorical))


def _reference_tidy(rows):
    """The rule, written plainly: per metric (alphabetical), steps ascending, the last row of a repeated step."""
    last = {}
    for index, (step, metric, value) in enumerate(rows):
        last[metric, step] = (value, float(index))
    return [(metric, step, *last[metric, step]) for metric, step in sorted(last)]


def _shapes():
    import random

    rng = random.Random(5)
    grid = [(s, m, rng.random()) for s in range(1, 60) for m in ("loss", "lr", "epoch")]  # one line per step
    yield "grid", grid
    yield "grid, metrics in another order", [(s, m, rng.random()) for s in range(1, 60) for m in ("lr", "epoch", "loss")]
    yield "grid, a step repeated", grid[:30] + grid[27:]
    yield "grid, a step going back", grid[:30] + [(5, m, 1.0) for m in ("loss", "lr", "epoch")] + grid[30:]
    yield "grid, a line short of a metric", grid[:10] + grid[11:]
    yield "grid, one metric twice in a line", grid[:9] + [(4, "loss", 9.0)] + grid[9:]
    with_val = [row for s in range(1, 60) for row in [(s, m, rng.random()) for m in ("loss", "lr", "epoch")]
                + ([(s, "val_loss", rng.random())] if s % 10 == 0 else [])]  # lines not all alike
    yield "grid with a validation line every 10 steps", with_val
    yield "grid with validation lines, a stretch logged twice", with_val[:40] + with_val[25:]
    yield "grid with validation lines, a step going back", with_val[:50] + [(3, m, 1.0) for m in ("loss", "lr")] + with_val[50:]
    yield "steps never going back, a metric logged again at its step", [
        row for s in range(1, 40) for row in [(s, "loss", rng.random()), (s, "lr", rng.random())]
        + ([(s, "loss", rng.random())] if s % 7 == 0 else [])]
    yield "a metric that stops at the step where the next one starts", [
        row for s in range(1, 21) for row in ([(s, "a", rng.random())] if s <= 10 else []) + [(s, "c", rng.random())]
        + ([(s, "b", rng.random())] if s >= 10 else [])]
    yield "metrics in turn, a step each", [(i, ("loss", "lr", "epoch")[i % 3], rng.random()) for i in range(3, 93)]
    yield "wide table melted", [(s, m, rng.random()) for m in ("a", "b") for s in range(1, 40)]
    yield "wide table melted, columns not in alphabetical order", [(s, m, rng.random()) for m in ("train_loss", "lr", "b")
                                                                    for s in range(1, 40)]
    yield "many metrics", [(s, f"m{k:03d}", rng.random()) for s in range(1, 4) for k in range(300)]
    yield "random", [(rng.randint(1, 20), rng.choice("xyz"), rng.random()) for _ in range(300)]


def test_to_tidy_follows_the_rule_on_every_shape_of_records():
    import polars as pl

    from forge_monitor.ingest._tidy import to_tidy

    for name, rows in _shapes():
        records = _records(rows)
        names = list(dict.fromkeys(r[1] for r in rows))
        # As readers hand them over: categorical (text logs), strings, an enum in column order or in
        # alphabetical order (tables), an enum with a name no row has (a column that was all null).
        enums = (names, sorted(names), sorted(names) + ["zz_no_rows"], ["aa_no_rows", *sorted(names)])
        for metric in (records["metric"], records["metric"].cast(pl.Utf8), *(records["metric"].cast(pl.Enum(e)) for e in enums)):
            frame = to_tidy(records.with_columns(metric), "r")
            got = list(zip(frame["metric"].astype(str), frame["step"], frame["value"], frame["wall_time"]))
            assert got == _reference_tidy(rows), (name, metric.dtype)
            assert list(frame["metric"].cat.categories) == sorted(names), (name, metric.dtype)


def test_to_tidy_without_wall_times_gives_nan_that_can_be_changed():
    """A reader without a clock (JSONL) hands over an all-null wall_time: the frame gets NaN, writable."""
    import polars as pl

    from forge_monitor.ingest._tidy import to_tidy

    rows = [(s, m, float(s)) for m in ("b", "a") for s in range(1, 30)]
    records = _records(rows).with_columns(pl.lit(None, dtype=pl.Float64).alias("wall_time"))
    frame = to_tidy(records, "r")
    assert len(frame) == len(rows) and frame["wall_time"].isna().all()
    assert list(zip(frame["metric"].astype(str), frame["step"])) == sorted((m, s) for s, m, _ in rows)
    frame.iloc[0, frame.columns.get_loc("wall_time")] = 1.0
    assert frame["wall_time"].iloc[0] == 1.0 and frame["wall_time"].isna().sum() == len(rows) - 1


def test_canonicalise_renames_an_enum_of_source_keys_and_leaves_a_canonical_one_alone():
    import polars as pl

    from forge_monitor.ingest._tidy import canonicalise

    rows = [(s, m, 0.5) for m in ("train/loss", "lr") for s in range(1, 4)]
    source = _records(rows).with_columns(pl.col("metric").cast(pl.Enum(["train/loss", "lr"])))
    assert sorted(set(canonicalise(source)["metric"].cast(pl.Utf8))) == ["learning_rate", "train_loss"]
    canonical = source.with_columns(pl.col("metric").cast(pl.Utf8).replace({"train/loss": "train_loss", "lr": "learning_rate"})
                                    .cast(pl.Enum(["learning_rate", "train_loss"])))
    assert canonicalise(canonical) is canonical  # nothing to rename: no row is looked at
