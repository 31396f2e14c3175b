"""Run page: health summary, charts chosen by technique with every alert drawn on them (one zoom shared
by every chart), incidents with the evidence of each alert and the recipe cause said once, and live mode."""

import time

import streamlit as st

from forge_monitor.frame_facts import keep_facts
from forge_monitor.incidents import frame_window, group_incidents
from forge_monitor.live import LiveMonitor, detached
from forge_monitor.alerts import Severity
from forge_monitor.recipes import RecipeError, explanations, lint, read_recipe
from forge_monitor.recipes.checks import EXPLAINS
from forge_monitor.plotting import chart_plan, metric_figure, metric_names
from forge_monitor.report import chart_csv
from forge_monitor.xaxis import x_axes
from forge_monitor.ui import state
from forge_monitor.ui.data import detector_config
from forge_monitor.ui.components import (ICONS, chart_key, health_summary, incident_card, plain, set_zoom,
                                         take_selected_zoom, zoom_bar)

state.through_the_app("run")
run, report = st.session_state.get("selected") or (None, None)
if run is None:
    st.title("Run")
    st.info("No runs in this source yet: pick the sample logs, an allowed folder or a file in the sidebar.")
    st.stop()

keep_facts(run.frame)  # this page never changes a run's frame: its axes and series are kept with it
st.title(plain(run.info.run_id))
st.caption(f"{run.info.technique.upper()} · {run.info.format} · platform {run.info.platform}"
           + (f" · {run.info.training_mode}" if run.info.training_mode else "")
           + (f" · recipe {plain(run.info.recipe_path.split('/')[-1])}" if run.info.recipe_path else ""))

controls = st.columns([0.9, 1.3, 0.8, 1.2, 1, 1.8])
log_y = controls[0].toggle("Log scale", key=state.LOG_Y)
robust_y = controls[1].toggle("Fit y to the bulk", value=False, key=state.ROBUST_Y,
                              help="Let outliers go off the chart (a note says how many) to see the bulk of the curve. "
                                   "Turn it off to see them again.")
live = controls[2].toggle("Live", key=state.LIVE, help="Re-read the log every few seconds (only appended data).")
page_frame = run.frame
axes = x_axes(run.frame)
if st.session_state.get(state.X_AXIS) not in axes:  # another run's axis that this run does not log
    st.session_state[state.X_AXIS] = "step"
x_name = controls[3].selectbox("X axis", list(axes), key=state.X_AXIS, format_func=lambda n: axes[n].title,
                               help="Step, or what this run logs: epoch, samples seen, wall or relative time. "
                                    "A zoom is kept in steps, so it survives a change of axis.")
per_row = controls[4].segmented_control("Charts per row", [1, 2], default=2, key=state.GRID)
smoothing = controls[5].slider("Smoothing (raw line stays visible)", 0.0, 0.99, 0.0, 0.01, key=state.SMOOTHING)
run_key = f"{run.info.source}|{run.info.run_id}"  # the same run id in another folder is another run
safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.info.run_id)

# Recipe findings, said once: the ones that may explain an alert above the incidents, the others in a line.
findings = []
try:
    if run.info.recipe_path:  # a recipe next to the log
        findings = [f for f in lint(read_recipe(run.info.recipe_path))[0] if f.severity != "info"]
    elif getattr(run.live, "description", {}).get("recipe"):  # DescribeTrainingJob
        findings = [f for f in lint(run.live.description["recipe"])[0] if f.severity != "info"]
except RecipeError as err:
    st.warning(str(err))


def focus(incident, frame):
    """A card's "Show on charts": every chart zooms to the incident; its step goes into the link."""
    steps = frame["step"]
    set_zoom(run_key, incident.focus(int(steps.min()), int(steps.max())))
    st.session_state[state.STEP] = int(incident.step)
    st.session_state[state.FOCUS] = incident.key


def render(run, report, fresh_keys=frozenset()):
    keep_facts(run.frame)  # live, each refresh's frame is a new one, never changed either
    health_summary(report, run.info.technique)
    metrics = metric_names(run.frame)
    plan = chart_plan(run.info.technique, metrics)
    others = sorted(metrics - {m for _, g in plan for m in g})
    # Live, the map grows with the run; otherwise the one built above for the picker serves.
    x_axis = (x_axes(run.frame) if run.frame is not page_frame else axes).get(x_name) or axes["step"]
    take_selected_zoom(run_key, [title for title, _ in plan] + [f"other-{m}" for m in others], x_axis)
    incidents = group_incidents(report.alerts, window=frame_window(run.frame))
    left, right = st.columns([2, 1])
    with left:
        zoom = zoom_bar(run_key)
        common = dict(log_y=log_y, smoothing=smoothing, robust_y=robust_y, highlight_step=st.session_state.get(state.STEP),
                      x_range=zoom, uirevision=f"{run_key}|{zoom}|{x_name}", select_x=True, x_axis=x_axis)
        # A grid of charts (M3): Streamlit stacks the columns on a narrow screen.
        cells = [column for _ in range((len(plan) + 1) // 2) for column in st.columns(2)] if per_row == 2 else None
        for index, (title, group) in enumerate(plan):
            chart_alerts = [a for a in report.alerts if a.metric in group]
            # An incident is seen on every chart it touches: the other alerts of its incidents as bands.
            touching = [a for i in incidents if any(a.metric in group for a in i.alerts) for a in i.alerts
                        if a.metric not in group]
            with cells[index] if cells else st.container():
                slot = st.container()
                below = st.columns(2)
                # Log scale per chart (L1): the toggle above sets every chart; this one chart otherwise.
                own_log = below[0].checkbox("log y", key=f"log-{title}", disabled=log_y,
                                            help="Log scale on this chart only (Log scale above sets every chart).")
                below[1].download_button("CSV", data=lambda group=group: chart_csv(run.frame, group), on_click="ignore",
                                         file_name=f"{safe_name}-{title.lower().replace(' ', '_')}.csv", mime="text/csv",
                                         key=f"csv-{title}", help="This chart's data: wall_time, step and each metric.")
                fig, note = metric_figure(run.frame, group, title=title, alerts=chart_alerts, context_alerts=touching,
                                          char_width=0.025 if cells else 0.012, **{**common, "log_y": log_y or own_log})
                slot.plotly_chart(fig, key=chart_key(title), on_select="rerun", selection_mode="box")
                if note:
                    st.caption(plain(note))
        if others:
            with st.expander(f"{len(others)} other metric(s)"):
                pattern = st.text_input("Search metrics", key="metric_search", placeholder="name or prefix: actor/, eval")
                found = [m for m in others if pattern.strip().lower() in m.lower()] if pattern.strip() else others
                groups = sorted({m.split("/")[0] + "/" if "/" in m else "(no prefix)" for m in found})
                st.caption(f"{len(found)} of {len(others)} · by prefix: " + ", ".join(plain(g) for g in groups))
                chosen = st.multiselect("Metrics", found, default=[], key="other_metrics",
                                        placeholder="pick metrics to chart")
                for metric in chosen:
                    fig, note = metric_figure(run.frame, metric, alerts=[a for a in report.alerts if a.metric == metric],
                                              height=240, char_width=0.012, **common)
                    st.plotly_chart(fig, key=chart_key(f"other-{metric}"), on_select="rerun", selection_mode="box")
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
        counts = " · ".join(f"{ICONS[level]} {n}" for level in ("critical", "warning", "info")
                            if (n := sum(i.severity.value == level for i in incidents)))
        st.subheader(f"Incidents ({len(incidents)})")
        if incidents:
            st.caption(f"{len(report.alerts)} alert(s) in {len(incidents)} incident(s) {counts} — alerts whose onsets "
                       "lie within a few steps are one incident")
        detectors = {a.detector for a in report.alerts}
        causes = {f.rule: explained for f in findings if (explained := EXPLAINS.get(f.rule, set()) & detectors)}
        for finding in findings:  # the recipe finding that explains the incidents, once
            if finding.rule in causes:
                st.warning(plain(explanations([finding], next(iter(causes[finding.rule])))[0]))
        unexplained = [f for f in findings if f.rule not in causes]
        if unexplained:
            st.markdown("**Recipe findings:** " + "; ".join(f"`{f.rule}` ({f.severity}): {plain(f.message)}"
                                                           for f in unexplained))
        order = st.segmented_control("Order", ["onset", "worst first", "newest first"], key="incident_order",
                                     default="newest first" if live else "onset", label_visibility="collapsed")
        if order == "worst first":
            incidents = sorted(incidents, key=lambda i: (-i.severity.rank, i.step))
        elif order == "newest first":
            incidents = sorted(incidents, key=lambda i: -max(a.step for a in i.alerts))
        focused = st.session_state.get(state.FOCUS)
        for incident in incidents:
            cause = next((rule for rule, detectors in causes.items() if set(incident.detectors) & detectors), None)
            incident_card(incident, key=f"incident-{incident.key}", cause=cause, new=incident.key in fresh_keys,
                          expanded=incident.key == focused, on_focus=lambda i, frame=run.frame: focus(i, frame))
        if run.info.warnings:
            with st.expander("Reading notes"):
                for warning in run.info.warnings:
                    st.caption(plain(warning))


def announce(report, frame) -> frozenset:
    """New and escalated alerts since the last refresh, as toasts (live mode): returns the keys of the
    incidents that hold them, for a NEW badge."""
    seen = st.session_state.setdefault(state.SEEN_ALERTS, {}).setdefault(run_key, None)
    now = {(a.detector, a.step): a.severity.value for a in report.alerts}
    st.session_state[state.SEEN_ALERTS][run_key] = now
    if seen is None:  # the first look: nothing is news
        return frozenset()
    news = [k for k in now if k not in seen]
    raised = [k for k in now if k in seen and Severity(now[k]) > Severity(seen[k])]
    for detector, step in news:
        st.toast(f"New {now[(detector, step)]} alert: {detector} at step {step}", icon="🚨")
    for detector, step in raised:
        st.toast(f"{detector} at step {step} rose from {seen[(detector, step)]} to {now[(detector, step)]}", icon="⬆️")
    changed = set(news) | set(raised)
    window = frame_window(frame)
    return frozenset(i.key for i in group_incidents(report.alerts, window=window)
                     if any((a.detector, a.step) in changed for a in i.alerts))


if live:
    monitors = st.session_state.setdefault(state.MONITORS, {})

    @st.fragment(run_every="3s")
    def live_view():
        # This session's own copy: the cached run is shared by every session and never changed.
        # Keyed by source too: the same run id in another folder is another run.
        key = (run.info.source, run.info.run_id)
        monitor = monitors.get(key)
        if monitor is None:
            monitor = monitors[key] = LiveMonitor(detached(run), detector_config())
        messages, fresh = monitor.update()
        for message in messages:
            st.warning(plain(message))
        frame = monitor.run.live.frame
        keep_facts(frame)  # before announce: its incident window is the one render uses
        last_step = int(frame["step"].max()) if len(frame) else 0
        arrived = monitor.run.live.last_new_data
        quiet = time.time() - arrived if arrived else None
        ago = f"{quiet:.0f} s ago" if arrived else "not yet"
        status = "receiving" if quiet is not None and quiet < 30 else "no new data for a while (finished or stalled?)"
        st.caption(f"live · last step {last_step} arrived {ago} · {status} · {len(fresh)} new alert(s) this refresh")
        resolved = [e for e in monitor.ledger.entries if not e.active]
        if resolved:
            st.caption(f"{len(resolved)} earlier alert(s) no longer hold (kept in the post-mortem).")
        render(monitor.run, monitor.report, announce(monitor.report, frame))

    live_view()
else:
    render(run, report)
