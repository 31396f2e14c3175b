"""The dashboard's server process: ``python -m forge_monitor.ui.serve app.py [streamlit options]``.

Exactly ``streamlit run app.py [options]``, in this process, with the landing folder read while the
server starts (``startup``): ``forge-monitor dashboard``, ``demo`` and ``make demo`` start the
dashboard this way. ``streamlit run app.py`` by hand still works; its first visitor waits for the read.
"""

from __future__ import annotations

import os
import sys
import threading


def main(argv: list[str]) -> None:
    from . import startup

    startup.prepare()
    from streamlit.web import cli

    reader = startup.start_reading()
    sys.argv = ["streamlit", "run", *argv]
    try:
        cli.main(prog_name="streamlit")
    except SystemExit as stopped:
        finish(reader, stopped.code)
    finish(reader, 0)


def finish(reader: threading.Thread, code) -> None:
    """Exit with Streamlit's exit code. A server stopped (Ctrl-C, SIGTERM) while its start-up read
    runs exits at once: at exit Python waits for the read's pool of workers, which would first open
    every run still queued (a whole folder's worth)."""
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    if reader.is_alive():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
