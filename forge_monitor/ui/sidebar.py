"""The shared sidebar: where runs come from, and which run is selected."""

from __future__ import annotations

import streamlit as st

from . import state
from .data import MAX_UPLOAD_MB, Loaded, check_folder, load_cached, sample_folder, save_upload


def source_picker() -> Loaded | None:
    """Render the source controls; return what the chosen source holds (None when nothing yet)."""
    state.init()
    st.sidebar.header("Source")
    st.sidebar.radio("Read runs from", list(state.SOURCES), format_func=state.SOURCES.get, key=state.SOURCE)
    source = st.session_state[state.SOURCE]
    loaded = None
    if source == "samples":
        folder = sample_folder()
        st.sidebar.caption(f"`{folder.name}/` — offline demo runs")
        loaded = load_cached(folder)
    elif source == "folder":
        st.sidebar.text_input("Folder", key=state.FOLDER, placeholder="/data/runs/my-job")
        folder, reason = check_folder(st.session_state.get(state.FOLDER, ""))
        if reason:
            st.sidebar.error(reason)
        else:
            loaded = load_cached(folder)
    elif source == "upload":
        uploaded = st.sidebar.file_uploader(f"Log file (at most {MAX_UPLOAD_MB} MB)", key="uploaded_file")
        if uploaded is not None:
            if uploaded.size > MAX_UPLOAD_MB * 1024 * 1024:
                st.sidebar.error(f"{uploaded.name} is {uploaded.size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB")
            else:
                path = save_upload(uploaded, st.session_state.get(state.UPLOAD_DIR))
                st.session_state[state.UPLOAD_DIR] = str(path.parent)
                loaded = load_cached(path.parent)
    else:
        with st.sidebar.form("cloudwatch"):
            st.text_input("Region", value="us-east-1", key="cw_region")
            st.selectbox("Platform", ["smtj", "hyperpod"], key="cw_platform")
            st.text_input("Training job name", key="cw_job")
            submitted = st.form_submit_button("Open job")
        if submitted:
            st.sidebar.info("Reading CloudWatch arrives with the CloudWatch issue; the form is here so links and "
                            "layouts do not change when it does.")
    if loaded is not None:
        for error in loaded.errors:
            st.sidebar.warning(str(error))
        if loaded.problems:
            with st.sidebar.expander(f"{len(loaded.problems)} file(s) skipped"):
                for problem in loaded.problems:
                    st.caption(str(problem))
    return loaded


def run_picker(loaded: Loaded | None):
    """Select one run (kept in the URL). Returns (run, report) or (None, None)."""
    if loaded is None or not loaded.runs:
        return None, None
    run_ids = [run.info.run_id for run in loaded.runs]
    if st.session_state.get(state.RUN) not in run_ids:
        st.session_state[state.RUN] = run_ids[0]

    def label(run_id: str) -> str:
        alerts = loaded.reports[run_id].alerts
        counts = [f"{sum(a.severity.value == level for a in alerts)} {level}" for level in ("critical", "warning")
                  if any(a.severity.value == level for a in alerts)]
        return f"{run_id}  ({', '.join(counts)})" if counts else run_id

    st.sidebar.selectbox("Run", run_ids, key=state.RUN, format_func=label)
    state.sync_url()
    run = loaded.runs[run_ids.index(st.session_state[state.RUN])]
    return run, loaded.reports[run.info.run_id]
