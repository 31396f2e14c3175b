"""The overview table: fleet rows (``forge_monitor.fleet``) as a dataframe, cached per loaded source."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from ..fleet import ago, fleet_rows

LEVELS = ("critical", "warning", "unreadable", "info", "healthy")


def rows_for(loaded) -> list:
    """The rows of a loaded source. A ``Loaded`` never changes once built (a folder that changed gives
    a new one), so its rows are computed once, then every rerun and every session reuses them."""
    if loaded.overview is None:
        loaded.overview = fleet_rows(loaded.runs, loaded.reports, [*loaded.errors, *loaded.problems],
                                     recorded=loaded.recorded)
    return loaded.overview


def level_counts(rows: list) -> str:
    """"3 critical · 3 warning · 11 healthy": how many rows at each level, the worst first."""
    counts = {level: sum(r.level == level for r in rows) for level in LEVELS}
    return " · ".join(f"{n} {level}" for level, n in counts.items() if n)


def table(rows: list, text: str = "", levels=()) -> pd.DataFrame:
    """The rows shown, filtered by a text in the run's name, worst alert or status, and by level."""
    needle = text.strip().lower()
    now = time.time()
    shown = [r for r in rows if (not levels or r.level in levels)
             and (not needle or needle in f"{r.run_id} {r.worst} {r.status_at(now)} {r.technique}".lower())]
    return pd.DataFrame({
        "Run": [r.run_id for r in shown],
        "Status": [r.status_at(now) for r in shown],
        "critical": [r.counts["critical"] for r in shown],
        "warning": [r.counts["warning"] for r in shown],
        "info": [r.counts["info"] for r in shown],
        "Worst alert": [r.worst or ("no alerts" if r.level == "healthy" else "") for r in shown],
        "Trend": [r.spark for r in shown],
        "Metric": [r.metric for r in shown],
        "Technique": [r.technique.upper() if r.technique and r.status != "unreadable" else "" for r in shown],
        "Last step": [r.last_step for r in shown],
        "Last data": [ago(now - r.last_data_at) if r.last_data_at else "" for r in shown],
    })


COLUMNS = {
    "Run": st.column_config.TextColumn("Run", width="medium", pinned=True),
    "Trend": st.column_config.LineChartColumn("Trend", width="small",
                                             help="The main metric (reward for RL, else the training loss), "
                                                  "downsampled keeping each bucket's extremes"),
    "critical": st.column_config.NumberColumn("critical", width="small"),
    "warning": st.column_config.NumberColumn("warning", width="small"),
    "info": st.column_config.NumberColumn("info", width="small"),
    "Worst alert": st.column_config.TextColumn("Worst alert", width="large"),
    "Last step": st.column_config.NumberColumn("Last step", format="%d"),
}
