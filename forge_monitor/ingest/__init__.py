"""Local ingestion: every source becomes the tidy frame of ``forge_monitor.schema``.

Public API:

- ``load_paths(paths)`` - files and directories as a user names them; returns runs and problems;
- ``find_runs(directory)`` / ``open_run(spec)`` - the two halves of that;
- ``read_increment(path, cursor, info)`` and ``LiveRun`` - incremental reads for live monitoring;
- ``sniff(path, head)`` - format detection by content;
- ``load_definitions(path)`` - SageMaker-style metric definitions for any other text log.
"""

from .detect import FORMAT_KIND, UNRECOGNIZED, FormatError, sniff
from .discover import FileProblem, LoadResult, Run, RunSpec, find_runs, load_paths, open_run
from .metric_definitions import MetricDefinitions, load_definitions, parse_definitions
from .reader import FileCursor, Increment, LiveRun, read_increment

__all__ = [
    "FORMAT_KIND", "UNRECOGNIZED", "FormatError", "sniff",
    "FileProblem", "LoadResult", "Run", "RunSpec", "find_runs", "load_paths", "open_run",
    "MetricDefinitions", "load_definitions", "parse_definitions",
    "FileCursor", "Increment", "LiveRun", "read_increment",
]
