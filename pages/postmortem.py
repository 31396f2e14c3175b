"""Post-mortem page: what went wrong first, in order, with evidence and remediation; exports."""

import pandas as pd
import streamlit as st

from forge_monitor.report import alerts_json, frame_csv, frame_parquet, html_report, timeline
from forge_monitor.ui.components import alert_card, plain

run, report = st.session_state.get("selected") or (None, None)
st.title("Post-mortem")
if run is None:
    st.info("Pick a run in the sidebar.")
    st.stop()
st.caption(plain(run.info.run_id))
safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.info.run_id)
columns = st.columns(4)
columns[0].download_button("HTML report", html_report([(run, report)], title=f"Post-mortem: {run.info.run_id}"),
                           file_name=f"{safe}-report.html", mime="text/html", key="dl-html")
columns[1].download_button("Metrics (CSV)", frame_csv(run.frame), file_name=f"{safe}.csv", mime="text/csv", key="dl-csv")
columns[2].download_button("Metrics (Parquet)", frame_parquet(run.frame), file_name=f"{safe}.parquet",
                           mime="application/octet-stream", key="dl-parquet")
columns[3].download_button("Alerts (JSON)", alerts_json(report), file_name=f"{safe}-alerts.json",
                           mime="application/json", key="dl-json")


rows = timeline(report)
if rows:
    first = rows[0]
    st.markdown(f"**What went wrong first:** `{first['detector']}` at step {first['step']} — {plain(first['message'])}")
    st.dataframe(pd.DataFrame([{k: r[k] for k in ("order", "step", "step_end", "severity", "detector", "metric", "message")}
                               for r in rows]), hide_index=True,
                 column_config={"message": st.column_config.TextColumn(width="large")})
    for index, alert in enumerate(report.alerts):
        alert_card(alert, key=f"pm-alert-{index}")
else:
    st.success("No alerts on this run.")

