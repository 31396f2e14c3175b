"""The dashboard's start: the folder it opens on is read (and checked) as the server starts, not when
the first visitor arrives, and the pages' modules are imported meanwhile.

What a first visit then costs is the browser's own work: a 1,000,000-step run that takes 3-4 s to read
is on the page in under 3 s (bench/page_bench.py). A visitor who arrives before the read is done waits
for it ("Reading runs…"): the page and the start-up read share one ``FolderCache``, nothing is read twice.
TensorBoard reads its logdir the same way. The folder is the one a visit without a query opens: the first
folder named on ``forge-monitor dashboard PATH...``, else the sample logs (``FORGE_MONITOR_LOGS``).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

READ_LINE = "forge-monitor: read"  # how the line that says the start-up read is done begins


def landing_folder() -> Path:
    """The folder a visit without ``?folder=`` opens (``state.init``'s default source)."""
    from . import data

    opened = data.opened_folders()
    return opened[0] if opened else data.sample_folder()


def read_landing_folder(out=None, runtime_wait: float = 60.0):
    """Read and check the landing folder, compute its overview's rows, import what the pages import;
    one line on ``out`` (stderr: the server's log) says what was read and how long it took. Returns
    the ``data.Loaded``, or None. Never raises: a folder that cannot be read is the pages' to explain,
    and the server must keep serving.

    The dashboard's own modules are imported once Streamlit's runtime exists (up to ``runtime_wait``
    s): their ``st.cache_data`` functions, decorated before it, would each log "No runtime found".
    The library is imported before (``import_library``, on the main thread)."""
    out = out or sys.stderr
    started = time.perf_counter()
    try:
        _wait_for_runtime(runtime_wait)
        from . import data
        from .overview import level_counts, rows_for

        folder = landing_folder()
        loaded = data.read_folder(folder)
        counts = level_counts(rows_for(loaded))
        _prepare_run_pages(loaded)
    except Exception as err:  # noqa: BLE001 - the first visit reads it again and says what went wrong
        print(f"forge-monitor: could not read the landing folder at start ({type(err).__name__}: {err}); "
              "it is read when a page opens it", file=out, flush=True)
        return None
    print(f"{READ_LINE} {len(loaded.runs)} run(s) in {folder} in {time.perf_counter() - started:.1f} s"
          + (f" ({counts})" if counts else ""), file=out, flush=True)
    return loaded


def import_library() -> None:
    """What the pages import from the library, plotly and pandas above all (about 0.6 s), so that a
    first visit does not pay for it. On the main thread, before the server starts: two threads that
    import one package at once can be handed a half-initialised module (Python breaks an import-lock
    cycle that way; pandas was, once, in a first version that imported here on the reading thread)."""
    import plotly.graph_objects  # noqa: F401

    from .. import detectors, fleet, incidents, ingest, live, plotting, recipes, report, xaxis  # noqa: F401


def _prepare_run_pages(loaded) -> None:
    """What a run page works out from its run's frame, done now and kept with the frame
    (``frame_facts``): its x-axes, metric names, incident window and each metric's series, about
    0.3 s on a 1,000,000-step run. And one chart: plotly's first figure in a process costs about
    0.15 s more than the next ones (built from the smallest run: any figure will do)."""
    from ..frame_facts import keep_facts
    from ..incidents import frame_window
    from ..plotting import metric_figure, metric_names, series
    from ..xaxis import x_axes

    for run in loaded.runs:
        keep_facts(run.frame)  # the dashboard's runs are never changed in place
        x_axes(run.frame)
        frame_window(run.frame)
        for name in metric_names(run.frame):
            series(run.frame, name)
    smallest = min((run for run in loaded.runs if len(run.frame)), key=lambda run: len(run.frame), default=None)
    if smallest is not None:
        metric_figure(smallest.frame, str(smallest.frame["metric"].iloc[0]), title="warm-up")


def _wait_for_runtime(limit: float) -> None:
    from streamlit import runtime

    deadline = time.monotonic() + limit
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def start_reading() -> threading.Thread:
    """``read_landing_folder`` on a daemon thread (the server starts meanwhile)."""
    thread = threading.Thread(target=read_landing_folder, name="forge-monitor-start-up-read", daemon=True)
    thread.start()
    return thread
