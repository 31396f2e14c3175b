"""Run page: health summary, charts chosen by technique with every alert drawn on them, alerts with
their evidence and remediation beside the charts, and live mode."""

import time

import streamlit as st

from forge_monitor.live import LiveMonitor, detached
from forge_monitor.recipes import RecipeError, explanations, lint, read_recipe
from forge_monitor.plotting import chart_plan, metric_figure
from forge_monitor.ui import state
from forge_monitor.ui.components import alert_card, health_summary, plain

run, report = st.session_state.get("selected") or (None, None)
if run is None:
    st.title("Run")
    st.info("No runs in this source yet: pick the sample logs, an allowed folder or a file in the sidebar.")
    st.stop()

st.title(plain(run.info.run_id))
st.caption(f"{run.info.technique.upper()} · {run.info.format} · platform {run.info.platform}"
           + (f" · {run.info.training_mode}" if run.info.training_mode else "")
           + (f" · recipe {plain(run.info.recipe_path.split('/')[-1])}" if run.info.recipe_path else ""))

controls = st.columns([1, 1, 1, 2])
log_y = controls[0].toggle("Log scale", key=state.LOG_Y)
robust_y = controls[1].toggle("Fit y to the bulk", value=False, key=state.ROBUST_Y,
                              help="Let outliers go off the chart (a note says how many) to see the bulk of the curve.")
live = controls[2].toggle("Live", key=state.LIVE, help="Re-read the log every few seconds (only appended data).")
smoothing = controls[3].slider("Smoothing (raw line stays visible)", 0.0, 0.99, 0.0, 0.01, key=state.SMOOTHING)


# Recipe findings sit next to the alerts they explain.
findings = []
try:
    if run.info.recipe_path:  # a recipe next to the log
        findings = [f for f in lint(read_recipe(run.info.recipe_path))[0] if f.severity != "info"]
    elif getattr(run.live, "description", {}).get("recipe"):  # DescribeTrainingJob
        findings = [f for f in lint(run.live.description["recipe"])[0] if f.severity != "info"]
except RecipeError as err:
    st.warning(str(err))


def render(run, report):
    health_summary(report)
    if findings:
        st.markdown("**Recipe findings:** " + "; ".join(f"`{f.rule}` ({f.severity}): {plain(f.message)}" for f in findings))
    left, right = st.columns([2, 1])
    metrics = set(run.frame["metric"].astype(str).unique())
    plan = chart_plan(run.info.technique, metrics)
    with left:
        for title, group in plan:
            chart_alerts = [a for a in report.alerts if a.metric in group]
            fig, note = metric_figure(run.frame, group, title=title, alerts=chart_alerts, log_y=log_y,
                                      smoothing=smoothing, robust_y=robust_y,
                                      highlight_step=st.session_state.get(state.STEP))
            st.plotly_chart(fig, key=f"chart-{title}")
            if note:
                st.caption(plain(note))
        others = sorted(metrics - {m for _, g in plan for m in g})
        if others:
            with st.expander(f"{len(others)} other metric(s)"):
                chosen = st.multiselect("Metrics", others, default=others[:2], key="other_metrics")
                for metric in chosen:
                    fig, note = metric_figure(run.frame, metric, alerts=[a for a in report.alerts if a.metric == metric],
                                              log_y=log_y, smoothing=smoothing, robust_y=robust_y, height=240)
                    st.plotly_chart(fig, key=f"other-{metric}")
        if hasattr(run.live, "metrics"):  # a CloudWatch job: the instances' utilisation over time
            with st.expander("Instance metrics (CloudWatch)"):
                try:
                    system = run.live.metrics()
                except Exception as err:  # a missing permission here must not cost the charts above
                    st.caption(f"not available: {err}")
                else:
                    if len(system):
                        st.line_chart(system.pivot_table(index="time", columns=["metric"], values="value"))
                    else:
                        st.caption("no instance metrics for this job in CloudWatch")
    with right:
        st.subheader(f"Alerts ({len(report.alerts)})")
        for index, alert in enumerate(report.alerts):
            alert_card(alert, key=f"alert-{index}")
            for sentence in explanations(findings, alert.detector):
                st.warning(plain(sentence))
        if run.info.warnings:
            with st.expander("Reading notes"):
                for warning in run.info.warnings:
                    st.caption(plain(warning))


if live:
    monitors = st.session_state.setdefault(state.MONITORS, {})

    @st.fragment(run_every="3s")
    def live_view():
        # This session's own copy: the cached run is shared by every session and never changed.
        # Keyed by source too: the same run id in another folder is another run.
        key = (run.info.source, run.info.run_id)
        monitor = monitors.get(key)
        if monitor is None:
            monitor = monitors[key] = LiveMonitor(detached(run))
        messages, fresh = monitor.update()
        for message in messages:
            st.warning(plain(message))
        frame = monitor.run.live.frame
        last_step = int(frame["step"].max()) if len(frame) else 0
        arrived = monitor.run.live.last_new_data
        ago = f"{time.time() - arrived:.0f} s ago" if arrived else "not yet"
        st.caption(f"live · last step {last_step} arrived {ago} · {len(fresh)} new alert(s) this refresh")
        resolved = [e for e in monitor.ledger.entries if not e.active]
        if resolved:
            st.caption(f"{len(resolved)} earlier alert(s) no longer hold (kept in the post-mortem).")
        render(monitor.run, monitor.report)

    live_view()
else:
    render(run, report)
