"""Plotly figure builders and spike-preserving downsampling (no streamlit here).

Charts never hide a spike: a series longer than ``MAX_POINTS`` is reduced for display with
MinMaxLTTB (``tsdownsample``), which keeps each bucket's extremes and the first and last points.
Detectors never see downsampled data - only the browser does. Non-finite values (NaN, +-inf) are
not drawn as a line; they are marked where they occurred.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_POINTS = 2000


def downsample(x: np.ndarray, y: np.ndarray, n_out: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (x, y) to about ``n_out`` points with MinMaxLTTB; short series pass through."""
    if len(x) <= n_out:
        return x, y
    from tsdownsample import MinMaxLTTBDownsampler

    index = MinMaxLTTBDownsampler().downsample(x.astype(np.float64), y.astype(np.float64), n_out=n_out)
    index = np.unique(np.concatenate([[0], index, [len(x) - 1]]))  # first and last always kept
    return x[index], y[index]


def series(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    part = frame[frame["metric"] == metric]
    return part["step"].to_numpy(), part["value"].to_numpy(dtype=np.float64)


def metric_figure(frame: pd.DataFrame, metric: str, *, title: str | None = None, log_y: bool = False):
    """A line chart of one metric: downsampled finite points, non-finite points marked in red."""
    import plotly.graph_objects as go

    steps, values = series(frame, metric)
    finite = np.isfinite(values)
    x, y = downsample(steps[finite], values[finite])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=metric, line={"width": 1.5}))
    if (~finite).any():
        bad = steps[~finite]
        fig.add_trace(go.Scatter(
            x=bad, y=np.full(len(bad), np.nanmax(y) if len(y) else 0.0), mode="markers", name="NaN / inf",
            marker={"color": "crimson", "symbol": "x", "size": 9},
            hovertext=[f"step {s}: {v}" for s, v in zip(bad, values[~finite])], hoverinfo="text",
        ))
    fig.update_layout(
        title=title or metric, height=280, margin={"l": 40, "r": 10, "t": 40, "b": 30},
        xaxis_title="step", showlegend=bool((~finite).any()),
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig
