"""forge-monitor dashboard entry point: page config, the shared sidebar, navigation.

Run with ``make demo`` (or ``streamlit run app.py``). Opens on the bundled sample logs, on the run
with the most severe alerts unless the URL names one (``?run=``).
"""

import streamlit as st

from forge_monitor.ui.sidebar import run_picker, source_picker

st.set_page_config(page_title="forge-monitor", layout="wide")

pages = [
    st.Page("pages/run.py", title="Run", default=True, url_path="run"),
    st.Page("pages/compare.py", title="Compare", url_path="compare"),
    st.Page("pages/postmortem.py", title="Post-mortem", url_path="postmortem"),
    st.Page("pages/recipe.py", title="Recipe check", url_path="recipe"),
    st.Page("pages/detectors.py", title="Detector reference", url_path="detectors"),
]
navigation = st.navigation(pages)
# The sidebar is shared by every page, so the source and the selected run survive page switches.
loaded = source_picker()
st.session_state["loaded"] = loaded
st.session_state["selected"] = run_picker(loaded)
navigation.run()
