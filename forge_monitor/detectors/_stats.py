"""Shared math for detectors: series access, trailing robust statistics, event runs.

Every statistic here is *causal*: the value at a point uses only earlier points, so a detector run
on a growing prefix of a run says at a step what it will still say later (alerts are not
silently withdrawn), and a point never inflates its own baseline.
"""

from __future__ import annotations

import threading

import bottleneck
import numpy as np
import pandas as pd

# Each frame's metrics split once per run_checks; one cache per thread, since folders are checked on
# several threads at once and one thread's clear_cache() must not pull an entry from under another.
_LOCAL = threading.local()
MAD_TO_SIGMA = 0.6745
LEVEL_WINDOW = 20  # points whose median is "the level before" a point  # Iglewicz-Hoaglin: z = 0.6745 * (x - median) / MAD


def _cache() -> dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]]:
    if not hasattr(_LOCAL, "cache"):
        _LOCAL.cache = {}
    return _LOCAL.cache


def clear_cache() -> None:
    _cache().clear()


def _split(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    key = (id(frame), len(frame))
    cache = _cache()
    if key not in cache:
        parts = {}
        if len(frame):
            codes, names, grouped = _metric_codes(frame["metric"])
            steps, values = frame["step"].to_numpy(), frame["value"].to_numpy(dtype=np.float64)
            # Readers emit each metric's rows together (codes then never go down): each metric is a
            # slice of the columns, no sort and no copy.
            order = None if grouped else np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes if grouped else codes[order], np.arange(len(names) + 1))
            for i, name in enumerate(names):
                if bounds[i] == bounds[i + 1]:
                    continue  # a category no row holds
                rows = slice(bounds[i], bounds[i + 1]) if grouped else order[bounds[i]:bounds[i + 1]]
                s, v = steps[rows], values[rows]
                if len(s) > 1 and (s[1:] < s[:-1]).any():
                    o = np.argsort(s, kind="stable")
                    s, v = s[o], v[o]
                parts[str(name)] = _read_only(s, v)
        cache[key] = parts
    return cache[key]


def _metric_codes(metric: pd.Series) -> tuple[np.ndarray, pd.Index, bool]:
    """``(codes, names, grouped)``: each row's metric as an index into ``names``, in the order the
    metrics first appear; ``grouped`` when each metric's rows are together (codes never go down)."""
    if isinstance(metric.dtype, pd.CategoricalDtype) and not metric.hasnans:
        # The readers' frames: small integer codes already, nothing to hash. Grouped in category
        # order, the categories are also the order of first appearance.
        codes = metric.cat.codes.to_numpy()
        if len(codes) < 2 or (codes[1:] >= codes[:-1]).all():
            return codes, metric.cat.categories, True
    codes, names = pd.factorize(metric, sort=False)
    return codes, names, len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all())


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shared by every detector of a run_checks: one that wrote into them would change what the
    others see, so writing raises instead."""
    for array in arrays:
        array.flags.writeable = False
    return arrays


_NO_SERIES = _read_only(np.array([], dtype=np.int64), np.array([]))


def series(frame: pd.DataFrame, metric: str, *, finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one metric, sorted by step; ``finite=True`` drops NaN and +-inf.

    Both forms are kept with the frame's split until ``clear_cache``: the detectors ask for the same
    few series again and again (the train loss, the epoch at each alert), a pass over a million
    points each time."""
    parts = _split(frame)
    if not finite:
        return parts.get(metric, _NO_SERIES)
    kept = _cache().setdefault((id(frame), len(frame), "finite"), {})
    if metric not in kept:
        steps, values = parts.get(metric, _NO_SERIES)
        keep = np.isfinite(values)
        kept[metric] = (steps, values) if keep.all() else _read_only(steps[keep], values[keep])
    return kept[metric]


def metric_names(frame: pd.DataFrame) -> list[str]:
    return list(_split(frame))


def moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Mean of every ``width`` consecutive values ('valid' mode), O(n) via a cumulative sum."""
    if width < 1 or len(values) < width:
        return np.array([])
    total = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return (total[width:] - total[:-width]) / width


def rolling_median(values: np.ndarray, window: int, min_periods: int, *, before: bool = False) -> np.ndarray:
    """Median of the last ``window`` values at each point, NaN until ``min_periods`` of them are
    numbers (NaN and +-inf are left out, as pandas' rolling median does). ``before``: of the values before each
    point, not including it (a point never sits in its own baseline).

    Bottleneck's moving median: the values of ``pd.Series.rolling(...).median()`` (checked equal to the
    last bit in tests/test_detector_series.py), four to five times faster on a million points."""
    values = np.asarray(values, dtype=np.float64)
    if min_periods > window:
        raise ValueError(f"min_periods {min_periods} must be <= window {window}")  # as pandas says
    if min_periods > len(values):  # never enough points (bottleneck wants a window within the series)
        return np.full(len(values), np.nan)
    if np.isinf(values).any():
        values = np.where(np.isinf(values), np.nan, values)  # pandas leaves +-inf out as it does NaN
    median = bottleneck.move_median(values, min(window, len(values)), min_count=min_periods)
    if not before:
        return median
    shifted = np.empty_like(median)
    shifted[0] = np.nan
    shifted[1:] = median[:-1]
    return shifted


def trailing_robust(values: np.ndarray, window: int, min_history: int, level_window: int = LEVEL_WINDOW
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level, spread and history size from the points *before* each point.

    The level is the median of the last ``level_window`` earlier points (short, so a trending
    curve - a decaying loss - does not leave it behind). The spread is a MAD estimated from the
    median absolute step-to-step change over the last ``window`` earlier points, divided by
    sqrt(2): a slow trend does not inflate it, and one spike moves a median very little.
    """
    level = rolling_median(values, min(level_window, window), 1, before=True)
    change = np.abs(np.diff(values, prepend=np.nan))
    mad = rolling_median(change, window, max(min_history - 1, 1), before=True) / np.sqrt(2)
    count = np.minimum(np.arange(len(values)), window).astype(float)  # finite series: points before i
    level = np.where(count >= min(min_history, level_window), level, np.nan)
    return level, mad, count


def robust_z(values: np.ndarray, median: np.ndarray, mad: np.ndarray, floor: float) -> np.ndarray:
    """0.6745 * (x - median) / MAD, with the MAD floored so a flat history cannot divide by ~0."""
    scale = np.maximum(np.nan_to_num(mad, nan=np.inf), floor)
    return MAD_TO_SIGMA * (values - median) / scale


def runs(mask: np.ndarray, *, gap: int = 0) -> list[tuple[int, int]]:
    """Index ranges [start, end] of True runs; runs separated by at most ``gap`` False are merged."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    out = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev > gap + 1:
            out.append((start, prev))
            start = i
        prev = i
    out.append((start, prev))
    return out


def window_median(values: np.ndarray, start: int, end: int) -> float:
    part = values[max(start, 0):max(end, 0)]
    return float(np.median(part)) if len(part) else float("nan")


def fmt(value: float) -> str:
    """Numbers in messages: 4 significant digits, no noise."""
    if value is None or not np.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def spike_events(values: np.ndarray, *, window: int, min_history: int, z_threshold: float, min_ratio: float,
                 short_ratio: float, log: bool = True, gap: int = 2, floor: float = 1e-12,
                 tail_ratio: float | None = None, tail_quantile: float = 0.95) -> list[dict]:
    """Upward spikes against a trailing window that excludes the point itself.

    A point is a spike when its robust z against the trailing median/MAD exceeds ``z_threshold``
    and it is at least ``min_ratio`` x the trailing median. With fewer than ``min_history`` earlier
    points there is no trustworthy spread, so only a jump of ``short_ratio`` x counts. On ``log``
    scale (losses, norms: scale-free) when every value is positive. With ``tail_ratio``, a spike must
    also be that many times the trailing ``tail_quantile`` (95th percentile, or 1.0: the maximum):
    series whose normal state is bimodal or bursty (RL gradient norms with zero-signal steps, a KL
    that hovers at ~0 with bursts) do not fire on their ordinary highs.
    """
    n = len(values)
    if n < 3:
        return []
    use_log = log and bool((values > 0).all())
    x = np.log(np.maximum(values, floor)) if use_log else values
    # One rolling pass for the level; the spread and the tail are computed only where the cheap
    # ratio test passes (few points), unless that is a large share of the series.
    level = rolling_median(x, min(window, LEVEL_WINDOW), 1, before=True)
    count = np.minimum(np.arange(n), window)
    base_value = np.exp(level) if use_log else level
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(base_value > 0, values / base_value, np.inf)
    ratio = np.nan_to_num(ratio, nan=0.0)
    full = (count >= min_history) & (ratio >= min_ratio)
    short = (count >= 2) & (count < min_history) & (ratio >= short_ratio)
    scale_floor = 0.01 if use_log else max(1e-9, 0.01 * float(np.nanmedian(np.abs(values))))
    z = np.full(n, np.nan)
    idx = np.flatnonzero(full)
    if len(idx) > 0.05 * n:
        _, mad, _ = trailing_robust(x, window, min_history)
        z = robust_z(x, level, mad, scale_floor)
    else:
        for i in idx:
            changes = np.abs(np.diff(x[max(i - window - 1, 0):i]))
            mad = np.median(changes) / np.sqrt(2) if len(changes) else np.inf
            z[i] = MAD_TO_SIGMA * (x[i] - level[i]) / max(mad, scale_floor)
    flagged = short | (full & (np.nan_to_num(z, nan=0.0) > z_threshold))
    if tail_ratio is not None:
        for i in np.flatnonzero(flagged):
            past = values[max(i - window, 0):i]
            if len(past) >= 2 and values[i] < tail_ratio * np.quantile(past, tail_quantile):
                flagged[i] = False
    events = []
    for start, end in runs(flagged, gap=gap):
        peak = start + int(np.argmax(values[start:end + 1]))
        events.append({"start": start, "end": end, "peak": peak, "peak_value": float(values[peak]),
                       "baseline": float(base_value[start]), "ratio": float(ratio[peak]),
                       "z": float(z[peak]) if np.isfinite(z[peak]) else None, "history": int(count[start]),
                       "level_points": int(min(count[start], LEVEL_WINDOW)),
                       "log_scale": use_log})
    return events
