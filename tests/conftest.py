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
