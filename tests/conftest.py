"""Shared fixtures: where the real third-party runs live, and the project root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_RUNS = Path(os.environ.get("FORGE_MONITOR_REAL_RUNS", PROJECT_ROOT.parent / "shared" / "real-runs"))
SAMPLE_LOGS = PROJECT_ROOT / "sample_logs"


@pytest.fixture(scope="session")
def real_runs() -> Path:
    if not REAL_RUNS.is_dir():
        message = f"real third-party runs not found at {REAL_RUNS} (set FORGE_MONITOR_REAL_RUNS)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_RUNS


def open_app(page: str = "run", **query):
    """A new session of the app (AppTest). The overview is the landing page; ``page="run"`` (the
    default here) opens the run page the way a user's link does, with ``?run=`` (the run the sidebar
    picks when the query names none), so the whole app (sidebar included) is rendered."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page == "overview" or "run" in query or at.session_state["selected"][0] is None:
        return at
    return open_app(page, **query, run=at.session_state["selected"][0].info.run_id)
