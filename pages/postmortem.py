"""Post-mortem page: exports, what went wrong first (the recipe finding that explains it, when one does),
the main metric's chart with every incident on it, the alerts in order with evidence and remediation."""

import pandas as pd
import streamlit as st

from forge_monitor.incidents import step_window
from forge_monitor.plotting import chart_plan, metric_figure
from forge_monitor.report import alerts_json, first_cause, frame_csv, frame_parquet, html_report, recipe_findings, timeline
from forge_monitor.ui.components import alert_card, plain
from forge_monitor.ui import state

state.through_the_app("postmortem")
run, report = st.session_state.get("selected") or (None, None)
st.title("Post-mortem")
if run is None:
    st.info("Pick a run in the sidebar.")
    st.stop()
st.caption(plain(run.info.run_id))
safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.info.run_id)
columns = st.columns(4)
# Each export is built when it is clicked, not on every rerun (the HTML report draws every chart).
columns[0].download_button("HTML report", lambda: html_report([(run, report)], title=f"Post-mortem: {run.info.run_id}"),
                           file_name=f"{safe}-report.html", mime="text/html", key="dl-html", on_click="ignore")
columns[1].download_button("Metrics (CSV)", lambda: frame_csv(run.frame), file_name=f"{safe}.csv", mime="text/csv",
                           key="dl-csv", on_click="ignore")
columns[2].download_button("Metrics (Parquet)", lambda: frame_parquet(run.frame), file_name=f"{safe}.parquet",
                           mime="application/octet-stream", key="dl-parquet", on_click="ignore")
columns[3].download_button("Alerts (JSON)", lambda: alerts_json(report), file_name=f"{safe}-alerts.json",
                           mime="application/json", key="dl-json", on_click="ignore")

findings = recipe_findings(run.info, getattr(run.live, "description", None))
cause = first_cause(report, findings, window=step_window(run.frame["step"]))
if cause:
    alert, finding = cause["alert"], cause["finding"]
    seen = f"`{alert.detector}` at step {alert.step} — {plain(alert.message)}"
    if finding:
        st.markdown(f"**What went wrong first:** the recipe — `{finding.rule}`: {plain(finding.message)}. "
                    f"It shows first as {seen}")
        st.info(f"**Change first:** {plain(finding.remediation)}")
    else:
        st.markdown(f"**What went wrong first:** {seen}")

# The main metric of the run (its first chart), at full range, with every incident on it.
metrics = {str(m) for m in run.frame["metric"].unique()}  # tens of names, not a string per row
plan = chart_plan(run.info.technique, metrics)
if plan:
    title, group = plan[0]
    fig, note = metric_figure(run.frame, group, title=title, alerts=[a for a in report.alerts if a.metric in group],
                              context_alerts=[a for a in report.alerts if a.metric not in group], robust_y=False,
                              height=320)
    st.plotly_chart(fig, key="pm-chart")
    if note:
        st.caption(plain(note))

rows = timeline(report)
if rows:
    st.dataframe(pd.DataFrame([{k: r[k] for k in ("order", "step", "step_end", "severity", "detector", "metric", "message")}
                               for r in rows]), hide_index=True,
                 column_config={"message": st.column_config.TextColumn(width="large")})
    for index, alert in enumerate(report.alerts):
        alert_card(alert, key=f"pm-alert-{index}")
else:
    st.success("No alerts on this run.")
