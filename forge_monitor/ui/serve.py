"""The dashboard's server process: ``python -m forge_monitor.ui.serve app.py [streamlit options]``.

Exactly ``streamlit run app.py [options]``, in this process, with the landing folder read while the
server starts (``startup``): ``forge-monitor dashboard`` and ``demo`` start the dashboard this way.
``streamlit run app.py`` by hand still works; its first visitor waits for the read instead.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from . import startup

    startup.import_library()
    startup.start_reading()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", *argv]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main(sys.argv[1:])
