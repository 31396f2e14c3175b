"""Plotly figure builders, spike-preserving downsampling and display smoothing (no streamlit here).

Charts never hide a spike: a series longer than ``MAX_POINTS`` is reduced for display with
MinMaxLTTB (``tsdownsample``), which keeps each bucket's extremes and the first and last points.
Detectors never see downsampled or smoothed data - only the browser does. Non-finite values
(NaN, +-inf) are not drawn as a line; they are marked where they occurred. Every alert is drawn on
its chart: a shaded band over its step range and a marker at its onset with the message on hover.
A flat series (a constant learning rate) gets an explicit y-range around its value, so the axis labels
say what the value is.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .alerts import Severity
from .frame_facts import kept, remembered

MAX_POINTS = 2000
FLAT_SPAN = 1e-6  # a y-span below this share of the value is a flat line (float noise included)
FLAT_PAD = 0.05  # a flat line gets value x (1 +- 5 %), or +- 0.05 around 0
SEVERITY_COLORS = {"info": "#4C78A8", "warning": "#F58518", "critical": "#E45756"}
_LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

# Charts by technique: (title, metrics drawn together).
CHARTS = {
    "fit": [("Loss", ["train_loss", "val_loss"]), ("Learning rate", ["learning_rate"]), ("Gradient norm", ["grad_norm"])],
    "rl": [("Reward", ["reward", "val_reward"]), ("KL to reference", ["kl"]), ("Entropy", ["entropy"]),
           ("Response length", ["response_length"]), ("Truncated completions", ["truncated_ratio"]),
           ("Reward spread", ["reward_std", "frac_reward_zero_std"]), ("Gradient norm", ["grad_norm"])],
    "dpo": [("Loss", ["train_loss", "val_loss"]), ("Reward margin", ["rewards/margins"]), ("Gradient norm", ["grad_norm"]),
            ("Learning rate", ["learning_rate"])],
}


def chart_plan(technique: str, metrics: set[str]) -> list[tuple[str, list[str]]]:
    """The charts a run of this technique gets, keeping only metrics it has."""
    family = "rl" if technique in ("rft", "ppo") else "dpo" if technique == "dpo" else "fit"
    if family == "fit" and "reward" in metrics and "train_loss" not in metrics:
        family = "rl"
    plan = [(title, [m for m in group if m in metrics]) for title, group in CHARTS[family]]
    return [(title, group) for title, group in plan if group]


def downsample_index(x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS) -> np.ndarray:
    """The indices MinMaxLTTB keeps of (x, y) (about ``n_out``, first and last included); all of a
    short series. Shared by a raw line and its smoothed twin, so the hover pairs their values."""
    if len(x) <= n_out:
        return np.arange(len(x))
    from tsdownsample import MinMaxLTTBDownsampler

    index = MinMaxLTTBDownsampler().downsample(x.astype(np.float64), y.astype(np.float64), n_out=n_out)
    return np.unique(np.concatenate([[0], index.astype(np.int64), [len(x) - 1]]).astype(np.int64))


def downsample(x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (x, y) to about ``n_out`` points with MinMaxLTTB; short series pass through."""
    index = downsample_index(x, y, n_out)
    return x[index], y[index]


def smooth(steps: np.ndarray, values: np.ndarray, weight: float) -> np.ndarray:
    """Step-aware, debiased exponential moving average (for display only).

    The decay per point is ``weight ** (step gap / typical gap)``, so a series logged every 10 steps
    and one logged every step smooth alike over the same span of training; the first points are
    debiased (divided by the weight accumulated so far) instead of being pulled towards zero.

    The average ``acc = d * acc + (1 - d) * v`` (and its weight ``norm`` alike) is a chain of affine
    maps, run in blocks of about sqrt(n) points side by side (``_affine_chain``): a million points in
    tens of milliseconds, not a second of Python per chart and rerun.
    """
    if weight <= 0 or len(values) < 2:
        return values.astype(np.float64)
    values = np.asarray(values, dtype=np.float64)
    gaps = np.diff(steps).astype(np.float64)
    typical = float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else 1.0
    decay = np.concatenate([[0.0], weight ** (np.maximum(gaps, 0) / typical)])
    finite = np.isfinite(values)
    # A non-finite point leaves both sums as they were (shown as a marker, not smoothed into neighbours);
    # the first point starts them (acc = v, norm = 1).
    keep = np.where(finite, decay, 1.0)
    keep[0] = 0.0 if finite[0] else 1.0
    acc = _affine_chain(keep, (1 - keep) * np.where(finite, values, 0.0))
    norm = _affine_chain(keep, 1 - keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(norm != 0, acc / np.where(norm != 0, norm, 1.0), values)
    out[~finite] = np.nan
    return out


def _affine_chain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``y[i] = a[i] * y[i - 1] + b[i]`` from ``y[-1] = 0``: each block of about sqrt(n) points is run
    from 0 with the blocks side by side (one numpy step per position in a block), then each block gets
    what came in from the blocks before it, times its running product of ``a``."""
    n = len(a)
    width = max(64, int(np.sqrt(n)))
    blocks = -(-n // width)
    pad = blocks * width - n
    a = np.concatenate([a, np.ones(pad)]).reshape(blocks, width)  # padded with the identity map
    b = np.concatenate([b, np.zeros(pad)]).reshape(blocks, width)
    local = np.empty_like(b)
    running = np.zeros(blocks)
    for j in range(width):
        running = a[:, j] * running + b[:, j]
        local[:, j] = running
    product = np.cumprod(a, axis=1)
    incoming = np.zeros(blocks)
    carry = 0.0
    for k in range(blocks):
        incoming[k] = carry
        carry = product[k, -1] * carry + local[k, -1]
    return (local + product * incoming[:, None]).reshape(-1)[:n]


def robust_range(values: np.ndarray, *, log: bool = False) -> tuple[float, float, int] | None:
    """A y-range that lets outliers go off the chart (with a count), or None when nothing is cut.

    Uses the interquartile range (3 IQR beyond the quartiles), per series, never a blanket
    percentile: a handful of spikes do not flatten the rest of the curve, and the note says how
    many points lie outside.
    """
    finite = values[np.isfinite(values)]
    if log:
        finite = np.log10(finite[finite > 0])
    if len(finite) < 20:
        return None
    q1, q3 = np.percentile(finite, [25, 75])
    iqr = max(q3 - q1, 1e-12)
    lo, hi = max(finite.min(), q1 - 3 * iqr), min(finite.max(), q3 + 3 * iqr)
    outside = int(((finite < lo) | (finite > hi)).sum())
    if outside == 0:
        return None
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad, outside


def flat_range(lo: float, hi: float, *, log: bool = False) -> tuple[float, float] | None:
    """An explicit y-range around a (near-)flat series, or None when the series has a span to show.

    plotly autoranges a zero-span series to +-1 around it, so an LR of 1e-5 held flat is drawn on an
    axis from -1 to 1 whose labels never say 1e-5. A span below ``FLAT_SPAN`` of the value gets
    value x (1 +- ``FLAT_PAD``) instead. On a log axis ``lo`` and ``hi`` are log10 values, as plotly
    takes them.
    """
    mid = (lo + hi) / 2
    if log:
        if hi - lo > np.log10(1 + FLAT_SPAN):
            return None
        return mid + np.log10(1 - FLAT_PAD), mid + np.log10(1 + FLAT_PAD)
    if hi - lo > FLAT_SPAN * max(abs(lo), abs(hi)):
        return None
    pad = FLAT_PAD * abs(mid) or FLAT_PAD
    return mid - pad, mid + pad


def y_range(values: np.ndarray, *, log: bool = False, robust: bool = False) -> tuple[tuple[float, float] | None, int]:
    """A chart's explicit y-range over all its traces (None: plotly's autorange) and the points outside it.

    The range is the robust one when asked for and something is cut, widened by ``flat_range`` when
    what is left is flat (a constant LR after its warmup); the count is against the range drawn.
    """
    finite = values[np.isfinite(values)]
    shown = np.log10(finite[finite > 0]) if log else finite
    if not len(shown):
        return None, 0
    cut = robust_range(finite, log=log) if robust else None
    lo, hi = cut[:2] if cut else (float(shown.min()), float(shown.max()))
    flat = flat_range(lo, hi, log=log)
    if flat is None and cut is None:
        return None, 0
    lo, hi = flat or (lo, hi)
    return (lo, hi), int(((shown < lo) | (shown > hi)).sum())


def series(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one metric, by step: its rows in frame order, sorted only when they are not
    already in step order (readers write a metric's rows in order).

    For a frame the dashboard keeps (``frame_facts.keep_facts``), every metric's series is taken in
    one pass and kept with it, read-only: a run page asks for the same few on every rerun, a pass over
    millions of rows each time. Any other frame gives the one metric, from its rows as they are now."""
    if kept(frame):
        return remembered(frame, "plot_series", _all_series).get(metric, _NO_SERIES)
    rows = (frame["metric"] == metric).to_numpy()
    return _by_step(frame["step"].to_numpy()[rows], frame["value"].to_numpy(dtype=np.float64)[rows])


def _by_step(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(steps) > 1 and not (np.diff(steps) > 0).all():
        order = np.argsort(steps, kind="quicksort")  # what sort_values("step") does
        steps, values = steps[order], values[order]
    return steps, values


def metric_names(frame: pd.DataFrame) -> set[str]:
    """The metrics a run logs (tens of names, not a string per row), worked out once per frame."""
    return set(remembered(frame, "metric_names", lambda f: frozenset(str(m) for m in f["metric"].unique())))


_NO_SERIES = (np.array([], dtype=np.int64), np.array([], dtype=np.float64))
for _array in _NO_SERIES:
    _array.flags.writeable = False


def _all_series(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not len(frame):
        return {}
    codes, names = pd.factorize(frame["metric"], sort=False)
    steps, values = frame["step"].to_numpy(), frame["value"].to_numpy(dtype=np.float64)
    # The readers write each metric's rows together: each metric is then a slice of the columns.
    grouped = len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all())
    order = None if grouped else np.argsort(codes, kind="stable")  # stable: rows stay in frame order
    bounds = np.searchsorted(codes if grouped else codes[order], np.arange(len(names) + 1))
    found = {}
    for i, name in enumerate(names):
        rows = slice(bounds[i], bounds[i + 1]) if grouped else order[bounds[i]:bounds[i + 1]]
        s, v = _by_step(steps[rows], values[rows])  # slices are views: flags set on them, not the frame
        s.flags.writeable = v.flags.writeable = False  # shared by every session: read, never written
        found[str(name)] = (s, v)
    return found


def _label(text) -> str:
    """Plotly renders a subset of HTML in names, titles and hover text (``<a href>`` becomes a link):
    names from a log are shown as text."""
    return html.escape(str(text), quote=False)


# Axis titles: the metric and its unit, where the unit is known (M3 of the UX review).
Y_TITLES = {"train_loss": "loss", "val_loss": "loss", "learning_rate": "learning rate", "grad_norm": "grad norm (L2)",
            "reward": "reward", "val_reward": "reward", "kl": "KL (nats)", "approx_kl": "KL (nats)",
            "entropy": "entropy (nats)", "response_length": "tokens", "truncated_ratio": "share of completions",
            "reward_std": "reward spread", "frac_reward_zero_std": "share of prompts", "throughput": "samples/s",
            "step_time": "s / step", "epoch": "epoch"}
SCIENTIFIC = {"learning_rate", "kl", "approx_kl"}  # 5e-05, not 50µ


def y_title(metrics: list[str]) -> str:
    titles = list(dict.fromkeys(Y_TITLES.get(m, m) for m in metrics))
    return " / ".join(titles)


def metric_figure(frame: pd.DataFrame, metrics: list[str] | str, *, title: str | None = None, alerts=(),
                  log_y: bool = False, smoothing: float = 0.0, robust_y: bool = True, height: int = 300,
                  highlight_step: int | None = None, x_range: tuple[float, float] | None = None,
                  uirevision: str | None = None, select_x: bool = False, context_alerts=(), x_axis=None,
                  char_width: float = 0.008):
    """A chart of one or more metrics with its alerts drawn on it. Returns (figure, note).

    ``char_width``: the share of the chart's width a character of an alert's label takes (about 0.008 on
    a chart the width of the page, 0.025 on one of two side by side): alerts whose labels would print
    over each other share one ("⚠ loss_spike ×2", each alert in its hover text); each keeps its line.

    ``x_range``: the step range shared by a run's charts (a zoom); ``uirevision``: kept constant across
    reruns so the browser keeps what the user did to the chart (plotly's documented way); ``select_x``:
    dragging selects a step range (the page turns it into the shared zoom); ``context_alerts``: alerts
    of other charts drawn as a faint band only (the same incident, seen on every chart it touches);
    ``x_axis``: an ``xaxis.XAxis`` to draw against instead of the step (``x_range``, alerts and the
    highlighted step stay in steps and are drawn through it; the hover still names the step).
    """
    import plotly.graph_objects as go

    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    by_step = x_axis is None or x_axis.name == "step"
    to_x = (lambda s: s) if by_step else x_axis.to_x
    at = (lambda s: s) if by_step else (lambda s: _scalar(x_axis.to_x([s])[0]))
    step_hover = "" if by_step else " (step %{customdata})"
    fig = go.Figure()
    all_values, notes, drawn_steps = [], [], []
    for index, metric in enumerate(metrics):
        color = _LINE_COLORS[index % len(_LINE_COLORS)]
        steps, values = series(frame, metric)
        if len(steps):
            drawn_steps += [steps[0], steps[-1]]
        finite = np.isfinite(values)
        x, y = downsample(steps[finite], values[finite])
        all_values.append(values[finite])
        sparse = len(steps) < 60
        # Sparse series (eval points) are not smoothed: an EMA over 30 points moves their peak (L2).
        smoothed = smoothing and len(steps) > 2 and not sparse
        fig.add_trace(go.Scatter(x=to_x(x), y=y, name=_label(metric), mode="lines+markers" if sparse else "lines",
                                 line={"color": color, "width": 1 if smoothed else 1.6},
                                 opacity=0.35 if smoothed else 1.0, customdata=None if by_step else x,
                                 hovertemplate=f"{_label(metric)}: %{{y:.4g}}{step_hover}<extra></extra>"))
        if smoothed:
            sx, sy = downsample(steps[finite], smooth(steps[finite], values[finite], smoothing))
            fig.add_trace(go.Scatter(x=to_x(sx), y=sy, name=_label(f"{metric} (smoothed)"), mode="lines",
                                     line={"color": color, "width": 2.2}, customdata=None if by_step else sx,
                                     hovertemplate=f"{_label(metric)} (smoothed): %{{y:.4g}}{step_hover}<extra></extra>"))
        if (~finite).any():
            bad = steps[~finite]
            top = np.nanmax(values[finite]) if finite.any() else 0.0
            fig.add_trace(go.Scatter(
                x=to_x(bad), y=np.full(len(bad), top), mode="markers", name=_label(f"{metric}: NaN / inf"),
                marker={"color": SEVERITY_COLORS["critical"], "symbol": "x", "size": 9},
                hovertext=[_label(f"step {s}: {metric} = {v}") for s, v in zip(bad, values[~finite])], hoverinfo="text"))
            notes.append(f"{int((~finite).sum())} non-finite {metric} value(s) marked ✕")
    for alert in alerts:
        color = SEVERITY_COLORS.get(_severity(alert), "#888")
        if alert.step_end > alert.step:
            fig.add_vrect(x0=at(alert.step), x1=at(alert.step_end), fillcolor=color, opacity=0.12, line_width=0)
        fig.add_vline(x=at(alert.step), line={"color": color, "width": 1.5, "dash": "dot"})
    shown = x_range or ((min(drawn_steps), max(drawn_steps)) if drawn_steps else (0, 0))
    for group in label_groups(alerts, char_width * max(float(shown[1]) - float(shown[0]), 1.0)):
        worst = max(group, key=lambda a: Severity(_severity(a)).rank)
        detectors = {a.detector for a in group}
        more = "" if len(group) == 1 else f" ×{len(group)}" if len(detectors) == 1 else f" +{len(group) - 1}"
        fig.add_annotation(x=at(group[0].step), y=1.0, yref="paper", text=f"⚠ {group[0].detector}{more}",
                           showarrow=False, yanchor="bottom",
                           font={"color": SEVERITY_COLORS.get(_severity(worst), "#888"), "size": 11},
                           hovertext="<br><br>".join(wrap_hover(f"{a.detector} ({_severity(a)}) at step {a.step}: "
                                                                f"{a.message}") for a in group))
    for alert in context_alerts:  # another chart's alert at this step range: a faint band, no label
        color = SEVERITY_COLORS.get(_severity(alert), "#888")
        fig.add_vrect(x0=at(alert.step - 0.5), x1=at(max(alert.step_end, alert.step) + 0.5), fillcolor=color,
                      opacity=0.07, line_width=0)
    if highlight_step is not None:  # the step of a shared link (?step=N)
        fig.add_vline(x=at(highlight_step), line={"color": "#555", "width": 1, "dash": "dash"})
    if all_values:
        axis, outside = y_range(np.concatenate(all_values), log=log_y, robust=robust_y)
        if axis:
            fig.update_yaxes(range=list(axis))
        if outside:
            # Not "zoom out": a double-click goes back to the fitted range (L5 of the UX review).
            notes.append(f"{outside} point(s) outside the y-range (the axis is fitted to the bulk; turn off "
                         "'Fit y to the bulk' to see them)")
    # The legend sits above the plot, right-aligned, clear of the step axis title (M3).
    fig.update_layout(title=_label(title or " / ".join(metrics)), height=height, margin={"l": 60, "r": 10, "t": 60, "b": 40},
                      xaxis_title="step" if by_step else x_axis.title, yaxis_title=_label(y_title(metrics)),
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.12, "yanchor": "bottom"},
                      hovermode="x unified", hoverlabel={"namelength": -1})
    if x_range is not None:
        fig.update_xaxes(range=[at(float(x_range[0])), at(float(x_range[1]))])
    if uirevision is not None:
        fig.update_layout(uirevision=uirevision)
    if select_x:  # drag a step range on any chart: every chart of the run zooms to it
        fig.update_layout(dragmode="select", selectdirection="h")
    if set(metrics) <= SCIENTIFIC:
        fig.update_yaxes(exponentformat="e", tickformat=".1e" if not log_y else None)
    if log_y:
        fig.update_yaxes(type="log", **log_ticks(np.concatenate(all_values) if all_values else np.array([])))
    return fig, "; ".join(notes)


def _severity(alert) -> str:
    return str(getattr(alert.severity, "value", alert.severity))


def label_groups(alerts, char_steps: float) -> list[list]:
    """Alerts by step, in groups that share one label: an alert joins the group before it when their
    labels, centred on their steps, would overlap at the top of the chart (``char_steps``: the steps a
    character of a label spans; a label is ``⚠ name ×n``)."""
    def half_width(alert) -> float:
        return (len(alert.detector) + 5) * char_steps / 2

    groups: list[list] = []
    for alert in sorted(alerts, key=lambda a: a.step):
        if groups and alert.step - groups[-1][0].step < half_width(groups[-1][0]) + half_width(alert):
            groups[-1].append(alert)
        else:
            groups.append([alert])
    return groups


def log_ticks(values: np.ndarray) -> dict:
    """Log-axis labels at powers of ten only, with unlabelled minor ticks between, when the data spans a
    decade or more (plotly's default labels "5" and "2" between 0.01 and 0.1 read as values, L1 of the
    review); plotly's own ticks otherwise (within one decade they are the only labels there are)."""
    positive = values[np.isfinite(values) & (values > 0)]
    if len(positive) < 2 or np.log10(positive.max()) - np.log10(positive.min()) < 1:
        return {}
    return {"dtick": 1, "minor": {"dtick": "D1", "ticks": "inside", "showgrid": False}}


def _scalar(x):
    """One x for plotly: a number, or an ISO string for a date axis (shapes on a date axis take strings)."""
    return x.isoformat() if isinstance(x, pd.Timestamp) else float(x)


def wrap_hover(text: str, width: int = 70) -> str:
    """Hover text broken into lines (plotly draws a hover label on one line, clipped at the chart's
    edges, L1 of the review): escaped, then joined with <br>."""
    import textwrap

    return "<br>".join(_label(line) for line in textwrap.wrap(str(text), width)) or _label(text)


def overlay_figure(frames: dict[str, pd.DataFrame], metric: str, *, log_y: bool = False, smoothing: float = 0.0,
                   colors: dict[str, str] | None = None, names: dict[str, str] | None = None, alerts=None,
                   height: int = 380, title: str | None = None):
    """Several runs' ``metric`` aligned by step (the Compare page).

    ``colors``: run id -> colour (the same in every chart); ``names``: run id -> legend name. With
    smoothing, each run's raw line stays visible, faded, under its smoothed line, and the hover shows
    both values. The hover is unified: every run's value at the step under the cursor. ``alerts``: run
    id -> alerts, the ones on ``metric`` marked at their onset on that run's line.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    drawn = []
    for index, (run_id, frame) in enumerate(frames.items()):
        steps, values = series(frame, metric)
        finite = np.isfinite(values)
        if not finite.any():
            continue
        color = (colors or {}).get(run_id) or _LINE_COLORS[index % len(_LINE_COLORS)]
        name = _label((names or {}).get(run_id, run_id))
        x, raw = steps[finite], values[finite]
        keep = downsample_index(x, raw)
        drawn.append(raw)
        smoothed = smoothing > 0 and len(x) > 2 and len(x) >= 60  # sparse eval points are not smoothed (L2)
        fig.add_trace(go.Scatter(x=x[keep], y=raw[keep], name=name, legendgroup=run_id, showlegend=not smoothed,
                                 mode="lines+markers" if len(x) < 60 else "lines", opacity=0.3 if smoothed else 1.0,
                                 line={"color": color, "width": 1 if smoothed else 1.8},
                                 hoverinfo="skip" if smoothed else None,
                                 hovertemplate=None if smoothed else f"{name}: %{{y:.4g}}<extra></extra>"))
        if smoothed:
            ema = smooth(x, raw, smoothing)
            fig.add_trace(go.Scatter(x=x[keep], y=ema[keep], name=name, legendgroup=run_id, mode="lines",
                                     line={"color": color, "width": 2.2}, customdata=raw[keep],
                                     hovertemplate=f"{name}: %{{y:.4g}} (raw %{{customdata:.4g}})<extra></extra>"))
        for alert in (alerts or {}).get(run_id, ()):
            if alert.metric != metric:
                continue
            at = np.searchsorted(x, alert.step)
            y = raw[min(at, len(raw) - 1)]
            severity = _severity(alert)
            fig.add_trace(go.Scatter(
                x=[alert.step], y=[y], mode="markers", legendgroup=run_id, showlegend=False,
                marker={"color": color, "symbol": "triangle-up", "size": 11,
                        "line": {"color": SEVERITY_COLORS.get(severity, "#888"), "width": 2}},
                hovertemplate=wrap_hover(f"{name}: {alert.detector} ({severity}) at step {alert.step}: {alert.message}")
                + "<extra></extra>"))
    fig.update_layout(title=_label(title or metric), height=height, xaxis_title="step",
                      yaxis_title=_label(y_title([metric])), hovermode="x unified", hoverlabel={"namelength": -1},
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
                      margin={"l": 60, "r": 10, "t": 70, "b": 40})
    axis = y_range(np.concatenate(drawn), log=log_y)[0] if drawn else None
    if axis:  # runs that all held one value (a constant LR): an axis whose labels show it
        fig.update_yaxes(range=list(axis))
    if metric in SCIENTIFIC:
        fig.update_yaxes(exponentformat="e", tickformat=".1e" if not log_y else None)
    if log_y:
        fig.update_yaxes(type="log")
    return fig
