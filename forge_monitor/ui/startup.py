"""The dashboard's start: the folder it opens on is read (and checked) as the server starts, not when
the first visitor arrives.

What a first visit then costs is the page itself: a 1,000,000-step run that takes 5-7 s to read is on
the page in under 3 s once read (bench/page_bench.py). A visitor who arrives before the read is done
waits for it ("Reading runs…"): the page and the start-up read share one ``FolderCache``, nothing is
read twice. TensorBoard reads its logdir the same way. The folder is the one a visit without a query
opens: the first folder named on ``forge-monitor dashboard PATH...``, else the sample logs
(``FORGE_MONITOR_LOGS``).

Everything the read and the pages import is imported first, on the main thread (``prepare``), and only
then does the reading thread start: two threads importing one package at once can be handed a
half-initialised module (Python breaks an import-lock cycle that way; a first version that imported
plotly on the reading thread while Streamlit started got a pandas without ``Series``).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

READ_LINE = "forge-monitor: read"  # how the line that says the start-up read is done begins


def landing_folder() -> Path:
    """The folder a visit without ``?folder=`` opens (``state.init``'s default source)."""
    from .folders import opened_folders, sample_folder

    opened = opened_folders()
    return opened[0] if opened else sample_folder()


def prepare() -> None:
    """Import what the read, the overview and the run page use (plotly and pandas above all, about
    0.6 s, which a first visit would otherwise pay) and draw one chart: plotly's first figure in a
    process costs about 0.15 s more than the next ones, and imports more of plotly as it goes."""
    import numpy as np
    import pandas as pd
    import plotly.graph_objects  # noqa: F401
    from streamlit.web import cli  # noqa: F401 - Streamlit's own start, imported here rather than beside the read

    from .. import detectors, fleet, incidents, ingest, live, recipes, report, xaxis  # noqa: F401
    from ..plotting import metric_figure
    from . import folders, overview  # noqa: F401 - neither decorates anything with st.cache_*

    warm_up = pd.DataFrame({"step": [1, 2, 3], "metric": pd.Categorical(["loss"] * 3), "value": [1.0, 0.9, 0.8],
                            "wall_time": np.nan})
    metric_figure(warm_up, "loss", title="warm-up")


def read_landing_folder(out=None):
    """Read and check the landing folder, compute its overview's rows and what its run pages work out
    first; one line on ``out`` (stderr: the server's log) says what was read and how long it took.
    Returns the ``folders.Loaded``, or None. Never raises: a folder that cannot be read is the pages'
    to explain, and the server must keep serving."""
    from .folders import read_folder
    from .overview import level_counts, rows_for

    out = out or sys.stderr
    started = time.perf_counter()
    folder = landing_folder()
    try:
        loaded = read_folder(folder)
        _prepare_run_pages(loaded)  # before the overview's rows: their sparklines use the same series
        counts = level_counts(rows_for(loaded))
    except Exception as err:  # noqa: BLE001 - the first visit reads it again and says what went wrong
        print(f"forge-monitor: could not read {folder} at start ({type(err).__name__}: {err}); "
              "it is read when a page opens it", file=out, flush=True)
        return None
    if loaded.errors and not loaded.runs:
        print(f"forge-monitor: nothing to show in {folder} at start: {loaded.errors[0].reason}", file=out, flush=True)
        return loaded
    print(f"{READ_LINE} {len(loaded.runs)} run(s) in {folder} in {time.perf_counter() - started:.1f} s"
          + (f" ({counts})" if counts else ""), file=out, flush=True)
    return loaded


def _prepare_run_pages(loaded) -> None:
    """What a run page works out from its run's frame, done now and kept with the frame
    (``frame_facts``; the dashboard never changes a run's frame in place): each run's metric names,
    incident window and series (views of the frame's columns, no copy for the readers' frames), and
    the x-axes of the run a visitor is sent to first (0.1-0.5 s on a 1,000,000-step run; for every run
    they would add about a third to the folder's memory)."""
    from ..frame_facts import keep_facts
    from ..incidents import frame_window
    from ..plotting import metric_names, series
    from ..xaxis import x_axes

    first = loaded.default_run()
    for run in loaded.runs:
        keep_facts(run.frame)
        frame_window(run.frame)
        for name in metric_names(run.frame):
            series(run.frame, name)
        if run.info.run_id == first:
            x_axes(run.frame)


def start_reading() -> threading.Thread:
    """``read_landing_folder`` on a daemon thread (the server starts meanwhile); call ``prepare`` first."""
    thread = threading.Thread(target=read_landing_folder, name="forge-monitor-start-up-read", daemon=True)
    thread.start()
    return thread
