"""The fleet overview: one row per run, worst first, answering "which of my runs needs me?".

A row holds the run's name, technique, status, last step, when its last data point arrived, the
alert counts by severity, the worst alert in one line and a sparkline of its main metric (reward for
RL, else the training loss). Runs that could not be read are rows too, with the reason: a broken log
is a run that needs attention, not one to hide.

Status: a CloudWatch training job's own status where there is one (InProgress, Completed, Failed,
Stopped); otherwise from the data: ``stalled`` when the ``stalled`` detector holds, ``running`` when
the last data arrived within ``RUNNING_WINDOW``, else ``finished``. Order: critical, warning, could not
be read, info, healthy; within each, the most recent data first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .alerts import Severity

RUNNING_WINDOW = 15 * 60  # seconds since the last data point within which a local run counts as running
COPIED_AFTER = 86400  # a file modified this long after its newest data point was copied, not written by the run
SPARK_POINTS = 60  # MinMaxLTTB keeps each bucket's extremes: a spike survives in 60 points
_JOB_STATUS = {"InProgress": "running", "Completed": "finished", "Failed": "failed", "Stopped": "stopped",
               "Stopping": "stopped"}
_RANK = {"critical": 0, "warning": 1, "unreadable": 2, "info": 3, "healthy": 4}


@dataclass
class FleetRow:
    run_id: str
    technique: str = ""
    status: str = ""
    last_step: int | None = None
    last_data_at: float | None = None  # epoch seconds
    counts: dict = field(default_factory=lambda: {"critical": 0, "warning": 0, "info": 0})
    worst: str = ""  # the worst alert in one line, or the reason a run could not be read
    metric: str = ""  # the sparkline's metric
    spark: list = field(default_factory=list)
    from_files: bool = False  # the status came from the files' times, not from a job status

    @property
    def level(self) -> str:
        """critical / warning / info / healthy, or ``unreadable``."""
        if self.status == "unreadable":
            return "unreadable"
        return next((level for level in ("critical", "warning", "info") if self.counts[level]), "healthy")

    def status_at(self, now: float) -> str:
        """The status as of ``now``: a local run judged running when its row was made becomes finished
        once its data is older than the running window (a row is kept while its files do not change)."""
        if self.status == "running" and self.from_files and self.last_data_at is not None \
                and now - self.last_data_at > RUNNING_WINDOW:
            return "finished"
        return self.status

    def sort_key(self) -> tuple:
        return _RANK[self.level], -(self.last_data_at or 0.0), self.run_id


def main_metric(technique: str, metrics: set[str]) -> str | None:
    """What the sparkline shows: the reward of an RL run, else the training loss (else the reward)."""
    order = ("reward", "train_loss") if technique in ("rft", "ppo") else ("train_loss", "reward")
    return next((m for m in order if m in metrics), None)


def sparkline(frame, metric: str, points: int = SPARK_POINTS) -> list[float]:
    """The metric's values downsampled to at most ``points`` with MinMaxLTTB (extremes kept); NaN
    and infinities left out (a sparkline cannot draw them; the alerts say so)."""
    from .plotting import downsample, series

    steps, values = series(frame, metric)
    keep = np.isfinite(values)
    steps, values = steps[keep], values[keep]
    if len(values) > points:
        steps, values = downsample(steps.astype(np.float64), values, points)
    return [float(v) for v in values]


def _last_data_at(run) -> float | None:
    """When the newest data point arrived.

    A local file's modification time, unless the newest wall time in its data is more than a day
    older: then the file was copied or checked out later (the bundled samples, a run fetched for a
    post-mortem) and the data's own time is the truth. Within a day the file time wins, since log
    timestamps are often local time read as UTC. A CloudWatch job: its events' times."""
    live = run.live
    times = []
    for path in (Path(p) for stream in getattr(live, "streams", []) for p in stream):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            continue
    newest = _newest_wall_time(run.frame)
    if not times:
        return newest
    modified = max(times)
    return newest if newest is not None and modified - newest > COPIED_AFTER else modified


def _newest_wall_time(frame) -> float | None:
    wall = frame["wall_time"] if len(frame) else None
    return float(wall.max()) if wall is not None and wall.notna().any() else None


def _status(run, report, last_data_at: float | None, now: float) -> str:
    description = getattr(run.live, "description", None) or {}
    job_status = description.get("status") if isinstance(description, dict) else None
    stalled = any(a.detector == "stalled" for a in report.alerts)
    if job_status in _JOB_STATUS:
        status = _JOB_STATUS[job_status]
        return "stalled" if status == "running" and stalled else status
    if stalled:
        return "stalled"
    if last_data_at is not None and now - last_data_at <= RUNNING_WINDOW:
        return "running"
    return "finished"


def one_line(alert) -> str:
    span = f"step {alert.step}" if alert.step == alert.step_end else f"steps {alert.step}-{alert.step_end}"
    return f"{alert.detector} ({Severity(alert.severity).value}, {span}): {' '.join(alert.message.split())}"


def fleet_row(run, report, *, now: float | None = None, recorded: bool = False) -> FleetRow:
    """``recorded``: the run is a recording (the bundled samples), never running; its files' times
    are when they were checked out, so only the data's own times count."""
    now = time.time() if now is None else now
    info, frame = run.info, run.frame
    alerts = report.alerts
    counts = {level: sum(Severity(a.severity).value == level for a in alerts) for level in ("critical", "warning", "info")}
    worst = min(alerts, key=lambda a: (-Severity(a.severity).rank, a.step), default=None)
    metrics = set(frame["metric"].astype(str).unique()) if len(frame) else set()
    metric = main_metric(info.technique, metrics)
    last_data_at = _newest_wall_time(frame) if recorded else _last_data_at(run)
    status = ("stalled" if any(a.detector == "stalled" for a in alerts) else "finished") if recorded \
        else _status(run, report, last_data_at, now)
    description = getattr(run.live, "description", None)
    from_files = not recorded and not (isinstance(description, dict) and description.get("status") in _JOB_STATUS)
    return FleetRow(
        run_id=info.run_id, technique=info.technique, status=status,
        last_step=int(frame["step"].max()) if len(frame) else None, last_data_at=last_data_at, counts=counts,
        worst=one_line(worst) if worst is not None else "", metric=metric or "",
        spark=sparkline(frame, metric) if metric else [], from_files=from_files,
    )


def unreadable_row(path: str, reason: str) -> FleetRow:
    return FleetRow(run_id=path, status="unreadable", worst=reason)


def fleet_rows(runs, reports: dict, problems=(), *, now: float | None = None, recorded: bool = False) -> list[FleetRow]:
    """Every run (and every file that could not be read) as a row, worst first."""
    rows = [fleet_row(run, reports[run.info.run_id], now=now, recorded=recorded) for run in runs]
    rows += [unreadable_row(str(p.path), p.reason) for p in problems]
    return sorted(rows, key=FleetRow.sort_key)


def ago(seconds: float | None) -> str:
    """``42 s ago``, ``5 min ago``, ``3 h ago``, ``12 days ago``; empty when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = max(0.0, seconds)
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds // 86400)} days ago"
