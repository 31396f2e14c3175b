"""Detector reference, generated from the registry: what each catches, its metrics, thresholds, advice."""

import pandas as pd
import streamlit as st

from forge_monitor.detectors import REGISTRY, config_help

st.title("Detector reference")
st.caption("Generated from the detector registry; thresholds are the defaults. Override them with "
           "`forge-monitor scan --config thresholds.toml` (`forge-monitor detectors --toml` writes every default).")
for detector_id, spec in REGISTRY.items():
    with st.expander(f"`{detector_id}` — {spec.title}" + (" (required)" if spec.required else ""), expanded=False):
        st.markdown(f"**Catches:** {spec.catches}")
        st.markdown(f"**Metrics:** {', '.join(f'`{m}`' for m in spec.metrics)}")
        st.markdown(f"**Applies to:** {', '.join(spec.techniques) if spec.techniques else 'every technique'}")
        st.markdown(f"**Remediation:** {spec.remediation}")
        st.dataframe(pd.DataFrame(config_help(spec.config_type)), hide_index=True, key=f"cfg-{detector_id}")
