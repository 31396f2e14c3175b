"""The x-axis of a run's charts: step, epoch, samples seen, wall time or relative time (M2 of the UX
review; W&B's x-axis selector, TensorBoard's STEP / RELATIVE / WALL).

A run's frame is indexed by step; every other axis is a non-decreasing step -> x map built from what the
run logs (the ``epoch`` and ``consumed_samples`` metrics, the rows' ``wall_time``). Zooms, alerts and
``?step=`` links stay in steps and are drawn through the map; a range dragged on a chart is read back
into steps through its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .frame_facts import remembered

X_AXES = {"step": "step", "epoch": "epoch", "samples": "samples seen", "wall_time": "wall time (UTC)",
          "relative": "relative time"}


@dataclass(frozen=True)
class XAxis:
    """A run's step -> x map (non-decreasing), for drawing against something other than the step.

    Zooms stay in steps (the unit the detectors, the alerts and ``?step=`` links speak): a step range is
    drawn through ``to_x`` and a range dragged on the chart is read back through ``to_step``.
    """

    name: str
    title: str
    steps: np.ndarray  # sorted, unique
    values: np.ndarray  # x at those steps, non-decreasing

    @property
    def date(self) -> bool:
        return self.name == "wall_time"

    def numbers(self, steps) -> np.ndarray:
        """x as numbers (epoch seconds for wall time); linear beyond the ends, not clamped."""
        steps = np.asarray(steps, dtype=np.float64)
        if self.name == "step":
            return steps
        if len(self.steps) == 1:
            return np.full(len(steps), float(self.values[0]))
        out = np.interp(steps, self.steps, self.values)
        for end, (s0, s1, v0, v1) in (("lo", (self.steps[0], self.steps[1], self.values[0], self.values[1])),
                                      ("hi", (self.steps[-2], self.steps[-1], self.values[-2], self.values[-1]))):
            mask = steps < s0 if end == "lo" else steps > s1
            if mask.any() and s1 > s0:
                slope = (v1 - v0) / (s1 - s0)
                out[mask] = (v0 + slope * (steps[mask] - s0)) if end == "lo" else (v1 + slope * (steps[mask] - s1))
        return out

    def to_x(self, steps):
        """What plotly is given: numbers, or UTC datetimes for wall time."""
        x = self.numbers(steps)
        return pd.to_datetime(x, unit="s", utc=True).tz_localize(None) if self.date else x

    def to_step(self, xs) -> np.ndarray:
        """Chart x values (numbers, or date strings for wall time) back to steps."""
        if self.date:
            x = np.array([pd.Timestamp(v).value / 1e9 for v in xs], dtype=np.float64)  # naive = UTC
        else:
            x = np.asarray([float(v) for v in xs], dtype=np.float64)
        if self.name == "step":
            return x
        values, index = np.unique(self.values, return_index=True)  # a flat stretch maps to its first step
        if len(values) < 2:
            return np.full(len(x), float(self.steps[0]))
        return np.interp(x, values, self.steps[index].astype(np.float64))


def _fractional_epoch(steps: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """An epoch counter logged as an integer (Nova: 0 for the whole first epoch) made fractional: each
    epoch's steps spread evenly between it and the next; the last epoch takes the length of the one
    before it. ``steps`` sorted; an epoch starts at the first step logging it (in one pass, no loop per
    step: a 1,000,000-step run has 1,000,000 of them)."""
    whole = np.trunc(epochs).astype(np.int64)  # int(), as an epoch is counted
    keys, first = np.unique(whole, return_index=True)
    starts = steps[first]
    lengths = np.empty(len(keys), dtype=np.int64)
    lengths[:-1] = np.diff(starts)
    lengths[-1] = starts[-1] - starts[-2] if len(keys) > 1 else steps.max() - starts[-1] + 1
    out = epochs.astype(np.float64).copy()
    exact = epochs == whole  # a value already fractional is kept as logged
    at = np.searchsorted(keys, whole[exact])
    out[exact] = whole[exact] + (steps[exact] - starts[at]) / np.maximum(lengths[at], 1)
    return out


def x_axes(frame: pd.DataFrame) -> dict[str, XAxis]:
    """The x-axes a run can be drawn against: step always; epoch and samples when the run logs
    ``epoch`` / ``consumed_samples`` at two or more steps; wall and relative time when its rows carry
    wall times. Each map is made non-decreasing (a restart's clock going back does not fold the axis).

    For a frame the dashboard keeps (``frame_facts.keep_facts``), built once and kept while the frame
    lives: every rerun of a run page (every session of a cached run) asks for them again."""
    return dict(remembered(frame, "x_axes", _build))


def _per_metric(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A metric's finite (step, value) at two or more distinct steps, by step, the first value of a step kept."""
    part = frame[frame["metric"] == metric]
    steps, values = part["step"].to_numpy(), part["value"].to_numpy(dtype=np.float64)
    if len(steps) > 1 and not (np.diff(steps) > 0).all():  # readers emit a metric by step: rarely needed
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
        ok = np.isfinite(values)
        steps, values = steps[ok], values[ok]
        steps, index = np.unique(steps, return_index=True)
        values = values[index]
    else:
        ok = np.isfinite(values)
        steps, values = steps[ok], values[ok]
    return (steps, values) if len(steps) >= 2 else None


def _first_wall_times(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(steps, the earliest finite wall time logged at each), by step."""
    steps = frame["step"].to_numpy()
    wall = frame["wall_time"].to_numpy(dtype=np.float64)
    ok = np.isfinite(wall)
    if not ok.all():  # most runs time every row: no copy of a 7,000,000-row column then
        steps, wall = steps[ok], wall[ok]
    if not len(steps):
        return steps, wall
    low, high = int(steps.min()), int(steps.max())
    if high - low <= len(steps) + 1024:  # dense steps: a slot each, no more slots than rows
        earliest = np.full(high - low + 1, np.inf)
        np.minimum.at(earliest, steps - low, wall)
        seen = np.zeros(high - low + 1, dtype=bool)
        seen[steps - low] = True
        return np.flatnonzero(seen) + low, earliest[seen]
    per_step = pd.Series(wall).groupby(steps).min()
    return per_step.index.to_numpy(), per_step.to_numpy(dtype=np.float64)


def _build(frame: pd.DataFrame) -> dict[str, XAxis]:
    axes = {"step": XAxis("step", "step", np.array([0]), np.array([0.0]))}
    epoch = _per_metric(frame, "epoch")
    if epoch is not None and epoch[1].max() > epoch[1].min():
        steps, values = epoch
        if np.allclose(values, np.round(values)):
            values = _fractional_epoch(steps, values)
        axes["epoch"] = XAxis("epoch", X_AXES["epoch"], steps, np.maximum.accumulate(values))
    samples = _per_metric(frame, "consumed_samples")
    if samples is not None and samples[1].max() > samples[1].min():
        axes["samples"] = XAxis("samples", X_AXES["samples"], samples[0], np.maximum.accumulate(samples[1]))
    steps, wall = _first_wall_times(frame)
    if len(steps) >= 2 and wall.max() > wall.min():
        wall = np.maximum.accumulate(wall)
        axes["wall_time"] = XAxis("wall_time", X_AXES["wall_time"], steps, wall)
        span = wall[-1] - wall[0]
        scale, unit = (3600.0, "h") if span >= 3 * 3600 else (60.0, "min") if span >= 180 else (1.0, "s")
        axes["relative"] = XAxis("relative", f"relative time ({unit})", steps, (wall - wall[0]) / scale)
    return axes
