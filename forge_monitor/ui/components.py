"""Reusable page pieces: the health summary and an alert with its evidence and remediation."""

from __future__ import annotations

import json

import streamlit as st

from ..alerts import Alert, Report

# Colored text, not emoji: headless and minimal Linux browsers often lack an emoji font.
ICONS = {"critical": ":red[●]", "warning": ":orange[●]", "info": ":blue[●]"}


def health_summary(report: Report) -> None:
    counts = {level: sum(a.severity.value == level for a in report.alerts) for level in ICONS}
    columns = st.columns(4)
    for column, level in zip(columns, ("critical", "warning", "info")):
        column.metric(level, counts[level])
    checked = sum(r.status.value in ("ok", "alert") for r in report.results)
    columns[3].metric("detectors run", f"{checked}/{len(report.results)}")
    skipped = report.skipped
    if skipped:
        with st.expander(f"{len(skipped)} detector(s) could not check this run — not the same as healthy"):
            for result in skipped:
                st.markdown(f"- **{result.detector}** ({result.status.value}): {result.reason}")
    if not report.alerts:
        st.success("No alerts: every detector that could check this run found it healthy.")


def alert_card(alert: Alert, *, key: str) -> None:
    icon = ICONS.get(alert.severity.value, "")
    span = f"step {alert.step}" + (f"–{alert.step_end}" if alert.step_end != alert.step else "")
    with st.container(border=True, key=key):
        st.markdown(f"{icon} **{alert.detector}** · {alert.severity.value} · {span}")
        st.write(alert.message)
        st.markdown("**What to change**")
        st.info(alert.remediation)
        with st.expander("Evidence"):
            st.code(json.dumps(alert.to_dict()["evidence"], indent=2), language="json")
