"""Reusable page pieces: the health summary, an incident card with the evidence of each alert, an alert
card, and the shared zoom of a run's charts."""

from __future__ import annotations

import re

import streamlit as st

from ..alerts import Alert, Report
from ..incidents import Incident, evidence_rows
from . import state

# What makes markdown structure inside a line: links and images, code, emphasis, HTML, LaTeX ($),
# Streamlit's :color[...] directives and :emoji: codes, tables.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()!|<>~$:])")


def plain(text) -> str:
    """Text from a log or a recipe (metric names, values, messages that quote them) made literal for
    Streamlit's markdown: ``![x](http://...)`` must not load an image in the viewer's browser, nor
    ``[fix](http://...)`` become a link."""
    return _MARKDOWN.sub(r"\\\1", str(text))


# Colored text, not emoji: headless and minimal Linux browsers often lack an emoji font.
ICONS = {"critical": ":red[●]", "warning": ":orange[●]", "info": ":blue[●]"}


def health_summary(report: Report, technique: str = "") -> None:
    """Counts by severity, the detectors that checked the run out of those that apply to it, what could
    not be checked (data missing: actionable) and, in grey, what does not apply to this technique."""
    counts = {level: sum(a.severity.value == level for a in report.alerts) for level in ICONS}
    columns = st.columns(4)
    for column, level in zip(columns, ("critical", "warning", "info")):
        column.metric(level, counts[level])
    applicable = report.applicable
    columns[3].metric("detectors run", f"{len(report.checked)}/{len(applicable)}",
                      help="Detectors that checked this run, out of those that apply to its technique.")
    skipped = report.skipped
    if report.nothing_checked:
        st.error("No applicable detector could check this run: it is not known to be healthy. "
                 "The reasons below say which metrics to log.")
    if skipped:
        with st.expander(f"{len(skipped)} detector(s) could not check this run (data missing) — not the same as healthy"):
            for result in skipped:
                st.markdown(f"- **{result.detector}** ({result.status.value}): {plain(result.reason)}")
    if report.not_applicable:
        names = ", ".join(r.detector for r in report.not_applicable)
        st.caption(f"Not applicable to {plain(technique.upper() or 'this')} runs (not counted): {plain(names)}")
    if not report.alerts and not report.nothing_checked:
        st.success("No alerts: every detector that could check this run found it healthy.")


def alert_card(alert: Alert, *, key: str) -> None:
    icon = ICONS.get(alert.severity.value, "")
    span = f"step {alert.step}" + (f"–{alert.step_end}" if alert.step_end != alert.step else "")
    with st.container(border=True, key=key):
        st.markdown(f"{icon} **{alert.detector}** · {alert.severity.value} · {span}")
        st.markdown(plain(alert.message))
        st.markdown("**What to change**")
        st.info(plain(alert.remediation))
        with st.expander("Evidence"):
            evidence_table(alert)


def evidence_table(alert: Alert) -> None:
    """The evidence as a two-column table, numbers to 4 significant figures (L4: not raw JSON)."""
    rows = evidence_rows(alert.to_dict()["evidence"])
    if rows:
        st.markdown("| | |\n|---|---|\n" + "\n".join(f"| {plain(k)} | {plain(v)} |" for k, v in rows))


def incident_card(incident: Incident, *, key: str, cause: str | None = None, new: bool = False,
                  expanded: bool = False, on_focus=None) -> None:
    """One incident: a header line (severity, steps, detectors in order of onset), the lead alert's
    message and run-specific fix, the recipe cause named (said in full once, above the cards), and
    each alert's own message and evidence inside."""
    lead = incident.lead
    icon = ICONS.get(incident.severity.value, "")
    badge = " :red-background[NEW]" if new else ""
    with st.container(border=True, key=key):
        st.markdown(f"{icon} **{incident.severity.value}** · {incident.span} · "
                    f"{plain(' → '.join(incident.detectors))}{badge}")
        st.markdown(plain(lead.message))
        if cause:
            st.caption(f"Likely cause: recipe finding `{plain(cause)}` (above)")
        st.info(plain(lead.remediation))
        if on_focus is not None:
            st.button("Show on charts", key=f"{key}-focus", on_click=on_focus, args=(incident,),
                      help="Zoom every chart to this incident and mark its step (the link keeps ?step=).")
        label = f"Evidence ({len(incident.alerts)} alerts)" if len(incident.alerts) > 1 else "Evidence"
        with st.expander(label, expanded=expanded):
            for alert in incident.alerts:
                if len(incident.alerts) > 1:
                    span = f"step {alert.step}" + (f"–{alert.step_end}" if alert.step_end != alert.step else "")
                    st.markdown(f"{ICONS.get(alert.severity.value, '')} **{alert.detector}** · "
                                f"{alert.severity.value} · {span} · `{plain(alert.metric)}`")
                    st.markdown(plain(alert.message))
                    if alert is not lead:
                        st.caption("What to change: " + plain(alert.remediation))
                evidence_table(alert)


# --- the shared zoom of a run's charts ---------------------------------------------------------------

def chart_key(name: str) -> str:
    return f"chart-{name}-{st.session_state.get(state.ZOOM_NONCE, 0)}"


def current_zoom(run_key) -> tuple[float, float] | None:
    held = st.session_state.get(state.ZOOM)
    return held[1] if held and held[0] == run_key else None


def set_zoom(run_key, step_range: tuple[float, float] | None) -> None:
    st.session_state[state.ZOOM] = (run_key, tuple(step_range)) if step_range else None
    st.session_state[state.ZOOM_NONCE] = st.session_state.get(state.ZOOM_NONCE, 0) + 1  # clears the drawn box


def take_selected_zoom(run_key, names, x_axis=None) -> None:
    """A range dragged on any chart (a box selection, read before the charts are drawn again) becomes
    the zoom of every chart of the run; the zoom is kept in steps, so a range dragged against epoch or
    time (``x_axis``) is read back into steps and survives a change of axis."""
    for name in names:
        selection = st.session_state.get(chart_key(name))
        boxes = (selection or {}).get("selection", {}).get("box", []) if hasattr(selection, "get") else []
        for box in boxes:
            xs = [x for x in box.get("x", []) if x is not None]
            if len(xs) < 2:
                continue
            steps = x_axis.to_step(xs) if x_axis is not None else [float(x) for x in xs]
            if max(steps) > min(steps):
                set_zoom(run_key, (float(min(steps)), float(max(steps))))
                return


def zoom_bar(run_key) -> tuple[float, float] | None:
    """The zoom in a line, with its reset; returns the range every chart shows (None: the whole run)."""
    zoom = current_zoom(run_key)
    columns = st.columns([4, 1])
    if zoom:
        columns[0].caption(f"Every chart shows steps {zoom[0]:.0f}–{zoom[1]:.0f} · drag across any chart to zoom again")
    else:
        columns[0].caption("Drag across any chart to zoom every chart of this run to those steps")
    columns[1].button("Reset zoom", key="zoom-reset", disabled=zoom is None, on_click=set_zoom, args=(run_key, None))
    return zoom
