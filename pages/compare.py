"""Compare page: runs overlaid and aligned by step, several metrics at once (one colour per run in every
chart, every run in the hover, raw lines under the smoothed ones), and the sweep table."""

import streamlit as st

from forge_monitor.compare import default_metrics, run_colors, short_names, step_notes
from forge_monitor.plotting import overlay_figure
from forge_monitor.sweep import SWEEP_HELP, SWEEP_PINNED, sweep_table
from forge_monitor.ui.components import plain
from forge_monitor.ui import state

state.through_the_app("compare")
loaded = st.session_state.get("loaded")
st.title("Compare runs")
if loaded is None or not loaded.runs:
    st.info("No runs in this source.")
    st.stop()

runs = {run.info.run_id: run for run in loaded.runs}
colors = run_colors(runs)
sweep = sweep_table(loaded.runs, loaded.reports)
selected = (st.session_state.get("selected") or (None, None))[0]
default = [r for r in runs if r.startswith("sweep-medreason")][:4] or list(runs)[:3]
if selected is not None and selected.info.run_id not in default:  # the run chosen in the overview or the sidebar
    default = [selected.info.run_id, *default[:3]]
chosen = st.multiselect("Runs", list(runs), default=default, key="compare_runs",
                        help="Each run keeps one colour in every chart. Rows ticked in the sweep table below are added.")
if chosen:
    metrics = sorted(set().union(*(set(runs[r].frame["metric"].astype(str).unique()) for r in chosen)))
    columns = st.columns([3, 1, 1])
    shown = columns[0].multiselect("Metrics", metrics, default=default_metrics(metrics), key="compare_metrics",
                                   placeholder="pick metrics to compare")
    smoothing = columns[1].slider("Smoothing (raw line stays visible)", 0.0, 0.99, 0.6, 0.01, key="compare_smoothing")
    log_y = columns[2].toggle("Log scale", key="compare_log")
    notes = step_notes(runs[r] for r in chosen)
    if notes and len(chosen) > 1:
        st.warning("Not aligned with the others by optimizer step: "
                   + "; ".join(f"{plain(r)} ({plain(n)})" for r, n in notes.items()))
    names = short_names(chosen)
    frames = {r: runs[r].frame for r in chosen}
    alerts = {r: loaded.reports[r].alerts for r in chosen}
    # A grid of two per row (stacked on a narrow screen); one metric takes the whole width.
    cells = [column for _ in range((len(shown) + 1) // 2) for column in st.columns(2)] if len(shown) > 1 else [st.container()]
    for cell, metric in zip(cells, shown):
        with cell:
            st.plotly_chart(overlay_figure(frames, metric, log_y=log_y, smoothing=smoothing, colors=colors,
                                           names=names, alerts=alerts),
                            key=f"compare-chart-{metric}")

st.subheader("Sweep table")
in_sweep = not sweep.empty and bool(set(chosen) & set(sweep["run id"]))
if sweep.empty:
    st.caption("No run in this source carries base and tuned scores (an `eval_results.json` next to its log).")
else:
    st.caption("One row per run with base and tuned scores (an `eval_results.json` next to its log). Tick rows to "
               "add those runs to the charts above. Hover a column name for what it means."
               + ("" if in_sweep else " None of the runs compared above is in it."))

    def add_ticked():
        rows = st.session_state["sweep-table"]["selection"]["rows"]
        ids = [sweep.loc[i, "run id"] for i in rows]
        current = st.session_state.get("compare_runs", [])
        st.session_state["compare_runs"] = current + [r for r in ids if r not in current]

    # Shown open when a run compared above is in it; folded away when the runs compared are others (RL runs).
    with st.container() if in_sweep else st.expander(f"{len(sweep)} run(s) with scores"):
        st.dataframe(sweep, hide_index=True, key="sweep-table", on_select=add_ticked, selection_mode="multi-row",
                     column_order=[c for c in sweep.columns if c != "run id"],
                     column_config={name: st.column_config.Column(help=text, pinned=name in SWEEP_PINNED)
                                    for name, text in SWEEP_HELP.items()}
                     | {"learning rate": st.column_config.NumberColumn(format="%.0e", help=SWEEP_HELP["learning rate"])})
