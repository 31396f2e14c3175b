"""Runs page: every run found in the source, its metrics, and a chart of each metric."""

import streamlit as st

from forge_monitor.plotting import metric_figure
from forge_monitor.ui.data import default_source, folder_key, load_folder

source = default_source()
st.sidebar.caption(f"Source: `{source}`")
result = load_folder(str(source), folder_key(source))

st.title("Training runs")
for problem in result.errors + result.problems:
    st.warning(str(problem))
if not result.runs:
    st.info(f"No runs found under {source}.")
    st.stop()

st.dataframe(
    [
        {
            "run": run.info.run_id,
            "format": run.info.format,
            "technique": run.info.technique,
            "platform": run.info.platform,
            "steps": run.frame["step"].nunique(),
            "metrics": run.frame["metric"].nunique(),
            "skipped lines": run.info.lines_skipped,
        }
        for run in result.runs
    ],
    hide_index=True,
)

run_ids = [run.info.run_id for run in result.runs]
chosen = st.selectbox("Run", run_ids, key="run")
run = result.runs[run_ids.index(chosen)]
for warning in run.info.warnings:
    st.caption(f"ℹ️ {warning}")
metrics = sorted(run.frame["metric"].unique())
columns = st.columns(2)
for index, metric in enumerate(metrics):
    with columns[index % 2]:
        st.plotly_chart(metric_figure(run.frame, metric), key=f"chart-{metric}")
