"""Overview: every run of the source at once, the ones that need attention first; a row opens its run."""

import streamlit as st

from forge_monitor.ui import state
from forge_monitor.ui.overview import COLUMNS, LEVELS, level_counts, rows_for, table

state.through_the_app("overview")
loaded = st.session_state.get("loaded")
reload = st.session_state.get(state.RELOAD)  # the source read again (local folders), or None
st.title("Runs")
if loaded is None or not (loaded.runs or loaded.errors or loaded.problems):
    st.info("No runs in this source yet: pick the sample logs, an allowed folder, a file or a CloudWatch job in the sidebar.")
    st.stop()

filters = st.columns([2, 3, 1])
text = filters[0].text_input("Filter", key="overview_filter", placeholder="run name, detector, status…")
levels = filters[1].multiselect("Show", LEVELS, key="overview_levels", placeholder="every level")
live = filters[2].toggle("Live", key="overview_live", disabled=reload is None,
                         help="Look at the source again every 5 s: new runs are added, runs that grew are read from "
                              "where their last read stopped and only they are checked again."
                         if reload else "Live overview is for local folders and every CloudWatch training job; one "
                                        "CloudWatch job or an MLflow run is followed live on its run page.")


@st.fragment(run_every="5s" if live and reload else None)
def overview():
    current = reload() if live and reload else loaded
    rows = rows_for(current)
    st.caption(f"{len(current.runs)} run(s) · " + level_counts(rows)
               + " — worst first, then the most recent. Select a row to open its run.")
    shown = table(rows, text, levels)
    nonce = st.session_state.setdefault("overview_nonce", 0)  # a new key clears the selection after a jump
    event = st.dataframe(shown, hide_index=True, column_config=COLUMNS, on_select="rerun", selection_mode="single-row",
                         key=f"overview-table-{nonce}", height=min(38 + 35 * max(len(shown), 1), 720))
    chosen = event.selection.rows if event is not None else []
    if chosen:
        run_id = shown["Run"].iloc[chosen[0]]
        if any(run.info.run_id == run_id for run in current.runs):
            st.session_state[state.OPEN_RUN] = run_id
            st.session_state["overview_nonce"] = nonce + 1
            st.switch_page("pages/run.py")
        else:
            st.warning(f"{run_id} could not be read: {shown['Worst alert'].iloc[chosen[0]]}")


overview()
