"""Display helpers: spike-preserving downsampling, step-aware debiased smoothing, robust y-range."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forge_monitor.alerts import Alert
from forge_monitor.plotting import chart_plan, downsample, metric_figure, overlay_figure, robust_range, smooth


def test_downsampling_keeps_a_one_step_spike_and_the_ends():
    rng = np.random.default_rng(0)
    x = np.arange(1, 1_000_001)
    y = 1 + rng.normal(0, 0.01, len(x))
    y[654_321] = 50.0
    y[123_456] = -40.0
    dx, dy = downsample(x, y)
    assert len(dx) <= 2_100
    assert dy.max() == 50.0 and dy.min() == -40.0
    assert dx[0] == 1 and dx[-1] == 1_000_000


def test_smoothing_is_debiased_and_step_aware():
    steps = np.arange(1, 101)
    flat = np.full(100, 3.0)
    assert np.allclose(smooth(steps, flat, 0.9), 3.0)  # no pull towards zero at the start
    dense = smooth(np.arange(1, 101), np.r_[np.zeros(50), np.ones(50)], 0.8)
    sparse = smooth(np.arange(10, 1001, 10), np.r_[np.zeros(50), np.ones(50)], 0.8)
    assert np.allclose(dense, sparse)  # same span of training, same smoothing
    with_nan = smooth(steps, np.r_[flat[:50], np.nan, flat[51:]], 0.9)
    assert np.isnan(with_nan[50]) and np.allclose(with_nan[51:], 3.0)


def test_robust_range_cuts_outliers_and_says_how_many():
    values = np.r_[np.linspace(1.0, 1.2, 500), [50.0, 80.0]]
    lo, hi, outside = robust_range(values)
    assert outside == 2 and hi < 50
    assert robust_range(np.linspace(1, 2, 500)) is None  # nothing to cut: no note


def test_alerts_are_drawn_on_their_chart():
    frame = pd.DataFrame({"run_id": "r", "step": np.arange(1, 101), "metric": "train_loss",
                          "value": np.r_[np.ones(60), [5.0], np.ones(39)], "wall_time": np.nan})
    alert = Alert("r", "loss_spike", "critical", "train_loss", 61, 64, "train_loss 5 at step 61", "lower the LR", {})
    fig, _ = metric_figure(frame, "train_loss", alerts=[alert], highlight_step=80)
    assert any(a.text == "⚠ loss_spike" and "step 61" in a.hovertext for a in fig.layout.annotations)
    assert any(s.x0 == 61 and s.x1 == 64 for s in fig.layout.shapes if s.type == "rect")


def test_alerts_too_close_for_their_labels_share_one_label_and_keep_their_lines():
    """Three loss spikes 90 and 70 steps apart on a 400-step chart: on a chart of two side by side their
    labels would print over each other. An alert within a label's width of the first of a label shares
    it, and is named in its hover."""
    frame = pd.DataFrame({"run_id": "r", "step": np.arange(1, 401), "metric": "train_loss",
                          "value": np.ones(400), "wall_time": np.nan})
    spikes = [Alert("r", "loss_spike", severity, "train_loss", step, step + 2, f"train_loss spiked at step {step}",
                    "lower the LR", {}) for step, severity in ((141, "warning"), (230, "critical"), (301, "warning"))]
    narrow, _ = metric_figure(frame, "train_loss", alerts=spikes, char_width=0.025)
    first, last = narrow.layout.annotations
    assert (first.text, first.x, last.text, last.x) == ("⚠ loss_spike ×2", 141, "⚠ loss_spike", 301)
    assert "at step 141" in first.hovertext and "at step 230" in first.hovertext and "230" not in last.hovertext
    assert first.font.color == "#E45756" and last.font.color == "#F58518"  # the worst of each label's alerts
    assert sorted(s.x0 for s in narrow.layout.shapes if s.type == "line") == [141, 230, 301]  # every alert's line
    wide, _ = metric_figure(frame, "train_loss", alerts=spikes)  # the width of the page: room for each label
    assert [a.text for a in wide.layout.annotations] == ["⚠ loss_spike"] * 3
    zoomed, _ = metric_figure(frame, "train_loss", alerts=spikes, char_width=0.025, x_range=(130, 310))
    assert len(zoomed.layout.annotations) == 3  # zoomed in, they are far enough apart again
    mixed = [Alert("r", "grad_norm_spike", "warning", "grad_norm", 140, 140, "grad_norm spiked", "clip", {}), spikes[0]]
    (label,) = metric_figure(frame, "train_loss", alerts=mixed, char_width=0.025)[0].layout.annotations
    assert label.text == "⚠ grad_norm_spike +1" and "loss_spike" in label.hovertext
    longer = [replace(a, detector="grad_norm_spike") for a in spikes]  # a longer name needs more room
    assert [a.text for a in metric_figure(frame, "train_loss", alerts=longer, char_width=0.025)[0].layout.annotations] \
        == ["⚠ grad_norm_spike ×3"]


def test_chart_plan_by_technique():
    assert [t for t, _ in chart_plan("sft", {"train_loss", "val_loss", "learning_rate"})] == ["Loss", "Learning rate"]
    assert chart_plan("rft", {"reward", "kl", "entropy"})[0] == ("Reward", ["reward"])


def constant(metric: str, value: float, n: int = 200, first: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"run_id": "r", "step": np.arange(first, first + n), "metric": metric,
                         "value": np.full(n, value), "wall_time": np.nan})


def y_span(fig, *, log: bool = False) -> tuple[float, float]:
    lo, hi = fig.layout.yaxis.range  # None (plotly's autorange) fails here
    return (10 ** lo, 10 ** hi) if log else (lo, hi)


def shows(fig, value: float, *, log: bool = False) -> bool:
    """The axis holds the value with a span of 1-50 % of it: ticks label it, float noise stays flat."""
    lo, hi = y_span(fig, log=log)
    return lo < value < hi and 0.01 * value <= hi - lo <= 0.5 * value


@pytest.mark.parametrize("log_y", [False, True])
@pytest.mark.parametrize("robust_y", [False, True])
def test_a_flat_series_sits_on_an_axis_that_shows_its_value(log_y, robust_y):
    # plotly autoranges a zero-span series to -1..1 around it: 1e-5 is then a line on "0" with no label
    fig, _ = metric_figure(constant("learning_rate", 1e-5), "learning_rate", log_y=log_y, robust_y=robust_y)
    assert shows(fig, 1e-5, log=log_y)


def test_flat_range_spans_every_trace_and_leaves_a_moving_series_to_plotly():
    both = pd.concat([constant("train_loss", 2.0), constant("val_loss", 2.0 * (1 + 1e-9))])
    fig = metric_figure(both, ["train_loss", "val_loss"])[0]
    assert shows(fig, 2.0) and shows(fig, 2.0 * (1 + 1e-9))
    apart = pd.concat([constant("train_loss", 2.0), constant("val_loss", 1.0)])
    assert metric_figure(apart, ["train_loss", "val_loss"])[0].layout.yaxis.range is None
    zero = constant("truncated_ratio", 0.0)
    lo, hi = y_span(metric_figure(zero, "truncated_ratio")[0])
    assert lo < 0 < hi and hi - lo <= 1.0


def test_flat_series_after_a_warmup_with_the_robust_range_shows_its_value():
    # a constant schedule after 10 warmup steps: the fitted bulk is flat, the warmup lies below it
    frame = constant("learning_rate", 1e-5)
    frame.loc[:9, "value"] = np.linspace(1e-6, 9e-6, 10)
    fig, note = metric_figure(frame, "learning_rate", robust_y=True)
    assert shows(fig, 1e-5)
    assert note.startswith("10 point(s) outside the y-range")  # the count matches the axis drawn


def test_overlay_of_flat_series_shows_their_value():
    fig = overlay_figure({"a": constant("learning_rate", 1e-5), "b": constant("learning_rate", 1e-5)}, "learning_rate")
    assert shows(fig, 1e-5)
    assert shows(overlay_figure({"a": constant("learning_rate", 1e-5)}, "learning_rate", log_y=True), 1e-5, log=True)
