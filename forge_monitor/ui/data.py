"""Cached loading of runs for the pages. Caching decorators live here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from ..ingest import load_paths

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = PROJECT_ROOT / "sample_logs"


def default_source() -> Path:
    """The bundled sample logs, unless FORGE_MONITOR_LOGS names another folder."""
    return Path(os.environ.get("FORGE_MONITOR_LOGS", SAMPLE_LOGS))


@st.cache_resource(show_spinner="Reading runs…")
def load_folder(folder: str, _mtime_key: float):
    """All runs under ``folder`` (cached; ``_mtime_key`` changes when the folder changes)."""
    return load_paths([folder])


def folder_key(folder: Path) -> float:
    try:
        return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)
    except OSError:
        return 0.0
