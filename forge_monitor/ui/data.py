"""Loading runs for the pages: the sources (local folders through ``folders``, uploads, CloudWatch,
MLflow) and their caching. Caching decorators live here only."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import streamlit as st

from ..detectors import run_checks
from ..ingest import FileProblem
from .folders import (PROJECT_ROOT, SAMPLE_LOGS, Loaded, allowed_roots, check_folder, detector_config,  # noqa: F401
                      folder_cache, live_demo_folder, opened_folders, read_folder, sample_folder)

MAX_UPLOAD_MB = 200


def load_cached(folder: Path) -> Loaded:
    """``read_folder`` for a page: a spinner while the folder is read for the first time (or while the
    read the server started with finishes: the page waits for it rather than reading twice)."""
    if folder_cache(str(Path(folder))).loaded is None:
        with st.spinner("Reading runs…"):
            return read_folder(folder)
    return read_folder(folder)


@st.cache_resource(show_spinner="Reading the job from CloudWatch…", max_entries=8, ttl=600)
def load_cloudwatch(job: str, platform: str, cluster: str, region: str | None) -> Loaded:
    """One CloudWatch job (cached; live mode refreshes it incrementally). Raises CloudWatchError."""
    from ..ingest.cloudwatch import CloudWatchSource, open_cloudwatch

    run = open_cloudwatch(CloudWatchSource(job, platform=platform, cluster=cluster or None, region=region or None))
    return Loaded([run], {run.info.run_id: run_checks(run.frame, run.info, detector_config())}, [], [])


@st.cache_resource(show_spinner="Reading runs from MLflow…", max_entries=8, ttl=600)
def load_mlflow(uri: str, experiment: str, run: str, max_runs: int = 20) -> Loaded:
    """An MLflow experiment's newest runs, or one run (cached; live mode refreshes incrementally).
    Raises MLflowError."""
    from ..ingest.mlflow import MLflowSource, open_mlflow

    runs = open_mlflow(MLflowSource(uri or None, experiment=experiment or None, run=run or None, max_runs=max_runs))
    return Loaded(runs, {r.info.run_id: run_checks(r.frame, r.info, detector_config()) for r in runs}, [], [])


@st.cache_data(show_spinner=False, max_entries=16, ttl=30)
def mlflow_experiments(uri: str) -> list[str]:
    """Experiment names for the picker, the most recently updated first. Raises MLflowError."""
    from ..ingest.mlflow import MLflowClient, MLflowSource

    return [e["name"] for e in MLflowClient(MLflowSource(uri or None)).experiments(limit=200)]


@st.cache_data(show_spinner=False, max_entries=16, ttl=30)
def mlflow_runs(uri: str, experiment: str, limit: int = 50) -> list[tuple[str, str]]:
    """(run id, "name · status") of an experiment's newest runs, for the picker. Raises MLflowError."""
    from ..ingest.mlflow import MLflowClient, MLflowSource

    client = MLflowClient(MLflowSource(uri or None))
    found = client.search_runs([client.experiment(experiment)["experiment_id"]], limit=limit)
    return [(r["info"]["run_id"], f"{r['info'].get('run_name') or r['info']['run_id']} · {r['info'].get('status', '').lower()}")
            for r in found]


class FleetHolder:
    """A region's training jobs (``CloudWatchFleet``), shared by every session that lists them, and the
    ``Loaded`` of its last refresh (a new one after each refresh that changed something)."""

    max_age = 60.0  # seconds a listing is reused by a page that is not live

    def __init__(self, fleet):
        self.fleet = fleet
        self.loaded: Loaded | None = None
        self.at = 0.0
        self.lock = threading.Lock()

    def load(self, *, max_age: float | None = None) -> Loaded:
        """The last listing if younger than ``max_age`` seconds (default ``self.max_age``), else a refresh.
        Live pages pass a short age: every viewer of one fleet then shares one refresh per interval,
        whatever the number of sessions, so the README's calls per refresh hold."""
        import time

        max_age = self.max_age if max_age is None else max_age
        with self.lock:
            if self.loaded is not None and time.monotonic() - self.at < max_age:
                return self.loaded
            changed = self.fleet.refresh()
            self.at = time.monotonic()
            self._rebuild(changed)
            return self.loaded

    def _rebuild(self, changed) -> None:
        if changed or self.loaded is None:  # a new Loaded: sessions keep the one they were given, unchanged
            jobs = list(self.fleet.jobs.values())
            runs = [j.run for j in jobs if j.run is not None]
            problems = [FileProblem(j.name, j.error) for j in jobs if j.run is None and j.error]
            errors = [] if runs or problems else [FileProblem(
                "CloudWatch", "no training jobs match" + (f" the prefix {self.fleet.prefix!r}" if self.fleet.prefix else "")
                + (f" created in the last {self.fleet.days:g} days" if self.fleet.days else ""))]
            self.loaded = Loaded(runs, {j.run.info.run_id: j.report for j in jobs if j.run is not None}, errors, problems)


@st.cache_resource(show_spinner="Listing the jobs in CloudWatch…", max_entries=4)
def cloudwatch_fleet(region: str | None, prefix: str, days: float, platform: str = "smtj", cluster: str = "") -> FleetHolder:
    """Every training job of a region (or every job of a HyperPod cluster) whose name starts with
    ``prefix``, created (logged) in the last ``days``. Raises CloudWatchError."""
    from ..ingest.cloudwatch import CloudWatchSource
    from ..ingest.cloudwatch_fleet import CloudWatchFleet, HyperPodFleet

    source = CloudWatchSource("", platform=platform, cluster=cluster or None, region=region or None)
    # Checked with the thresholds the dashboard was given (--config), read when each job is checked.
    checks = lambda frame, info: run_checks(frame, info, detector_config())  # noqa: E731
    return FleetHolder((HyperPodFleet if platform == "hyperpod" else CloudWatchFleet)(source, prefix, days, checks=checks))


def find_jobs(name_contains: str, region: str | None) -> list[str]:
    from ..ingest.cloudwatch import CloudWatchSource, list_jobs

    return [j["name"] for j in list_jobs(CloudWatchSource("", region=region or None), name_contains)]


class UploadDir:
    """One upload in its own private temp folder (never next to the user's files).

    Written once per distinct upload; the folder is removed when a newer upload replaces it, when the
    uploader is cleared, when the session's state is dropped (session end), or at interpreter exit.
    """

    def __init__(self, name: str, file_id: str, digest: str, data: bytes):
        self.file_id, self.digest, self.name = file_id, digest, name
        self.path = Path(tempfile.mkdtemp(prefix="forge-monitor-upload-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)
        (self.path / name).write_bytes(data)

    def remove(self) -> None:
        self._finalizer()


def keep_upload(uploaded, current: UploadDir | None) -> UploadDir:
    """The folder holding ``uploaded``: ``current`` when it already holds these bytes, else a new one
    (and ``current`` is removed). A rerun (any click) writes nothing and hashes nothing."""
    if current is not None and current.file_id == uploaded.file_id:
        return current
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    name = Path(uploaded.name).name
    name = name if name not in ("", ".", "..") else "upload"
    if current is not None and (current.digest, current.name) == (digest, name):
        current.file_id = uploaded.file_id
        return current
    if current is not None:
        current.remove()
    return UploadDir(name, uploaded.file_id, digest, data)
