"""A followed run saved to disk: what was read and where each file's read stopped.

``forge-monitor watch --state DIR`` keeps one snapshot per local run, so a restarted watcher goes on
from the saved byte offsets instead of reading whole logs again (a CPT log of hundreds of thousands
of steps takes seconds to parse; its snapshot loads in a fraction of that).

A snapshot is one Parquet file, replaced atomically: the tidy rows read so far (with the stream each
came from) and, in the file's metadata, the read cursors, the RunInfo and the version that wrote it.
Nothing in it is executed (no pickle): a state folder others can write to cannot run code here.

Loading checks that the snapshot belongs to the same files and was written by this version (a newer
parser may read the same lines differently); anything else is ignored and the run is read in full.
The next refresh reads from the saved offsets, and ``read_increment`` notices a file truncated,
replaced or rewritten since (inode, size, the first 4 KB), reading it again from the start, as it
does live.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..schema import Restart, RunInfo, SkippedLine
from .discover import Run, RunSpec
from .reader import FileCursor, LiveRun

SNAPSHOT_VERSION = 1
_META_KEY = b"forge-monitor-snapshot"


def _streams(spec_streams) -> list[list[str]]:
    return [[str(Path(p).resolve()) for p in stream] for stream in spec_streams]


def _cursor_to_dict(cursor: FileCursor | None) -> dict | None:
    if cursor is None:
        return None
    out = asdict(cursor)
    out["head"] = base64.b64encode(cursor.head).decode("ascii")
    return out


def _cursor_from_dict(data: dict | None) -> FileCursor | None:
    if data is None:
        return None
    known = {f.name for f in fields(FileCursor)}
    data = {k: v for k, v in data.items() if k in known}
    data["head"] = base64.b64decode(data.get("head", ""))
    return FileCursor(**data)


def _info_from_dict(data: dict) -> RunInfo:
    known = {f.name for f in fields(RunInfo)}
    data = {k: v for k, v in data.items() if k in known}
    data["skipped"] = [SkippedLine(**s) for s in data.get("skipped", [])]
    data["restarts"] = [Restart(**r) for r in data.get("restarts", [])]
    return RunInfo(**data)


def save_snapshot(run: Run, path: Path) -> int:
    """Write ``run`` (a local run followed live) to ``path``; returns the rows saved."""
    live: LiveRun = run.live
    parts = [chunk.assign(stream=index) for index, chunks in enumerate(live._chunks) for chunk in chunks if len(chunk)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"run_id": [], "step": pd.Series([], dtype="int64"), "metric": [], "value": pd.Series([], dtype="float64"),
         "wall_time": pd.Series([], dtype="float64"), "stream": pd.Series([], dtype="int64")})
    frame = frame.astype({"run_id": str, "metric": str})  # one string type whatever the chunks' categories were
    meta = {
        "version": SNAPSHOT_VERSION,
        "forge_monitor": __version__,
        "streams": _streams(live.streams),
        "cursors": {str(Path(p).resolve()): _cursor_to_dict(c) for p, c in live._cursors.items()},
        "formats": {str(Path(p).resolve()): f for p, f in live.formats.items()},
        "last_new_data": live.last_new_data,
        "info": run.info.to_dict(),
    }
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, temp, compression="zstd")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(frame)


def load_snapshot(spec: RunSpec, path: Path, *, definitions=None) -> tuple[Run | None, str]:
    """The run saved at ``path`` for ``spec``'s files, ready for ``run.live.refresh()`` to read on from
    the saved offsets; or (None, why not) when there is none or it cannot be used."""
    if not path.exists():
        return None, "no snapshot"
    try:
        parquet = pq.ParquetFile(path)
        meta = json.loads((parquet.schema_arrow.metadata or {}).get(_META_KEY, b"null"))
        if not isinstance(meta, dict) or meta.get("version") != SNAPSHOT_VERSION:
            return None, "a snapshot of another format version"
        if meta.get("forge_monitor") != __version__:
            return None, f"written by forge-monitor {meta.get('forge_monitor')}, this is {__version__}"
        if meta.get("streams") != _streams(spec.streams):
            return None, "the run's files changed (a file was added or removed)"
        frame = parquet.read().to_pandas()
        info = _info_from_dict(meta["info"])
        cursors = {Path(p): _cursor_from_dict(meta["cursors"].get(str(Path(p).resolve())))
                   for stream in spec.streams for p in stream}
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as err:
        return None, f"unreadable snapshot ({type(err).__name__}: {' '.join(str(err).split())[:120]})"
    info.run_id = spec.run_id  # the name under the folder searched now
    live = LiveRun(info, spec.streams, definitions=definitions)
    formats = meta.get("formats", {})
    for path in live._cursors:
        live._cursors[path] = cursors[path]
        if str(path.resolve()) in formats:
            live.formats[path] = formats[str(path.resolve())]
    live.last_new_data = meta.get("last_new_data")
    for index in range(len(live.streams)):
        rows = frame[frame["stream"] == index].drop(columns="stream").reset_index(drop=True)
        if len(rows):
            rows["run_id"] = pd.Categorical.from_codes([0] * len(rows), categories=[spec.run_id])
            live._chunks[index] = [rows.astype({"metric": "category"})]
    return Run(info, live.frame, live), "resumed"
