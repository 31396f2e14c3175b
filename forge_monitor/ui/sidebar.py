"""The shared sidebar: where runs come from, and which run is selected."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from . import state
from .components import plain
from .data import (MAX_UPLOAD_MB, Loaded, allowed_roots, check_folder, cloudwatch_fleet, find_jobs, keep_upload,
                   live_demo_folder, load_cached, load_cloudwatch, load_mlflow, mlflow_experiments, mlflow_runs,
                   opened_folders, sample_folder)


def source_picker() -> Loaded | None:
    """Render the source controls; return what the chosen source holds (None when nothing yet)."""
    state.init()
    st.sidebar.header("Source")
    st.sidebar.radio("Read runs from", list(state.SOURCES), format_func=state.SOURCES.get, key=state.SOURCE)
    source = st.session_state[state.SOURCE]
    loaded = None
    st.session_state[state.RELOAD] = None
    if source == "samples":
        folder = sample_folder()
        bundled = folder.resolve() == (Path(__file__).resolve().parents[2] / "sample_logs")
        if bundled:
            st.sidebar.caption(f"`{folder.name}/` — the bundled offline demo runs")
        elif live_demo_folder(folder):  # M8: not the replay's random temp folder name
            st.sidebar.caption("The live demo: a sample run replayed step by step into a temporary folder "
                               "(removed when the demo stops)")
        else:
            st.sidebar.caption(f"`{plain(folder.name)}/` — set by FORGE_MONITOR_LOGS")
        loaded = load_cached(folder)
        st.session_state[state.RELOAD] = lambda: load_cached(folder)
    elif source == "folder":
        roots = allowed_roots()
        opened = opened_folders()
        if len(opened) > 1:  # the folders named on the command line, one click away
            st.sidebar.selectbox("Opened with the dashboard", [str(f) for f in opened], index=None, key="opened_folder",
                                 placeholder="pick one", on_change=lambda: st.session_state.update(
                                     {state.FOLDER: st.session_state["opened_folder"] or st.session_state.get(state.FOLDER, "")}))
        st.sidebar.text_input("Folder", key=state.FOLDER, placeholder=str(roots[0]) if roots else "/data/runs/my-job")
        st.sidebar.caption(("Folders this dashboard may read: " + ", ".join(plain(r) for r in roots) + ". "
                            if roots else "No folder may be read yet. ")
                           + "To allow more, start it with them: `forge-monitor dashboard /data/runs /other/runs` "
                             "(or set FORGE_MONITOR_ROOTS).")
        folder, reason = check_folder(st.session_state.get(state.FOLDER, ""))
        if reason:
            st.sidebar.error(reason)
        else:
            loaded = load_cached(folder)
            st.session_state[state.RELOAD] = lambda: load_cached(folder)
    elif source == "upload":
        uploaded = st.sidebar.file_uploader(f"Log file (at most {MAX_UPLOAD_MB} MB)", key="uploaded_file")
        current = st.session_state.get(state.UPLOAD)
        if uploaded is None or uploaded.size > MAX_UPLOAD_MB * 1024 * 1024:
            if current is not None:  # cleared or refused: the earlier upload's folder goes now
                current.remove()
                del st.session_state[state.UPLOAD]
        if uploaded is not None:
            if uploaded.size > MAX_UPLOAD_MB * 1024 * 1024:
                st.sidebar.error(f"{uploaded.name} is {uploaded.size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_MB} MB")
            else:
                upload = st.session_state[state.UPLOAD] = keep_upload(uploaded, current)
                loaded = load_cached(upload.path)
    elif source == "mlflow":
        loaded = _mlflow()
    else:
        loaded = _cloudwatch()
    if loaded is not None:
        for error in loaded.errors:
            st.sidebar.warning(str(error))
        if loaded.problems:
            with st.sidebar.expander(f"{len(loaded.problems)} file(s) skipped"):
                for problem in loaded.problems:
                    st.caption(plain(str(problem)))
    return loaded


def _cloudwatch() -> Loaded | None:
    """Region, platform, job (with a picker from ListTrainingJobs); errors shown, the rest keeps working."""
    from ..ingest.cloudwatch import CloudWatchError

    st.sidebar.text_input("Region", key=state.CW_REGION, placeholder="default AWS settings")
    st.sidebar.radio("Platform", ["smtj", "hyperpod"], key=state.CW_PLATFORM, horizontal=True,
                     format_func={"smtj": "Training job", "hyperpod": "HyperPod"}.get)
    if st.session_state.get(state.CW_PLATFORM) == "hyperpod":
        st.sidebar.text_input("Cluster name", key=state.CW_CLUSTER)
    st.sidebar.radio("Jobs", ["one", "all"], key=state.CW_SCOPE, horizontal=True,
                     format_func={"one": "One job", "all": "Every job"}.get)
    if st.session_state.get(state.CW_SCOPE) == "all":
        return _cloudwatch_fleet()
    st.sidebar.text_input("Job name", key=state.CW_JOB, placeholder="my-nova-sft-job")
    if st.session_state.get(state.CW_PLATFORM) == "smtj" and st.sidebar.button("Find jobs by name", key="cw_find"):
        try:
            st.session_state["cw_found"] = find_jobs(st.session_state.get(state.CW_JOB, ""), st.session_state.get(state.CW_REGION))
        except CloudWatchError as err:
            st.sidebar.error(str(err))
    found = st.session_state.get("cw_found")
    if found:
        st.sidebar.selectbox("Jobs found", found, key="cw_pick", on_change=lambda: st.session_state.update(
            {state.CW_JOB: st.session_state["cw_pick"]}))
    job = st.session_state.get(state.CW_JOB, "").strip()
    if not job:
        st.sidebar.caption("Read-only calls; the README lists the minimal IAM policy.")
        return None
    try:
        return load_cloudwatch(job, st.session_state.get(state.CW_PLATFORM, "smtj"),
                               st.session_state.get(state.CW_CLUSTER, ""), st.session_state.get(state.CW_REGION))
    except CloudWatchError as err:
        st.sidebar.error(str(err))
        return None


def _mlflow() -> Loaded | None:
    """Tracking URI, experiment and run pickers; errors shown in one line, the rest keeps working."""
    from ..ingest.mlflow import MLflowError

    default = os.environ.get("MLFLOW_TRACKING_URI", "")
    st.sidebar.text_input("Tracking URI", key=state.ML_URI,
                          placeholder=default or "http://127.0.0.1:5000, or a SageMaker MLflow ARN")
    uri = st.session_state.get(state.ML_URI, "").strip() or default
    if not uri:
        st.sidebar.caption("An MLflow tracking server's URL or a SageMaker MLflow ARN (or set MLFLOW_TRACKING_URI).")
        return None
    try:
        experiments = mlflow_experiments(uri)
        if not experiments:
            st.sidebar.info("This tracking server has no experiments yet.")
            return None
        if st.session_state.get(state.ML_EXPERIMENT) not in experiments:  # the most recently updated one
            st.session_state[state.ML_EXPERIMENT] = experiments[0]
        st.sidebar.selectbox("Experiment", experiments, key=state.ML_EXPERIMENT)
        experiment = st.session_state[state.ML_EXPERIMENT]
        runs = dict(mlflow_runs(uri, experiment))
        if st.session_state.get(state.ML_RUN) not in runs:
            st.session_state[state.ML_RUN] = ""
        st.sidebar.selectbox("MLflow run", ["", *runs], key=state.ML_RUN,
                             format_func=lambda run_id: runs.get(run_id, "the 20 newest runs"))
        return load_mlflow(uri, experiment, st.session_state[state.ML_RUN])
    except MLflowError as err:
        st.sidebar.error(str(err))
        return None


def _cloudwatch_fleet() -> Loaded | None:
    """Every SageMaker training job of the region, or every job of a HyperPod cluster (name prefix,
    time window), for the overview."""
    from ..ingest.cloudwatch import CloudWatchError

    hyperpod = st.session_state.get(state.CW_PLATFORM) == "hyperpod"
    cluster = st.session_state.get(state.CW_CLUSTER, "").strip()
    if hyperpod and not cluster:
        st.sidebar.caption("Enter the cluster name: its jobs are found in its log group.")
        return None
    st.sidebar.text_input("Name starts with", key=state.CW_PREFIX, placeholder="any name")
    st.sidebar.number_input("Logged in the last (days)" if hyperpod else "Created in the last (days)", min_value=0.1,
                            max_value=365.0, step=1.0, key=state.CW_DAYS)
    st.sidebar.caption(("The cluster's log group, read once for all its jobs" if hyperpod else
                        "ListTrainingJobs, then each job's logs") + "; a refresh reads only what is new "
                       "(the README says what it costs in API calls).")
    try:
        holder = cloudwatch_fleet(st.session_state.get(state.CW_REGION), st.session_state.get(state.CW_PREFIX, "").strip(),
                                  float(st.session_state.get(state.CW_DAYS) or 7.0), "hyperpod" if hyperpod else "smtj",
                                  cluster if hyperpod else "")
        loaded = holder.load()
    except CloudWatchError as err:
        st.sidebar.error(str(err))
        return None
    st.session_state[state.RELOAD] = lambda: holder.load(max_age=4.0)  # one refresh per interval for all viewers
    return loaded


def run_picker(loaded: Loaded | None, *, in_url: bool = True, show: bool = True):
    """Select one run (kept in the URL unless ``in_url`` is False). Returns (run, report) or (None, None).
    ``show`` False: no picker drawn (pages that show no run), the run kept for the next page."""
    if loaded is None or not loaded.runs:
        state.sync_url(with_run=False)
        return None, None
    run_ids = [run.info.run_id for run in loaded.runs]
    if state.RUN not in st.session_state and state.KEPT_RUN in st.session_state:
        # Back from a page without the picker: Streamlit dropped the undrawn widget's value, not this copy.
        st.session_state[state.RUN] = st.session_state[state.KEPT_RUN]
    chosen = st.session_state.pop(state.OPEN_RUN, None)  # a row picked in the overview
    if chosen in run_ids:
        st.session_state[state.RUN] = chosen
    if st.session_state.get(state.RUN) not in run_ids:  # the URL's ?run= wins when it names a run here
        st.session_state[state.RUN] = loaded.default_run()

    def label(run_id: str) -> str:
        alerts = loaded.reports[run_id].alerts
        counts = [f"{sum(a.severity.value == level for a in alerts)} {level}" for level in ("critical", "warning")
                  if any(a.severity.value == level for a in alerts)]
        return f"{run_id}  ({', '.join(counts)})" if counts else run_id

    if show:
        st.sidebar.selectbox("Run", run_ids, key=state.RUN, format_func=label,
                             on_change=lambda: st.session_state.update({state.RUN_PICKED: True}))
    st.session_state[state.KEPT_RUN] = st.session_state[state.RUN]
    state.sync_url(with_run=in_url)
    run = loaded.runs[run_ids.index(st.session_state[state.RUN])]
    return run, loaded.reports[run.info.run_id]
