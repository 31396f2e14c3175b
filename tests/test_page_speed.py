"""The run page of a large run (issue 15, target 3): what a rerun no longer rebuilds from the whole frame,
and that the faster paths draw the same thing (bench/page_bench.py times the page itself)."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from forge_monitor import frame_facts, xaxis
from forge_monitor.xaxis import x_axes


def _frame(steps, epochs, *, wall=None, samples=None) -> pd.DataFrame:
    parts = [pd.DataFrame({"run_id": "r", "step": steps, "metric": "epoch", "value": np.asarray(epochs, dtype=float),
                           "wall_time": np.nan if wall is None else wall})]
    parts.append(pd.DataFrame({"run_id": "r", "step": steps, "metric": "train_loss", "value": 1.0,
                               "wall_time": np.nan if wall is None else wall}))
    if samples is not None:
        parts.append(pd.DataFrame({"run_id": "r", "step": steps, "metric": "consumed_samples", "value": samples,
                                   "wall_time": np.nan}))
    return pd.concat(parts, ignore_index=True).astype({"run_id": "category", "metric": "category"})


def test_the_axes_are_built_once_per_frame_and_let_go_with_it(monkeypatch):
    frame = _frame(np.arange(1, 11), [0] * 5 + [1] * 5, wall=1e9 + 2.0 * np.arange(10))
    frame_facts.keep_facts(frame)  # the dashboard's frames: never changed in place
    built = []
    real = xaxis._build
    monkeypatch.setattr(xaxis, "_build", lambda f: built.append(1) or real(f))
    first = x_axes(frame)
    again = x_axes(frame)
    assert len(built) == 1 and list(first) == list(again) == ["step", "epoch", "wall_time", "relative"]
    assert again is not first  # a caller's dict of its own
    copy = frame.copy()  # another frame, even an equal one, and not kept: built on every call
    x_axes(copy)
    x_axes(copy)
    assert len(built) == 3
    key = id(frame)
    del frame, first, again
    gc.collect()
    assert key not in frame_facts._facts


def test_an_integer_epoch_is_made_fractional_from_where_each_epoch_starts():
    # Epoch 0 at steps 1-4, 1 at 5-8, 2 at 9-10 (the last epoch takes the length of the one before);
    # a value logged already fractional stays as logged; an epoch's start is the first step logging it.
    steps = np.arange(1, 11)
    epochs = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2], dtype=float)
    assert xaxis._fractional_epoch(steps, epochs).tolist() == pytest.approx(
        [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25])
    mixed = epochs.copy()
    mixed[2] = 0.4
    out = xaxis._fractional_epoch(steps, mixed)
    assert out[2] == 0.4 and out[3] == 0.75
    one = xaxis._fractional_epoch(np.array([3, 5, 9]), np.array([4.0, 4.0, 4.0]))  # one epoch: to the last step
    assert one.tolist() == pytest.approx([4, 4 + 2 / 7, 4 + 6 / 7])


def test_steps_out_of_order_and_repeated_map_as_when_sorted():
    """Rows in any order, a step logged twice (its first value kept), NaN values and wall times left out."""
    steps = np.array([1, 2, 3, 4, 5, 6, 7, 8])
    ordered = _frame(steps, [0, 0, 0, 0, 1, 1, 1, 1], wall=1e9 + 10.0 * steps, samples=32.0 * steps)
    shuffled = ordered.sample(frac=1.0, random_state=3).reset_index(drop=True)
    repeated = pd.concat([ordered, ordered.iloc[[2]].assign(value=99.0)], ignore_index=True)
    with_gaps = ordered.copy()
    with_gaps.loc[0, "wall_time"] = np.nan
    for frame in (shuffled, repeated):
        for name, axis in x_axes(ordered).items():
            other = x_axes(frame)[name]
            assert other.steps.tolist() == axis.steps.tolist() and other.values.tolist() == axis.values.tolist(), name
    assert x_axes(with_gaps)["wall_time"].steps.tolist() == list(range(1, 9))  # step 1 timed by its other metric
    sparse = _frame(np.array([10, 5000, 90000]), [0, 1, 2], wall=1e9 + np.array([1.0, 5.0, 3.0]))
    wall = x_axes(sparse)["wall_time"]
    assert wall.steps.tolist() == [10, 5000, 90000] and wall.values.tolist() == [1e9 + 1, 1e9 + 5, 1e9 + 5]


def _smooth_one_by_one(steps, values, weight):
    """The smoothing written as the loop it is (the reference the vectorised one is held to)."""
    if weight <= 0 or len(values) < 2:
        return values.astype(np.float64)
    gaps = np.diff(steps).astype(np.float64)
    typical = float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else 1.0
    decay = np.concatenate([[0.0], weight ** (np.maximum(gaps, 0) / typical)])
    out = np.empty(len(values))
    acc = norm = 0.0
    for i, (d, v) in enumerate(zip(decay, values)):
        if not np.isfinite(v):
            out[i] = np.nan
            continue
        acc = d * acc + (1 - d) * v if i else v
        norm = d * norm + (1 - d) if i else 1.0
        out[i] = acc / norm if norm else v
    return out


@pytest.mark.parametrize("n", [2, 3, 64, 65, 1000, 4099])
def test_smoothing_in_blocks_matches_the_point_by_point_average(n):
    from forge_monitor.plotting import smooth

    rng = np.random.default_rng(n)
    for trial in range(12):
        steps = np.cumsum(rng.choice([0, 1, 1, 2, 10, -3], n)) if trial % 2 else 10 * np.arange(n)
        values = rng.normal(size=n) * 10.0 ** rng.integers(-6, 7)
        if trial % 3 == 0:
            values[rng.random(n) < 0.1] = np.nan
        if trial % 4 == 0:
            values[0] = np.inf  # a first point that is not finite: the average starts at the next one
        weight = [0.3, 0.6, 0.9, 0.99, 0.999][trial % 5]
        expected, got = _smooth_one_by_one(steps, values, weight), smooth(steps, values, weight)
        assert np.array_equal(np.isnan(expected), np.isnan(got))
        scale = np.abs(values[np.isfinite(values)]).max() if np.isfinite(values).any() else 1.0
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12 * scale, equal_nan=True)


def test_a_series_is_taken_in_step_order_whatever_the_rows_order():
    from forge_monitor.plotting import series

    frame = _frame(np.arange(1, 9), [0, 0, 0, 0, 1, 1, 1, 1])
    frame.loc[frame["metric"] == "train_loss", "value"] = np.arange(8.0)
    for rows in (frame, frame.sample(frac=1.0, random_state=5), frame.astype({"metric": object})):
        steps, values = series(rows, "train_loss")
        assert steps.tolist() == list(range(1, 9)) and values.tolist() == list(np.arange(8.0))
    assert [len(a) for a in series(frame, "no such metric")] == [0, 0]


def test_stalled_reads_the_latest_time_of_each_step_as_a_groupby_would():
    from forge_monitor.detectors.stalled import _latest_per_step

    rng = np.random.default_rng(11)
    for steps in (rng.integers(0, 300, 900), rng.integers(0, 10**7, 50), np.array([5, 5, 5])):
        wall = 1e9 + rng.random(len(steps)) * 1e5
        wall[rng.random(len(steps)) < 0.2] = np.nan
        wall[: len(steps) // 10] = np.inf
        frame = pd.DataFrame({"step": steps, "wall_time": wall})
        expected = frame.dropna().groupby("step")["wall_time"].max().sort_index()
        for rows in (frame, frame.astype({"step": float})):
            got_steps, got = _latest_per_step(rows)
            assert got_steps.tolist() == expected.index.tolist() and got.tolist() == expected.tolist()
    assert [len(a) for a in _latest_per_step(pd.DataFrame({"step": [1, 2], "wall_time": np.nan}))] == [0, 0]


def _series_by_the_rule(frame: pd.DataFrame, metric: str):
    """plotting.series written plainly: the metric's rows in frame order, sorted as sort_values does
    when they are not in strictly increasing step order."""
    rows = (frame["metric"] == metric).to_numpy()
    steps, values = frame["step"].to_numpy()[rows], frame["value"].to_numpy(dtype=np.float64)[rows]
    if len(steps) > 1 and not (np.diff(steps) > 0).all():
        order = np.argsort(steps, kind="quicksort")
        steps, values = steps[order], values[order]
    return steps, values


def _layouts():
    """Frames the series split must read alike: grouped by metric (the readers' layout), interleaved,
    shuffled, a step repeated, a metric's steps going back, a NaN metric, unused and reordered
    categories, plain strings, one row, none."""
    rng = np.random.default_rng(4)
    grouped = _frame(np.arange(1, 41), np.repeat([0, 1, 2, 3], 10))
    grouped["value"] = rng.normal(size=len(grouped))
    yield "grouped", grouped
    yield "interleaved", grouped.iloc[np.argsort(np.tile(np.arange(40), 2), kind="stable")].reset_index(drop=True)
    yield "shuffled", grouped.sample(frac=1.0, random_state=2).reset_index(drop=True)
    repeated = pd.concat([grouped, grouped.iloc[[3, 45]].assign(value=[7.0, 8.0])], ignore_index=True)
    yield "repeated", repeated.astype({"metric": "category"})
    back = grouped.copy()
    back.loc[5, "step"] = 2  # the epoch metric goes back once
    yield "goes back", back
    with_nan = grouped.astype({"metric": object})
    with_nan.loc[[0, 50], "metric"] = np.nan
    yield "NaN metric", with_nan
    yield "unused categories", grouped.astype({"metric": pd.CategoricalDtype(["zz", "train_loss", "epoch", "unused"])})
    yield "strings", grouped.astype({"metric": object})
    yield "one row", grouped.iloc[:1].copy()
    yield "empty", grouped.iloc[:0].copy()


def test_the_series_split_reads_every_layout_as_the_rule_does():
    from forge_monitor.plotting import metric_names, series

    for name, frame in _layouts():
        for keep in (False, True):  # a library frame (one metric at a time), then one the dashboard keeps
            if keep:
                frame_facts.keep_facts(frame)
            assert frame_facts.kept(frame) is keep
            assert metric_names(frame) == {str(m) for m in frame["metric"].unique()}, name
            for metric in ["epoch", "train_loss", "unused", "zz"]:
                steps, values = series(frame, metric)
                want_steps, want_values = _series_by_the_rule(frame, metric)
                assert steps.tolist() == want_steps.tolist(), (name, keep, metric)
                assert np.array_equal(values, want_values, equal_nan=True), (name, keep, metric)


def test_the_series_are_kept_with_their_frame_read_only_and_let_go_with_it():
    from forge_monitor.plotting import series

    frame = _frame(np.arange(1, 11), [0] * 5 + [1] * 5)
    frame_facts.keep_facts(frame)
    steps, values = series(frame, "train_loss")
    assert series(frame, "train_loss")[0] is steps  # worked out once for this frame
    with pytest.raises(ValueError):
        values[0] = 5.0  # shared by every session: a writer would change every chart
    frame.loc[0, "value"] = 3.0  # the frame's own columns stay writable (the loaded-frame contract)
    key = id(frame)
    del frame, steps, values
    gc.collect()
    assert key not in frame_facts._facts


def test_a_frame_nobody_promised_to_keep_is_read_afresh_after_it_changes():
    """The library's frames may be changed in place (the loaded-frame contract): what is drawn follows."""
    from forge_monitor.plotting import metric_figure, series

    frame = _frame(np.arange(1, 11), [0] * 5 + [1] * 5)
    before = series(frame, "train_loss")[1].copy()
    metric_figure(frame, "train_loss")
    frame.loc[frame["metric"] == "train_loss", "value"] = 7.0
    assert before.tolist() == [1.0] * 10 and series(frame, "train_loss")[1].tolist() == [7.0] * 10
    assert id(frame) not in frame_facts._facts


def test_the_incident_window_is_the_rules_worked_out_once_per_frame(monkeypatch):
    from forge_monitor import incidents

    for name, frame in _layouts():
        assert incidents.frame_window(frame) == incidents.step_window(frame["step"]), name
    frame = _frame(np.arange(0, 400, 20), [0] * 20)
    frame_facts.keep_facts(frame)
    calls = []
    real = incidents.step_window
    monkeypatch.setattr(incidents, "step_window", lambda steps: calls.append(1) or real(steps))
    assert incidents.frame_window(frame) == incidents.frame_window(frame) == 40
    assert len(calls) == 1
