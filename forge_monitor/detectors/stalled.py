"""``stalled``: no new data for a long time.

Live (``RunInfo.live``): the time since the reader last saw new data (or, before any, the newest
timestamp in the log) exceeds ``seconds``. Post-mortem: a gap longer than ``seconds`` between two logged steps
(SageMaker Debugger's StalledTrainingRule uses 1800 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..alerts import Severity
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class StalledConfig:
    seconds: float = setting(1800.0, "seconds without new data that count as stalled", low=1)


def check(frame, info, config: StalledConfig):
    steps, times = _latest_per_step(frame)
    last_seen = getattr(info, "last_data_at", None)
    if not len(steps) and not (getattr(info, "live", False) and last_seen):
        return skipped("stalled", "the log has no timestamps (and the run is not being followed live)")
    alerts = []
    if len(steps):
        gaps = np.diff(times)
        for i in np.flatnonzero(gaps > config.seconds):
            alerts.append(make_alert(
                info, "stalled", Severity.WARNING, "wall_time", int(steps[i]), int(steps[i + 1]),
                f"no data for {gaps[i] / 60:.0f} min between step {int(steps[i])} and step {int(steps[i + 1])} "
                f"(threshold {config.seconds / 60:.0f} min)",
                "Look at the job around that time: a hung data loader, a collective (NCCL) timeout, a slow checkpoint "
                "write, or a node replaced under the job.", gap_seconds=float(gaps[i]), threshold_seconds=config.seconds))
        # Live, the reader's clock says when data last arrived (a replayed or old log has old timestamps);
        # the log's own newest timestamp is the fallback.
        last_seen = last_seen or float(times[-1])
    if getattr(info, "live", False) and last_seen:
        idle = time.time() - last_seen
        if idle > config.seconds:
            last_step = int(frame["step"].max()) if len(frame) else 0
            alerts.append(make_alert(
                info, "stalled", Severity.CRITICAL, "wall_time", last_step, last_step,
                f"no new data for {idle / 60:.0f} min since step {last_step} (threshold {config.seconds / 60:.0f} min)",
                "Check the job is still running (status, instance health) and whether it is stuck: data loader, "
                "collective timeout, checkpoint upload. A stalled job keeps billing.",
                idle_seconds=idle, threshold_seconds=config.seconds))
    return alerted("stalled", alerts)


def _latest_per_step(frame) -> tuple[np.ndarray, np.ndarray]:
    """(steps, the latest wall time logged at each), by step; rows without a wall time left out. Dense
    steps get a slot each (no groupby over every row: a quarter of a second on a million-step run)."""
    steps = frame["step"].to_numpy()
    wall = frame["wall_time"].to_numpy(dtype=np.float64)
    timed = ~np.isnan(wall)
    if not timed.all():  # a Nova log times every line: no copy of a million rows then
        steps, wall = steps[timed], wall[timed]
    if not len(steps):
        return steps, wall
    low, high = (int(steps.min()), int(steps.max())) if steps.dtype.kind in "iu" else (0, np.inf)
    if high - low > len(steps) + 1024:
        by_step = pd.Series(wall).groupby(steps).max()
        return by_step.index.to_numpy(), by_step.to_numpy(dtype=np.float64)
    latest = np.full(high - low + 1, -np.inf)
    np.maximum.at(latest, steps - low, wall)
    seen = np.zeros(high - low + 1, dtype=bool)
    seen[steps - low] = True
    return np.flatnonzero(seen) + low, latest[seen]
