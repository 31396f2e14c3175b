"""Reusable page pieces: the health summary and an alert with its evidence and remediation."""

from __future__ import annotations

import json
import re

import streamlit as st

from ..alerts import Alert, Report

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
                st.markdown(f"- **{result.detector}** ({result.status.value}): {plain(result.reason)}")
    if not report.alerts:
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
            st.code(json.dumps(alert.to_dict()["evidence"], indent=2), language="json")
