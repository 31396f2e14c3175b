"""forge-monitor dashboard entry point: page config, shared sidebar, navigation.

Run with ``make demo`` (or ``streamlit run app.py``). Opens on the bundled sample logs.
"""

import streamlit as st

st.set_page_config(page_title="forge-monitor", page_icon="📈", layout="wide")

navigation = st.navigation([st.Page("pages/runs.py", title="Runs", icon="📈", default=True)])
navigation.run()
