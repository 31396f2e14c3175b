"""Session-state keys and URL query parameters, defined in one place.

The source and the selected run live in the URL (``?source=samples&run=...&step=...``) so a link to
a run and a step can be shared, and they survive page switches.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

SOURCE = "source"  # samples | folder | upload | cloudwatch
FOLDER = "folder"
RUN = "run"
KEPT_RUN = "kept_run"  # a plain copy of the run picked: survives pages that draw no run picker
STEP = "step"
LIVE = "live"
SMOOTHING = "smoothing"
LOG_Y = "log_y"
ROBUST_Y = "robust_y"
X_AXIS = "x_axis"  # what a run's charts are drawn against: step | epoch | samples | wall_time | relative
GRID = "chart_grid"  # charts per row on the run page (1 or 2)
UPLOAD = "upload"  # data.UploadDir: this session's uploaded file, in a temp folder removed with it
MONITORS = "monitors"  # run id -> LiveMonitor, for live mode
OPEN_RUN = "open_run"  # a run chosen in the overview, applied by the run picker before it is drawn
RELOAD = "reload_source"  # a callable reading the source again (local folders), for the live overview
RUN_PICKED = "run_picked"  # the sidebar's run picker was used: on the overview, that opens the run
ZOOM = "zoom"  # (run key, (first step, last step)): the step range every chart of that run shows
ZOOM_NONCE = "zoom_nonce"  # part of the charts' keys: a new one clears a drawn selection once it became the zoom
FOCUS = "focus_incident"  # the incident a card's "Show on charts" jumped to (kept open)
SEEN_ALERTS = "seen_alerts"  # run key -> {(detector, step): severity} already shown, to toast new / escalated ones
CW_JOB, CW_REGION, CW_PLATFORM, CW_CLUSTER = "job", "region", "platform", "cluster"
CW_SCOPE, CW_PREFIX, CW_DAYS = "jobs", "prefix", "days"  # one job, or every job (prefix, created in the last days)
ML_URI, ML_EXPERIMENT, ML_RUN = "mlflow_uri", "mlflow_experiment", "mlflow_run"

SOURCES = {"samples": "Bundled sample logs", "folder": "Local folder", "upload": "Upload a file",
           "cloudwatch": "CloudWatch", "mlflow": "MLflow"}
_CLOUDWATCH_KEYS = (CW_JOB, CW_REGION, CW_PLATFORM, CW_CLUSTER, CW_SCOPE, CW_PREFIX, CW_DAYS)
_MLFLOW_KEYS = (ML_URI, ML_EXPERIMENT, ML_RUN)
_URL_KEYS = (SOURCE, FOLDER, RUN, STEP, CW_JOB, CW_REGION, CW_PLATFORM, CW_CLUSTER, CW_SCOPE, CW_PREFIX, CW_DAYS,
             ML_URI, ML_EXPERIMENT, ML_RUN)


OPEN_PAGE = "open"  # query key: the page a link named, kept while it goes through app.py


def through_the_app(page: str) -> None:
    """Send a visit that skipped app.py through it, to ``page`` (its url path) with the same query.

    A page opened by its own address (``/run?run=…``, what the address bar shows on any page) on a
    server where no visit has run app.py yet is run alone: with a ``pages/`` folder next to app.py,
    Streamlit runs its pages the old way until the app's ``st.navigation`` has run once. Such a page
    has no sidebar state; app.py builds it and sends the visitor on (``OPEN_PAGE``)."""
    if "loaded" in st.session_state:
        return
    st.switch_page("app.py", query_params={**st.query_params.to_dict(), OPEN_PAGE: page})


def keep_widget_values() -> None:
    """Streamlit drops a widget's value when a page switch (``st.switch_page``) runs before the widget is
    drawn again; writing the shared sidebar's values back as plain session state keeps the source,
    folder, job and run across a switch (Streamlit's documented way to keep widget values across pages)."""
    for key in _URL_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def init() -> None:
    """Seed session state from the URL once per session; afterwards the widgets own the values."""
    if st.session_state.get("_initialised"):
        return
    from .data import opened_folders

    params = st.query_params
    opened = opened_folders()  # `forge-monitor dashboard PATH...`: the user's folder, not the samples, opens
    default = "folder" if opened else "samples"
    st.session_state[SOURCE] = params.get(SOURCE, default) if params.get(SOURCE) in SOURCES else default
    st.session_state[FOLDER] = params.get(FOLDER, "") or (str(opened[0]) if opened else "")
    st.session_state[CW_JOB] = params.get(CW_JOB, "")
    st.session_state[CW_REGION] = params.get(CW_REGION, "") or None
    st.session_state[CW_PLATFORM] = params.get(CW_PLATFORM, "smtj") if params.get(CW_PLATFORM) in ("smtj", "hyperpod") else "smtj"
    st.session_state[CW_CLUSTER] = params.get(CW_CLUSTER, "")
    st.session_state[CW_SCOPE] = "all" if params.get(CW_SCOPE) == "all" else "one"
    st.session_state[CW_PREFIX] = params.get(CW_PREFIX, "")
    try:
        st.session_state[CW_DAYS] = min(max(float(params.get(CW_DAYS, 7)), 0.1), 365.0)
    except ValueError:
        st.session_state[CW_DAYS] = 7.0
    for key in (ML_URI, ML_EXPERIMENT, ML_RUN):
        st.session_state[key] = params.get(key, "")
    if params.get(RUN):
        st.session_state[RUN] = params.get(RUN)
    if params.get(LIVE) in ("1", "true"):
        st.session_state[LIVE] = True
    if params.get(STEP, "").isdigit():
        st.session_state[STEP] = int(params.get(STEP))
    st.session_state["_initialised"] = True


def sync_url(*, with_run: bool = True) -> None:
    """Write the shareable part of the state back into the URL (``with_run`` False on the overview,
    whose link must open the overview again, not the run last picked)."""
    source = st.session_state.get(SOURCE)
    for key in _URL_KEYS if with_run else [k for k in _URL_KEYS if k not in (RUN, STEP)]:
        value = st.session_state.get(key)
        if key == ML_URI and value and urlsplit(str(value)).username:
            value = None  # a user:password in the tracking URI never goes into a shareable link
        if (key in _CLOUDWATCH_KEYS and source != "cloudwatch") or (key in _MLFLOW_KEYS and source != "mlflow") \
                or (key == CW_SCOPE and value == "one") or (key == CW_DAYS and value == 7.0):
            value = None  # another source's settings, or a default: not in the link
        if value in (None, ""):
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)
    if not with_run:
        for key in (RUN, STEP):
            if key in st.query_params:
                del st.query_params[key]
