"""The series every detector reads (``_stats.series``), shared for the length of a ``run_checks``, and
the overfitting alert's epoch wording, worked out once per check: both checked against the rule
written plainly, on frames laid out as every source lays them out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forge_monitor.detectors import _stats, overfitting, run_checks
from forge_monitor.schema import RunInfo


def plain_series(frame: pd.DataFrame, metric: str, finite: bool = True):
    """The rule: the metric's rows, sorted by step (stable), without NaN and +-inf when ``finite``."""
    rows = frame[frame["metric"].astype(object) == metric].sort_values("step", kind="stable")
    steps, values = rows["step"].to_numpy(), rows["value"].to_numpy(dtype=np.float64)
    if finite:
        keep = np.isfinite(values)
        steps, values = steps[keep], values[keep]
    return steps, values


def frame_of(metrics, steps, values, *, categories=None) -> pd.DataFrame:
    metric = (pd.Categorical(metrics, categories=categories) if categories is not None
              else pd.Series(metrics, dtype=object))
    return pd.DataFrame({"run_id": "r", "step": np.asarray(steps, dtype=np.int64), "metric": metric,
                         "value": np.asarray(values, dtype=np.float64), "wall_time": np.nan})


def layouts():
    """(name, frame) pairs: grouped as the readers write them, interleaved, with unused categories,
    categories in another order than the rows, steps out of order, NaN and inf values."""
    rng = np.random.default_rng(3)
    n = 400
    names = np.array(["val_loss", "train_loss", "grad_norm", "learning_rate"])
    values = rng.normal(size=n)
    values[rng.choice(n, 12, replace=False)] = np.nan
    values[rng.choice(n, 6, replace=False)] = np.inf
    interleaved = names[np.arange(n) % len(names)]
    steps = np.repeat(np.arange(n // len(names)), len(names))
    grouped = np.sort(interleaved, kind="stable")
    shuffled_steps = rng.permutation(n)
    yield "grouped, alphabetical categories", frame_of(grouped, steps, values, categories=sorted(names))
    yield "grouped, categories in row order", frame_of(grouped, steps, values, categories=list(dict.fromkeys(grouped)))
    yield "grouped, categories in another order", frame_of(grouped, steps, values, categories=list(names))
    yield "grouped, unused categories", frame_of(grouped, steps, values, categories=sorted(names) + ["kl", "reward"])
    yield "interleaved (one line of every metric per step)", frame_of(interleaved, steps, values, categories=sorted(names))
    yield "strings, interleaved", frame_of(interleaved, steps, values)
    yield "grouped, steps out of order", frame_of(grouped, shuffled_steps, values, categories=sorted(names))
    yield "strings, steps out of order", frame_of(interleaved, shuffled_steps, values)


@pytest.mark.parametrize("name,frame", list(layouts()), ids=[name for name, _ in layouts()])
def test_series_is_the_metric_sorted_by_step(name, frame):
    try:
        for metric in ("val_loss", "train_loss", "grad_norm", "learning_rate", "kl", "absent"):
            for finite in (True, False):
                steps, values = _stats.series(frame, metric, finite=finite)
                want_steps, want_values = plain_series(frame, metric, finite)
                np.testing.assert_array_equal(steps, want_steps)
                np.testing.assert_array_equal(values, want_values)
        # In the order the metrics first appear in the frame (detectors list them in this order),
        # categories no row holds left out.
        first_seen = list(dict.fromkeys(frame["metric"].astype(object)))
        assert _stats.metric_names(frame) == first_seen
    finally:
        _stats.clear_cache()


def test_a_detector_cannot_change_what_the_next_one_reads():
    """The series are shared by every detector of one run_checks (and may be views of the frame's
    own columns): writing into one raises instead of silently changing the others' input, or the run."""
    frame = next(f for name, f in layouts() if name.startswith("grouped, alphabetical"))
    before = frame["value"].to_numpy().copy()
    try:
        for finite in (True, False):
            steps, values = _stats.series(frame, "train_loss", finite=finite)
            with pytest.raises(ValueError, match="read-only"):
                values[0] = 1e9
            with pytest.raises(ValueError, match="read-only"):
                steps[0] = -1
        assert _stats.series(frame, "train_loss") is _stats.series(frame, "train_loss")  # read once, kept
    finally:
        _stats.clear_cache()
    np.testing.assert_array_equal(frame["value"].to_numpy(), before)


def plain_epoch_at(frame, step: int) -> str | None:
    """The wording rule, per step, as it was written before it was worked out once per check."""
    steps, values = plain_series(frame, "epoch")
    if not len(steps):
        return None
    i = max(int(np.searchsorted(steps, step, side="right")) - 1, 0)
    if not np.all(values == np.round(values)):
        return f"epoch {values[i]:.2f}"
    index = int(values[i])
    later = steps[values > index]
    ordinal = {0: "first", 1: "second", 2: "third"}.get(index, f"number {index + 1}")
    interval = max(1, int(np.median(np.diff(steps)))) if len(steps) > 1 else 1
    if len(later) and step >= later[0] - interval:
        return f"at the end of the {ordinal} epoch"
    return f"in the {ordinal} epoch"


def epoch_frames():
    rng = np.random.default_rng(11)
    steps = np.arange(10, 2001, 10)
    yield "Nova whole epochs", frame_of(["epoch"] * len(steps), steps, np.repeat(np.arange(4), 50))
    yield "HF fractional epochs", frame_of(["epoch"] * len(steps), steps, steps / 500)
    yield "a restart back into an earlier epoch", frame_of(["epoch"] * len(steps), steps,
                                                           np.concatenate([np.repeat([0, 1, 2], 50), np.repeat([1, 2], 25)]))
    yield "five epochs logged at uneven steps", frame_of(["epoch"] * 60, np.sort(rng.choice(5000, 60, replace=False)),
                                                        np.repeat(np.arange(5), 12))
    yield "one point", frame_of(["epoch"], [5], [0.0])
    yield "no epoch logged", frame_of(["train_loss"] * 3, [1, 2, 3], [1.0, 0.9, 0.8])


@pytest.mark.parametrize("name,frame", list(epoch_frames()), ids=[name for name, _ in epoch_frames()])
def test_epoch_wording_matches_the_rule_at_every_step(name, frame):
    try:
        place = overfitting._EpochPlace(frame)
        for step in range(0, 5100, 7):
            assert place(step) == plain_epoch_at(frame, step), step
    finally:
        _stats.clear_cache()


def test_many_overfitting_alerts_each_name_their_epoch():
    """A validation loss logged at every step of a flat run: many episodes, each alert's checkpoint
    advice says where in the epochs its best step lies, as the rule says for that step."""
    n = 6000
    rng = np.random.default_rng(5)
    steps = np.arange(1, n + 1)
    epoch = np.repeat(np.arange(3), n // 3)
    frame = pd.concat([frame_of(["epoch"] * n, steps, epoch, categories=["epoch", "train_loss", "val_loss"]),
                       frame_of(["train_loss"] * n, steps, 2.0 - steps / n + rng.normal(0, 0.001, n),
                                categories=["epoch", "train_loss", "val_loss"]),
                       frame_of(["val_loss"] * n, steps, 1.2 + rng.normal(0, 0.004, n),
                                categories=["epoch", "train_loss", "val_loss"])], ignore_index=True)
    info = RunInfo(run_id="r", source="test", format="synthetic", technique="sft")
    alerts = [a for a in run_checks(frame, info).alerts if a.detector == "overfitting"]
    assert len(alerts) >= 3
    assert len({plain_epoch_at(frame, a.evidence["best_step"]) for a in alerts}) >= 2  # more than one epoch named
    for alert in alerts:
        best = alert.evidence["best_step"]
        assert f"step {best} (val_loss " in alert.remediation
        assert f", {plain_epoch_at(frame, best)})." in alert.remediation


def pandas_rolling_median(values, window, min_periods, before=False):
    """The rule: pandas' rolling median (what the detectors used before bottleneck's moving median)."""
    s = pd.Series(values, dtype=np.float64)
    return (s.shift(1) if before else s).rolling(window, min_periods=min_periods).median().to_numpy()


def test_rolling_median_is_pandas_rolling_median_to_the_last_bit():
    rng = np.random.default_rng(17)
    checked = 0
    for n in (0, 1, 2, 3, 19, 20, 21, 300):
        noisy = rng.normal(size=n)
        tied = np.round(rng.normal(size=n), 1)  # many equal values: the middle pair of an even window
        holed = rng.lognormal(size=n)
        holed[rng.random(n) < 0.1] = np.nan
        holed[rng.random(n) < 0.03] = np.inf
        holed[rng.random(n) < 0.03] = -np.inf
        for values in (noisy, tied, holed):
            for window in (1, 2, 5, 20, 200):
                for min_periods in sorted({1, 2, window // 2 or 1, window}):
                    if min_periods > window:
                        continue
                    for before in (False, True):
                        got = _stats.rolling_median(values, window, min_periods, before=before)
                        want = pandas_rolling_median(values, window, min_periods, before)
                        assert got.dtype == np.float64 and len(got) == n
                        np.testing.assert_array_equal(got, want, err_msg=f"n={n} window={window} min={min_periods}")
                        checked += 1
    assert checked > 500
    with pytest.raises(ValueError, match="min_periods"):
        _stats.rolling_median(np.ones(10), 3, 4)


def test_latest_wall_time_per_step_follows_the_rule_on_every_layout():
    """The stalled detector's clock: the latest wall time logged at each step, over every metric; rows
    without a time left out (and nothing copied when every row has one)."""
    from forge_monitor.detectors.stalled import _latest_per_step

    rng = np.random.default_rng(23)
    for name, frame in layouts():
        frame = frame.copy()
        wall = 1.7e9 + np.sort(rng.random(len(frame))) * 1e5
        wall[rng.random(len(frame)) < 0.1] = np.nan  # rows without a time
        frame["wall_time"] = wall
        variants = [frame, frame.iloc[::-1].reset_index(drop=True)]  # and its rows in reverse
        repeated = frame[frame["metric"].astype(object) == "train_loss"].head(3).copy()
        repeated["wall_time"] = 1.8e9  # a step logged again, later, by the same metric (not tidy, but met)
        variants.append(pd.concat([frame, repeated], ignore_index=True))
        variants.append(frame.assign(wall_time=np.nan_to_num(wall, nan=1.7e9)))  # every row timed (a Nova log)
        for variant in variants:
            timed = variant[variant["wall_time"].notna()]
            want = timed.groupby("step")["wall_time"].max()
            steps, latest = _latest_per_step(variant)
            np.testing.assert_array_equal(steps, want.index.to_numpy(), err_msg=name)
            np.testing.assert_array_equal(latest, want.to_numpy(), err_msg=name)
