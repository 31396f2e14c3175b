"""Detector reference, generated from the registry: a summary table, then what each catches, its metrics,
its thresholds (the active ones: the dashboard's --config file's when it was given) and its advice."""

import os

import pandas as pd
import streamlit as st

from forge_monitor.detectors import REGISTRY, config_help, default_config
from forge_monitor.ui.components import plain
from forge_monitor.ui.data import detector_config
from forge_monitor.ui import state

state.through_the_app("detectors")
st.title("Detector reference")
path = os.environ.get("FORGE_MONITOR_CONFIG")
try:
    active = detector_config(strict=True) or default_config()
except ValueError as err:  # a thresholds file that does not read: said here, the defaults shown
    st.error(f"The thresholds file could not be read, so the defaults are shown: {plain(err)}")
    path, active = None, default_config()
defaults = default_config()
changed = {d: [h["name"] for h in config_help(REGISTRY[d].config_type)
               if getattr(active[d], h["name"]) != getattr(defaults[d], h["name"])] for d in REGISTRY}
if path:
    st.caption(f"Generated from the detector registry. Thresholds in use: `{plain(path)}` (from `forge-monitor "
               f"dashboard --config`), the defaults elsewhere; {sum(map(len, changed.values()))} value(s) differ from "
               "the defaults, marked ✎. `forge-monitor scan --config` with the same file gives the same alerts.")
else:
    st.caption("Generated from the detector registry. Thresholds in use: the defaults. Start the dashboard with "
               "`forge-monitor dashboard PATH --config thresholds.toml` to use your own (the file `scan --config` "
               "reads; `forge-monitor detectors --toml` writes every default).")
st.dataframe(pd.DataFrame([{"detector": d, "catches": spec.title, "applies to": ", ".join(spec.techniques) or "every technique",
                            "metrics": ", ".join(spec.metrics), "core": "yes" if spec.required else "",
                            "thresholds changed": len(changed[d]) or ""} for d, spec in REGISTRY.items()]),
             hide_index=True, key="detector-summary",
             column_config={"core": st.column_config.TextColumn(
                 help="One of the six detectors the design requires (their ids are part of the public contract)")})
for detector_id, spec in REGISTRY.items():
    with st.expander(f"`{detector_id}` — {spec.title}" + (" (core)" if spec.required else "")
                     + (f" · ✎ {len(changed[detector_id])} threshold(s) changed" if changed[detector_id] else ""),
                     expanded=False):
        st.markdown(f"**Catches:** {spec.catches}")
        st.markdown(f"**Metrics:** {', '.join(f'`{m}`' for m in spec.metrics)}")
        st.markdown(f"**Applies to:** {', '.join(spec.techniques) if spec.techniques else 'every technique'}")
        st.markdown(f"**Remediation:** {spec.remediation}")
        rows = [{"name": h["name"], "in use": getattr(active[detector_id], h["name"]), "default": h["default"],
                 "changed": "✎" if h["name"] in changed[detector_id] else "", "help": h["help"]}
                for h in config_help(spec.config_type)]
        st.dataframe(pd.DataFrame(rows).astype({"in use": str, "default": str}), hide_index=True, key=f"cfg-{detector_id}")
