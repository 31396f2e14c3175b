"""Compare page: runs overlaid and aligned by step, and the sweep table."""

import streamlit as st

from forge_monitor.plotting import overlay_figure
from forge_monitor.sweep import sweep_table

loaded = st.session_state.get("loaded")
st.title("Compare runs")
if loaded is None or not loaded.runs:
    st.info("No runs in this source.")
    st.stop()

runs = {run.info.run_id: run for run in loaded.runs}
sweep = sweep_table(loaded.runs, loaded.reports)
selected = (st.session_state.get("selected") or (None, None))[0]
default = [r for r in runs if r.startswith("sweep-medreason")][:4] or list(runs)[:3]
if selected is not None and selected.info.run_id not in default:  # the run chosen in the overview or the sidebar
    default = [selected.info.run_id, *default[:3]]
chosen = st.multiselect("Runs", list(runs), default=default, key="compare_runs")
if chosen:
    metrics = sorted(set().union(*(set(runs[r].frame["metric"].astype(str).unique()) for r in chosen)))
    columns = st.columns([2, 1, 1])
    metric = columns[0].selectbox("Metric", metrics, index=metrics.index("train_loss") if "train_loss" in metrics else 0,
                                  key="compare_metric")
    smoothing = columns[1].slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="compare_smoothing")
    log_y = columns[2].toggle("Log scale", key="compare_log")
    st.plotly_chart(overlay_figure({r: runs[r].frame for r in chosen}, metric, log_y=log_y, smoothing=smoothing),
                    key="compare-chart")

st.subheader("Sweep table")
if sweep.empty:
    st.caption("No run in this source carries base and tuned scores (an `eval_results.json` next to its log).")
else:
    st.caption("Base and tuned target metric per run, relative gain, place within the dataset, and alerts per run.")
    st.dataframe(sweep, hide_index=True, key="sweep-table",
                 column_config={"LR": st.column_config.NumberColumn(format="%.0e")})
