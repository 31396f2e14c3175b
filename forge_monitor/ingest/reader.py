"""Reading a run's files, fully or incrementally (one code path: a full read is the first increment).

``read_increment(path, cursor)`` returns only what was appended since ``cursor``: a file is re-read
from the byte offset where the last read stopped, an incomplete last line (a writer mid-flush) is
left for the next read, and a truncated, replaced or rewritten file is noticed and read again from
the start, saying so. ``LiveRun`` keeps a run's frame up to date from such increments; the live
dashboard and the ``stalled`` detector rest on it.

User files are only ever opened for reading.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import polars as pl

from ..schema import Restart, RunInfo, empty_frame
from . import autoread, hf, nova, tabular, tensorboard
from ._bytes import count_byte
from ._tidy import canonicalise, empty_records, resolve_restarts, to_tidy
from .detect import FORMAT_KIND, LFS_POINTER, FormatError, sniff, sniff_file
from .metric_definitions import MetricDefinitions, parse_with_definitions

_HEAD_CHECK = 4096  # bytes compared to notice a file rewritten in place
_BYTES_PARSERS = {"jsonl", "llamafactory_jsonl"}  # handed raw bytes: no decode / re-encode round trip
# A first read of a JSONL file this large goes through tabular.parse_jsonl_file: one read, every count
# and the parse on that copy (never a memory map: a file truncated under a map kills the process).
MAP_JSONL_BYTES = 16 << 20
# Followed live, an unterminated last line is read once the file has been quiet this long (a writer
# mid-flush finishes its line well within it); a one-shot read takes it at once.
TAIL_IDLE_SECONDS = 2.0


@dataclass(frozen=True)
class FileCursor:
    """Where the previous read of one file stopped."""

    path: str
    format: str
    offset: int = 0  # bytes consumed (complete lines or records)
    line: int = 1  # number of the next line
    seq: int = 0  # next record number
    last_step: int | None = None
    device: int = 0
    inode: int = 0
    size: int = 0
    mtime_ns: int = 0
    head: bytes = b""
    carry: dict = field(default_factory=dict)


@dataclass
class Increment:
    records: pl.DataFrame  # canonical names, restarts within the increment resolved
    cursor: FileCursor
    reset: bool = False  # earlier data from this file is void (truncated / replaced / rewritten)
    message: str | None = None
    restart_from: int | None = None  # a restart went back to this step: older rows >= it are stale
    # The last line when it has no newline yet, read as it stands (canonical records). The cursor
    # stays before it, so a later read takes it again, whole; until then it is shown, not kept.
    tail: pl.DataFrame | None = None


def _stat(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FormatError("file not found") from None
    except OSError as err:
        raise FormatError(f"cannot read: {err.strerror}") from None
    if not path.is_file():
        raise FormatError("not a regular file")
    return st


def _read_from(path: Path, offset: int, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read() if limit is None else handle.read(limit)
    except OSError as err:
        raise FormatError(f"cannot read: {err.strerror}") from None


def parse_lines(fmt: str, text, info: RunInfo, cursor: FileCursor, carry: dict, definitions, n_lines: int):
    """Complete lines of one format -> records. ``text`` may be bytes (files) or str (CloudWatch
    events): the JSONL parsers take bytes, the others text."""
    if fmt in _BYTES_PARSERS:
        if isinstance(text, str):
            text = text.encode("utf-8")
    elif isinstance(text, bytes) and fmt not in nova.FORMATS:  # nova cuts the bytes into lines itself
        text = text.decode("utf-8", errors="replace")
    kwargs = dict(first_line=cursor.line, seq_start=cursor.seq)
    if fmt in nova.FORMATS:
        return nova.parse_text(text, info, **kwargs)
    if fmt == "hf_console":
        return hf.parse_console(text, info, carry=carry, **kwargs)
    if fmt in ("jsonl", "llamafactory_jsonl"):
        return tabular.parse_jsonl(text, info, carry=carry, n_lines=n_lines, **kwargs)
    if fmt in ("csv", "bedrock_csv"):
        return tabular.parse_csv(text, info, carry=carry, **kwargs)
    if fmt == "metric_definitions":
        return parse_with_definitions(text, info, definitions, carry=carry, **kwargs)
    if fmt == autoread.FORMAT:
        return autoread.parse_text(text, info, carry=carry, **kwargs)
    raise AssertionError(f"no line parser for {fmt}")


def read_increment(
    path: str | Path,
    cursor: FileCursor | None,
    info: RunInfo,
    *,
    definitions: MetricDefinitions | None = None,
    last_step: int | None = None,
    tail_idle: float | None = 0.0,
) -> Increment:
    """Read what ``path`` gained since ``cursor`` (everything when ``cursor`` is None).

    ``last_step`` seeds restart detection for the first read of a file that continues a stream
    (TensorBoard writes a new event file per session). Raises FormatError for unusable files.

    A last line without a newline is read as it stands (``Increment.tail``) once the file has not
    changed for ``tail_idle`` seconds (0: at once, as a one-shot ``scan`` does; None: never): the
    last line of a crashed run is the one that matters most. Until a newline arrives it is not
    consumed, so a writer that was only mid-flush is read again whole.
    """
    path = Path(path)
    st = _stat(path)
    reset, message = False, None
    if cursor is not None:
        if (st.st_dev, st.st_ino) != (cursor.device, cursor.inode):
            reset, message = True, f"{path.name} was replaced; read again from the start"
        elif st.st_size < cursor.offset:
            reset, message = True, f"{path.name} was truncated; read again from the start"
        elif cursor.head and _read_from(path, 0, len(cursor.head)) != cursor.head:
            reset, message = True, f"{path.name} was rewritten; read again from the start"
        if reset:
            cursor = None
    if cursor is None:
        # Event files are binary: their first bytes only say whether they are a Git LFS pointer.
        if path.name.startswith("events.out"):
            fmt = sniff(path, _read_from(path, 0, len(LFS_POINTER)), has_definitions=definitions is not None)
        else:
            fmt = sniff_file(path, has_definitions=definitions is not None, read=lambda limit: _read_from(path, 0, limit))
        cursor = FileCursor(str(path), fmt, device=st.st_dev, inode=st.st_ino)
    else:
        last_step = cursor.last_step
    kind = FORMAT_KIND[cursor.format]
    carry = dict(cursor.carry)

    if kind == "document":
        if cursor.offset and (st.st_size, st.st_mtime_ns) == (cursor.size, cursor.mtime_ns):
            return Increment(empty_records(), cursor)
        data = _read_from(path, 0)
        records = hf.parse_trainer_state(data, info)
        new_cursor = replace(cursor, offset=len(data), size=st.st_size, mtime_ns=st.st_mtime_ns)
        # A rewritten document replaces what was read before; that is normal, not worth a message.
        return _finish(records, info, new_cursor, reset=reset or cursor.offset > 0, message=message, last_step=None)

    whole = None
    if cursor.offset == 0 and cursor.format in _BYTES_PARSERS and st.st_size >= MAP_JSONL_BYTES:
        try:
            whole = tabular.parse_jsonl_file(path, info, carry=carry)
        except OSError as err:
            raise FormatError(f"cannot read: {err.strerror}") from None
    if whole is not None:
        records, used, consumed_lines = whole
    elif kind == "records":
        data = _read_from(path, cursor.offset)
        records, used = tensorboard.parse_events(data, info, offset=cursor.offset, seq_start=cursor.seq)
        consumed_lines = 0
    else:
        data = _read_from(path, cursor.offset)
        used = data.rfind(b"\n") + 1  # an incomplete last line stays for the next read
        chunk = data[:used]
        consumed_lines = count_byte(chunk, ord("\n"))
        records = parse_lines(cursor.format, chunk, info, cursor, carry, definitions, consumed_lines) if used else empty_records()
    # Counted once here, for every line format (records formats count their own); a last line that a
    # one-shot read already counted while it had no newline is not counted again when it gets one.
    counted_tail = carry.pop("_tail_counted_at", None)
    info.lines_read += consumed_lines - (1 if consumed_lines and counted_tail == cursor.offset else 0)

    head = cursor.head
    if len(head) < _HEAD_CHECK and used:
        head = _read_from(path, 0, min(_HEAD_CHECK, cursor.offset + used))
    new_cursor = replace(
        cursor,
        offset=cursor.offset + used,
        line=cursor.line + consumed_lines,
        seq=(int(records["seq"].max()) + 1) if records.height else cursor.seq,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        head=head,
        carry=carry,
    )
    order = {"first_step": carry.pop("_first_step", None), "never_regress": carry.pop("_steps_never_regress", False)}
    new_cursor = replace(new_cursor, carry=carry)
    tail = None
    if kind == "lines" and tail_idle is not None and time.time() - st.st_mtime >= tail_idle:
        rest = data[used:] if whole is None else _read_from(path, cursor.offset + used)
        if rest.strip():
            one_shot = tail_idle == 0.0
            tail = _parse_tail(rest, new_cursor, info, definitions, count=one_shot and counted_tail != new_cursor.offset)
            if one_shot:
                new_cursor.carry["_tail_counted_at"] = new_cursor.offset
    elif counted_tail is not None and counted_tail == new_cursor.offset:
        new_cursor.carry["_tail_counted_at"] = counted_tail
    increment = _finish(records, info, new_cursor, reset=reset, message=message, last_step=last_step, **order)
    increment.tail = tail
    return increment


def _parse_tail(rest: bytes, cursor: FileCursor, info: RunInfo, definitions, *, count: bool) -> pl.DataFrame | None:
    """The unterminated last line, parsed on scratch state: it is read again when it is complete,
    so it moves neither the cursor nor the parser's state. A one-shot read (``count``) counts it
    as read, and a reason to skip it, once."""
    scratch = replace(info, skipped=[], warnings=[], restarts=[], lines_skipped=0)
    records = parse_lines(cursor.format, rest + b"\n", scratch, cursor, dict(cursor.carry), definitions, 1)
    if count:
        info.lines_read += 1
        for skipped in scratch.skipped:
            info.skip(skipped.line, skipped.reason, skipped.text)
    if records.height == 0:
        return None
    records = canonicalise(records)
    if cursor.last_step is not None:
        records = records.filter(pl.col("step") >= cursor.last_step)  # a torn step number is no restart
    return records if records.height else None


def _finish(records, info, cursor, *, reset, message, last_step, first_step=None, never_regress=False) -> Increment:
    if records.height == 0:
        return Increment(records, cursor, reset, message)
    records, restart_from = resolve_restarts(canonicalise(records), info, last_step=last_step,
                                             first_step=first_step, never_regress=never_regress)
    if records.height:
        cursor = replace(cursor, last_step=_step_of_record(records, last=True))
    return Increment(records, cursor, reset, message, restart_from)


def _step_of_record(records: pl.DataFrame, *, last: bool) -> int:
    """The step of the first or last record in file order. Not the first or last row: a melted table
    (tabular.py) is grouped by metric, so its last row may be a validation value from step 0."""
    seq = records["seq"]
    return int(records["step"][seq.arg_max() if last else seq.arg_min()])


class LiveRun:
    """A run kept up to date from its files. ``refresh()`` reads only what was appended.

    A run is one or more *streams*; a stream is a sequence of files read as one step sequence
    (TensorBoard's one-file-per-session), and streams are merged (Bedrock's training and
    validation CSVs).
    """

    def __init__(self, info: RunInfo, streams: list[list[Path]], *, definitions: MetricDefinitions | None = None):
        self.info = info
        self.streams = [[Path(p) for p in stream] for stream in streams]
        self.definitions = definitions
        self._cursors: dict[Path, FileCursor | None] = {p: None for s in self.streams for p in s}
        self._chunks: list[list[pd.DataFrame]] = [[] for _ in self.streams]
        self._tails: dict[Path, pd.DataFrame] = {}  # each file's unterminated last line, as it stands
        self._frame: pd.DataFrame | None = None
        self.last_new_data: float | None = None  # time.time() of the last refresh that added rows
        self.formats: dict[Path, str] = {}
        self._missing: set[str] = set()  # notes already given about files missing while followed
        self._last_steps: dict[int, int] = {}  # for add_records

    def refresh(self) -> list[str]:
        """Read what every file gained. Returns messages for the user (truncation, replacement)."""
        messages: list[str] = []
        added = 0
        for index in range(len(self.streams)):
            added += self._refresh_stream(index, messages)
        if added:
            self._frame = None
            self.last_new_data = time.time()
        return messages

    def _refresh_stream(self, index: int, messages: list[str]) -> int:
        stream = self.streams[index]
        last_step, added = None, 0
        for path in stream:
            cursor = self._cursors[path]
            try:
                increment = read_increment(
                    path, cursor, self.info, definitions=self.definitions,
                    last_step=last_step if cursor is None else None,
                    tail_idle=TAIL_IDLE_SECONDS if self.info.live else 0.0,
                )
            except FormatError as err:
                if cursor is None or not self.info.live:
                    raise
                # Followed live, a file can vanish for a moment (log rotation): keep what was read, retry.
                note = f"{path.name}: {err} (rotated?); keeping the steps read so far and retrying"
                if note not in self._missing:
                    self._missing.add(note)
                    messages.append(note)
                continue
            self._missing = {m for m in self._missing if not m.startswith(f"{path.name}:")}
            replaced = cursor is not None and (increment.cursor.device, increment.cursor.inode) != (cursor.device, cursor.inode)
            self._cursors[path] = increment.cursor
            self.formats[path] = increment.cursor.format
            if increment.cursor.last_step is not None:
                last_step = increment.cursor.last_step
            if increment.message:
                messages.append(increment.message)
                self.info.warnings.append(increment.message)
            if increment.reset and replaced and len(stream) == 1 and increment.cursor.format == cursor.format:
                # A new file at the same path (logrotate, a resumed job): the steps read before stay;
                # the new file continues them, and a step going back is a restart as usual.
                increment = self._continue(increment, cursor.last_step)
            elif increment.reset:
                self._frame = None
                self._chunks[index] = []
                self._tails.pop(path, None)
                if len(stream) > 1:
                    # Simplest correct answer to one rewritten file of several: read them all again.
                    for other in stream:
                        self._cursors[other] = None
                    return 1 + self._refresh_stream(index, messages)
            added += self._merge(index, increment)
            added += self._set_tail(path, increment.tail)
        return added

    def _continue(self, increment: Increment, previous_last: int | None) -> Increment:
        """A replaced file's first read, checked for a restart against the steps read before it."""
        if previous_last is None or increment.records.height == 0:
            return increment
        first = _step_of_record(increment.records, last=False)
        if first >= previous_last:
            return increment
        self.info.restarts.append(Restart(1, previous_last, first))
        increment.restart_from = first if increment.restart_from is None else min(first, increment.restart_from)
        return increment

    def _set_tail(self, path: Path, tail: pl.DataFrame | None) -> int:
        """Show the unterminated last line as it stands now (replacing what it showed before)."""
        old = self._tails.pop(path, None)
        if tail is None or tail.height == 0:
            if old is not None:
                self._frame = None
            return 0
        new = to_tidy(tail, self.info.run_id)
        self._tails[path] = new
        if old is not None and old.equals(new):
            return 0  # the same unfinished line as last time: no new data (a run that died mid-line stalls)
        self._frame = None
        return len(new)

    def _merge(self, index: int, increment: Increment) -> int:
        """Add an increment to a stream: a restart drops stale rows, a repeated step keeps the last."""
        chunks = self._chunks[index]
        if increment.restart_from is not None:
            limit = increment.restart_from
            chunks[:] = [c[c["step"] < limit] if len(c) and c["step"].max() >= limit else c for c in chunks]
            self._frame = None
        if increment.records.height == 0:
            return 0
        new = to_tidy(increment.records, self.info.run_id)
        first = int(new["step"].min())
        keys = None
        for i, chunk in enumerate(chunks):
            if len(chunk) and chunk["step"].max() >= first:  # only the tail chunk, in practice
                keys = keys if keys is not None else set(zip(new["metric"], new["step"].tolist()))
                fresh = [(m, s) not in keys for m, s in zip(chunk["metric"], chunk["step"].tolist())]
                chunks[i] = chunk[fresh]
        chunks.append(new)
        return len(new)

    def add_records(self, records: pl.DataFrame, *, stream: int = 0) -> int:
        """Merge records read from elsewhere (CloudWatch events) exactly as file increments are."""
        while len(self._chunks) <= stream:
            self._chunks.append([])
        last = self._last_steps.get(stream)
        cursor = FileCursor(path="", format="", last_step=last)
        increment = _finish(records, self.info, cursor, reset=False, message=None, last_step=last)
        if increment.cursor.last_step is not None:
            self._last_steps[stream] = increment.cursor.last_step
        added = self._merge(stream, increment)
        if added:
            self._frame = None
            self.last_new_data = time.time()
        return added

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            parts = [c for chunks in self._chunks for c in chunks if len(c)] + [t for t in self._tails.values() if len(t)]
            if not parts:
                self._frame = empty_frame()
            elif len(parts) == 1:
                self._frame = parts[0]
            else:
                merged = pd.concat(parts, ignore_index=True)  # categoricals that differ become object
                merged = merged.drop_duplicates(["metric", "step"], keep="last")
                merged = merged.sort_values(["metric", "step"], kind="stable", ignore_index=True)
                self._frame = merged.astype({"run_id": "category", "metric": "category"})
        return self._frame

    @property
    def cursors(self) -> dict[Path, FileCursor | None]:
        return dict(self._cursors)
