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
    before it."""
    starts = {}
    for step, epoch in zip(steps, epochs):
        starts.setdefault(int(epoch), step)
    keys = sorted(starts)
    out = epochs.astype(np.float64).copy()
    for i, k in enumerate(keys):
        start = starts[k]
        if i + 1 < len(keys):
            length = starts[keys[i + 1]] - start
        elif i > 0:
            length = start - starts[keys[i - 1]]
        else:
            length = steps.max() - start + 1
        mask = epochs == k
        out[mask] = k + (steps[mask] - start) / max(length, 1)
    return out


def x_axes(frame: pd.DataFrame) -> dict[str, XAxis]:
    """The x-axes a run can be drawn against: step always; epoch and samples when the run logs
    ``epoch`` / ``consumed_samples`` at two or more steps; wall and relative time when its rows carry
    wall times. Each map is made non-decreasing (a restart's clock going back does not fold the axis)."""
    axes = {"step": XAxis("step", "step", np.array([0]), np.array([0.0]))}

    def from_metric(metric):
        part = frame[frame["metric"] == metric].sort_values("step", kind="stable")
        steps, values = part["step"].to_numpy(), part["value"].to_numpy(dtype=np.float64)
        ok = np.isfinite(values)
        steps, values = steps[ok], values[ok]
        if len(np.unique(steps)) < 2:
            return None
        steps, index = np.unique(steps, return_index=True)
        return steps, values[index]

    epoch = from_metric("epoch")
    if epoch is not None and epoch[1].max() > epoch[1].min():
        steps, values = epoch
        if np.allclose(values, np.round(values)):
            values = _fractional_epoch(steps, values)
        axes["epoch"] = XAxis("epoch", X_AXES["epoch"], steps, np.maximum.accumulate(values))
    samples = from_metric("consumed_samples")
    if samples is not None and samples[1].max() > samples[1].min():
        axes["samples"] = XAxis("samples", X_AXES["samples"], samples[0], np.maximum.accumulate(samples[1]))
    timed = frame[np.isfinite(frame["wall_time"].to_numpy(dtype=np.float64))]
    if len(timed):
        per_step = timed.groupby("step", observed=True)["wall_time"].min()
        if len(per_step) >= 2 and per_step.max() > per_step.min():
            steps = per_step.index.to_numpy()
            wall = np.maximum.accumulate(per_step.to_numpy(dtype=np.float64))
            axes["wall_time"] = XAxis("wall_time", X_AXES["wall_time"], steps, wall)
            span = wall[-1] - wall[0]
            scale, unit = (3600.0, "h") if span >= 3 * 3600 else (60.0, "min") if span >= 180 else (1.0, "s")
            axes["relative"] = XAxis("relative", f"relative time ({unit})", steps, (wall - wall[0]) / scale)
    return axes
