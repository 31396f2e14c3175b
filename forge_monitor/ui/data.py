"""Loading runs for the pages: sources, allowed roots, caching. Caching decorators live here only."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ..alerts import Severity
from ..detectors import run_checks
from ..ingest import load_paths

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = PROJECT_ROOT / "sample_logs"
MAX_UPLOAD_MB = 200


@dataclass
class Loaded:
    runs: list  # ingest.Run
    reports: dict  # run_id -> Report
    errors: list  # FileProblem
    problems: list  # FileProblem

    def default_run(self) -> str | None:
        """The run to open when the URL names none: the most severe alerts, then the most alerts, then by name.

        A newcomer lands where the tool shows what it does, not on a quiet run. The reports are computed
        when the source loads (the run picker's labels need them), so this costs one pass over them.
        """
        def rank(run_id: str) -> tuple:
            alerts = self.reports[run_id].alerts
            worst = max((Severity(a.severity).rank for a in alerts), default=-1)
            return -worst, -len(alerts), run_id

        return min((run.info.run_id for run in self.runs), key=rank, default=None)


def sample_folder() -> Path:
    """The bundled sample logs, unless FORGE_MONITOR_LOGS names another folder (``make demo``)."""
    return Path(os.environ.get("FORGE_MONITOR_LOGS", SAMPLE_LOGS))


def allowed_roots() -> list[Path]:
    """Folders a user may open: FORGE_MONITOR_ROOTS (os.pathsep-separated) and FORGE_MONITOR_LOGS."""
    roots = [Path(p).expanduser().resolve() for p in os.environ.get("FORGE_MONITOR_ROOTS", "").split(os.pathsep) if p]
    if os.environ.get("FORGE_MONITOR_LOGS"):
        roots.append(Path(os.environ["FORGE_MONITOR_LOGS"]).expanduser().resolve())
    return roots


def check_folder(raw: str) -> tuple[Path | None, str | None]:
    """(folder, None) when ``raw`` lies under an allowed root, else (None, the reason)."""
    if not raw.strip():
        return None, "enter a folder path"
    roots = allowed_roots()
    if not roots:
        return None, ("no folders are allowed: set FORGE_MONITOR_ROOTS to the folders the dashboard may read "
                      "(e.g. FORGE_MONITOR_ROOTS=/data/runs make demo)")
    folder = Path(raw).expanduser().resolve()
    if not any(folder == root or root in folder.parents for root in roots):
        return None, f"{folder} is outside the allowed folders ({', '.join(str(r) for r in roots)})"
    if not folder.is_dir():
        return None, f"{folder} is not a folder"
    return folder, None


def folder_key(folder: Path) -> tuple:
    """Changes whenever a file under the folder changes, so the cache reloads."""
    try:
        stats = [(p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()]
    except OSError:
        return (0,)
    return (len(stats), max(stats, default=(0, 0)), sum(s for _, s in stats))


@st.cache_resource(show_spinner="Reading runs…", max_entries=16)
def load_folder(folder: str, _key: tuple) -> Loaded:
    result = load_paths([folder])
    reports = {run.info.run_id: run_checks(run.frame, run.info) for run in result.runs}
    return Loaded(result.runs, reports, result.errors, result.problems)


def load_cached(folder: Path) -> Loaded:
    return load_folder(str(folder), folder_key(folder))


@st.cache_resource(show_spinner="Reading the job from CloudWatch…", max_entries=8, ttl=600)
def load_cloudwatch(job: str, platform: str, cluster: str, region: str | None) -> Loaded:
    """One CloudWatch job (cached; live mode refreshes it incrementally). Raises CloudWatchError."""
    from ..ingest.cloudwatch import CloudWatchSource, open_cloudwatch

    run = open_cloudwatch(CloudWatchSource(job, platform=platform, cluster=cluster or None, region=region or None))
    return Loaded([run], {run.info.run_id: run_checks(run.frame, run.info)}, [], [])


def find_jobs(name_contains: str, region: str | None) -> list[str]:
    from ..ingest.cloudwatch import CloudWatchSource, list_jobs

    return [j["name"] for j in list_jobs(CloudWatchSource("", region=region or None), name_contains)]


def save_upload(uploaded, directory: str | None) -> Path:
    """Uploaded bytes go to a private temp folder (never next to the user's files)."""
    directory = directory or tempfile.mkdtemp(prefix="forge-monitor-upload-")
    target = Path(directory) / Path(uploaded.name).name
    target.write_bytes(uploaded.getvalue())
    return target
