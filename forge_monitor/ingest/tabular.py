"""Row-per-step tables: generic JSONL and CSV, LLaMA-Factory ``trainer_log.jsonl``, and the Bedrock /
Nova Forge ``step_wise_training_metrics.csv`` / ``validation_metrics.csv``.

JSONL goes through polars' reader in one call (the fast path); one ``NaN`` token, a non-JSON line or
a type change makes every fast reader reject the whole file, so then each line is parsed on its own
and a bad line is skipped, counted and explained. CSV is read as text columns and cast per column,
so a bad cell costs that cell only.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import polars as pl
import pyarrow.json as pyarrow_json

from ..schema import STEP_LIMIT, RunInfo, canonical_key
from ._bytes import count_byte, count_bytes
from ._tidy import RECORD_SCHEMA, empty_records

STEP_KEYS = (
    "step", "global_step", "current_steps", "step_number", "_step", "iteration", "iter",
    "trainer/global_step", "train/global_step", "training/global_step",
)
# Bookkeeping columns: known, not metrics. total_steps is kept as a hyperparameter.
_BOOKKEEPING = {"total_steps", "percentage", "elapsed_time", "remaining_time", "timestamp", "time", "_timestamp", "_runtime"}
_LONG_FORM = ("metric", "value")


# A step is an int64 (schema.py); one beyond it (``1e30``) is a bad row, skipped with this reason.


def _step_out_of_range(step_key: str) -> str:
    return f"{step_key!r} is out of range (beyond a 64-bit integer)"


def find_step_key(columns) -> str | None:
    for key in STEP_KEYS:
        if key in columns:
            return key
    return None


def _melt(table: pl.DataFrame, step_key: str | None, info: RunInfo, first_line: int, seq_start: int, carry: dict,
          line_numbers=None) -> pl.DataFrame:
    """Wide rows -> records. Rows without a usable step are skipped with their line number.

    Rows are consecutive lines from ``first_line`` unless ``line_numbers`` says where each row was
    (lines were skipped). This is most of a large JSONL read after the parser itself, so it copies
    the table as few times as it can: row numbers are computed, not stored twice, and a filter runs
    only where there is something to drop.
    """
    row = pl.int_range(0, pl.len(), dtype=pl.Int64)
    line = (row + first_line) if line_numbers is None else pl.Series(line_numbers, dtype=pl.Int64)
    if step_key is None:
        ordinal = carry.get("ordinal", 0)
        table = table.with_columns(line.alias("line"), (row + ordinal + 1).alias("step"))
        carry["ordinal"] = ordinal + table.height
        if not carry.get("warned_no_step"):
            info.warnings.append(f"no step column (looked for {', '.join(STEP_KEYS[:5])}, ...): steps are row numbers")
            carry["warned_no_step"] = True
    else:
        # A file whose step key changes part way (``step`` -> ``global_step``, two writers' habits) keeps
        # its later rows: a row without the first key takes another step key it has.
        others = [k for k in STEP_KEYS if k != step_key and k in table.columns]
        stepf = table[step_key].cast(pl.Float64, strict=False)
        if others and stepf.null_count():
            stepf = table.select(pl.coalesce([pl.col(k).cast(pl.Float64, strict=False) for k in (step_key, *others)]))
            stepf = stepf.to_series()
        numeric = stepf.is_not_null() & stepf.is_finite()
        usable = numeric & (stepf.abs() < STEP_LIMIT)
        table = table.with_columns(line.alias("line"), stepf.round(0).cast(pl.Int64, strict=False).alias("step"))
        if not usable.all():
            for line, is_number in zip(table["line"].filter(~usable), numeric.filter(~usable)):
                info.skip(line, _step_out_of_range(step_key) if is_number else f"row has no numeric {step_key!r}")
            table = table.filter(usable)
    # One row per record: whether steps never go back is known here, on the wide table, for a
    # fraction of what checking the melted records would cost (see _tidy.resolve_restarts).
    steps = table["step"]
    carry["_first_step"] = int(steps[0]) if table.height else None
    carry["_steps_never_regress"] = bool(table.height < 2 or (steps.diff().drop_nulls() >= 0).all())
    if "total_steps" in table.columns and table.height:
        total = table["total_steps"].cast(pl.Float64, strict=False).drop_nulls()
        if len(total):
            info.hyperparameters.setdefault("max_steps", int(total[-1]))
    skip = {step_key, "line", "seq", "step", *_BOOKKEEPING, *(k for k in STEP_KEYS if k in table.columns)}
    # Canonical names on the columns (cheap) rather than on every melted row; two source columns
    # with one canonical name (loss and train/loss) keep the later column's value.
    renamed: dict[str, pl.Expr] = {}
    for name, dtype in table.schema.items():
        if name in skip:
            continue
        canonical, scale = canonical_key(name)
        if dtype.is_numeric() or dtype == pl.Null:
            value = pl.col(name).cast(pl.Float64)
        elif dtype == pl.Utf8:
            value = pl.col(name).cast(pl.Float64, strict=False)
        else:
            continue
        renamed[canonical] = value if scale == 1.0 else value * scale
    if not renamed:
        return empty_records()
    # Rows are in file order, so a row's line gives it a record number (unique, increasing).
    table = table.with_columns((pl.col("line") + (seq_start - first_line)).alias("seq"))
    # Melt column by column with the metric as an Enum: integer codes instead of one string per row;
    # each metric's rows stay in file order, which is what keep-last needs. Metrics in alphabetical
    # order, the tidy frame's: to_tidy then takes the rows as they come, with no reordering copy.
    names = pl.Enum(sorted(renamed))
    parts = []
    for name, value in sorted(renamed.items()):
        part = table.select("seq", "line", "step", pl.lit(name, dtype=names).alias("metric"), value.alias("value"))
        parts.append(part.filter(pl.col("value").is_not_null()) if part["value"].null_count() else part)
    return pl.concat(parts).with_columns(pl.lit(None, dtype=pl.Float64).alias("wall_time"))


def _json_lines_slow(text: str, info: RunInfo, first_line: int) -> tuple[list[dict], list[int]]:
    rows: list[dict] = []
    lines: list[int] = []
    for offset, raw in enumerate(text.split("\n")):
        raw = raw.strip()
        if not raw:
            continue
        line = first_line + offset
        try:
            row = json.loads(raw)  # accepts NaN / Infinity, unlike the fast readers
        except json.JSONDecodeError as err:
            info.skip(line, f"not valid JSON ({err.msg})", raw)
            continue
        except RecursionError:
            info.skip(line, "JSON nested too deeply to read", raw[:200])
            continue
        if not isinstance(row, dict):
            info.skip(line, "JSON line is not an object", raw)
            continue
        flat = {}
        for key, value in row.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)) or value is None:
                flat[key] = float(value) if value is not None else math.nan
            elif isinstance(value, str):
                flat[key] = value
        rows.append(flat)
        lines.append(line)
    return rows, lines


def _read_json_lines_fast(source, colons: int) -> pl.DataFrame | None:
    """The whole of ``source`` (a path or a byte stream) in one call, or None when a line needs
    the per-line path.

    polars infers the schema from the first rows and silently drops a key that first appears
    later (eval rows); pyarrow infers block by block but is slower. So: polars, then a guard - each
    of the text's ``colons`` must be the separator of a non-null cell of the table - and pyarrow
    when the guard fails. A dropped key leaves its colon unaccounted for; a colon inside a string, a
    null or a nested object only make the guard fail safe (the slower reader then runs).
    """
    try:
        table = pl.read_ndjson(source)
        cells = sum(table.height - n for n in table.null_count().row(0))
        if cells == colons:
            return table
        if hasattr(source, "seek"):
            source.seek(0)
        return pl.from_arrow(pyarrow_json.read_json(source))
    except Exception:  # one bad line (NaN, a torn write) rejects the whole chunk in every fast reader
        return None


def parse_jsonl(
    data: bytes, info: RunInfo, *, first_line: int = 1, seq_start: int = 0, carry: dict, n_lines: int | None = None
) -> pl.DataFrame:
    """Parse complete JSON lines. Blank lines are allowed and keep line numbers right.

    A large chunk is read in blocks, so a bad line (one ``NaN`` token, one torn line) sends only
    its block through the per-line parser (measured: one ``NaN`` among 1,000,000 lines took 11 s
    when the whole file went line by line; in blocks, under 1 s).
    """
    if not data or data.isspace():
        return empty_records()
    if len(data) > 2 * _BLOCK_BYTES:
        table, line_numbers = _parse_in_blocks(data, info, first_line)
    else:
        table, line_numbers = _parse_block(data, info, first_line, n_lines)
    if table is None:
        return empty_records()
    return _records(table, info, first_line, seq_start, carry, line_numbers)


# Blocks this size parse as fast as one whole 90 MB read (0.54 s against 0.56 s at 4 MiB, 1.1 s
# at 512 KiB, measured on the 1,000,000-line bench file) and keep a bad line's cost to one block.
_BLOCK_BYTES = 2 << 20


def _parse_block(block: bytes, info: RunInfo, first_line: int, n_lines: int | None):
    """``(table, line numbers or None when rows are consecutive lines)``, ``(None, None)`` when no
    line holds a record. The fast reader first; the per-line parser when it rejects the block."""
    table = _read_json_lines_fast(io.BytesIO(block), count_byte(block, ord(":")))
    if table is not None:
        if n_lines is None or table.height == n_lines:
            return table, None
        line_numbers = _row_lines(block, table.height, first_line)  # the fast reader skipped blank lines
        if line_numbers is not None:
            return table, line_numbers
    rows, line_numbers = _json_lines_slow(block.decode("utf-8", errors="replace"), info, first_line)
    if not rows:
        return None, None
    return pl.DataFrame(rows, infer_schema_length=None, strict=False), line_numbers


def _parse_in_blocks(data: bytes, info: RunInfo, first_line: int):
    """``_parse_block`` over blocks of about ``_BLOCK_BYTES`` cut at line ends, stacked back together
    (a column a block lacks is null there; types are widened to what every block can hold)."""
    tables, line_numbers = [], []
    start, line = 0, first_line
    while start < len(data):
        end = data.find(b"\n", min(start + _BLOCK_BYTES, len(data)) - 1) + 1 or len(data)
        block = data[start:end]
        n_lines = count_byte(block, ord("\n")) + (not block.endswith(b"\n"))
        table, lines = _parse_block(block, info, line, n_lines)
        if table is not None and table.height:
            tables.append(table)
            line_numbers.append(np.arange(line, line + table.height) if lines is None else np.asarray(lines))
        start, line = end, line + n_lines
    if not tables:
        return None, None
    return pl.concat(tables, how="diagonal_relaxed"), np.concatenate(line_numbers)


def parse_jsonl_file(path, info: RunInfo, *, carry: dict) -> tuple[pl.DataFrame, int, int] | None:
    """A whole JSONL file in one pass of the fast reader: ``(records, bytes consumed, lines consumed)``,
    or None when the caller must go through ``parse_jsonl`` (the file does not end with a complete line).

    The bytes are read once into memory and every count and parse works on that copy. The file is
    never memory-mapped, by us or by polars (which maps a path it is given): a file that someone
    truncates while a map is read (``open(..., "w")``, a copytruncate rotation) raises SIGBUS, which
    kills the process - the whole dashboard server (audit 2026-11-29 M2). A read() of a shrinking
    file only returns fewer bytes; the next refresh notices the truncation and says so.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    size = len(data)
    if size == 0 or data[size - 1] != ord("\n"):
        return None
    n_lines, colons = count_bytes(data, (ord("\n"), ord(":")))
    table = _read_json_lines_fast(io.BytesIO(data), colons)
    if table is None:  # a line the fast readers reject: the blocks find it without a second whole read
        return parse_jsonl(data, info, carry=carry, n_lines=n_lines), size, n_lines
    if table.height > n_lines:
        return None
    line_numbers = None
    if table.height < n_lines:  # blank lines: rows must map back onto the lines
        line_numbers = _row_lines(data, table.height, 1)
        if line_numbers is None:
            return None
    return _records(table, info, 1, 0, carry, line_numbers), size, n_lines


# What polars' NDJSON reader skips as a blank line (it rejects a line holding any other whitespace).
_BLANK = b" \t\r"


def _row_lines(data, n_rows: int, first_line: int) -> np.ndarray | None:
    """Line numbers of the non-blank lines of ``data`` (complete lines), when there are ``n_rows``
    of them: the rows of a fast reader, which skips blank lines. None when they do not match.

    Saves a file with one stray blank line from the per-line path (measured: a trailing blank
    line on 1,000,000 lines cost 13.8 s instead of 0.84 s).
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(codes == ord("\n"))
    starts = np.concatenate(([0], ends[:-1] + 1))
    # A blank line starts with a blank byte or is empty (its first byte is its newline).
    maybe = np.flatnonzero(np.isin(codes[starts], np.frombuffer(_BLANK + b"\n", dtype=np.uint8)))
    blank = [i for i in maybe if not bytes(data[starts[i]:ends[i]]).strip(_BLANK)]
    keep = np.ones(len(ends), dtype=bool)
    keep[blank] = False
    lines = np.flatnonzero(keep) + first_line
    return lines if len(lines) == n_rows else None


def _records(table: pl.DataFrame, info: RunInfo, first_line: int, seq_start: int, carry: dict,
             line_numbers: list[int] | None = None) -> pl.DataFrame:
    """A table of JSON lines -> records; ``line_numbers`` when rows are not consecutive lines."""
    if "metric" in table.columns and "value" in table.columns:
        return _long_form(table, info, first_line, seq_start, line_numbers)
    step_key = carry.setdefault("step_key", find_step_key(table.columns))
    return _melt(table, step_key, info, first_line, seq_start, carry, line_numbers)


def _long_form(table: pl.DataFrame, info, first_line, seq_start, line_numbers) -> pl.DataFrame:
    """``{"step": 3, "metric": "loss", "value": 0.5}`` lines: already tidy."""
    step_key = find_step_key(table.columns)
    if step_key is None:
        info.warnings.append("long-form JSONL without a step key")
        return empty_records()
    lines = np.arange(first_line, first_line + table.height) if line_numbers is None else np.asarray(line_numbers)
    table = table.with_columns(
        pl.Series("line", lines, dtype=pl.Int64),
        pl.Series("seq", np.arange(seq_start, seq_start + table.height), dtype=pl.Int64),
        pl.col(step_key).cast(pl.Float64, strict=False).alias("_stepf"),
        pl.col("value").cast(pl.Float64, strict=False),
        pl.col("metric").cast(pl.Utf8),
    )
    for line, stepf in table.filter(pl.col("_stepf").is_null() | (pl.col("_stepf").abs() >= STEP_LIMIT)
                                    ).select("line", "_stepf").iter_rows():
        info.skip(line, f"row has no numeric {step_key!r}" if stepf is None or stepf != stepf
                  else _step_out_of_range(step_key))
    return (
        table.filter(pl.col("_stepf").is_not_null() & (pl.col("_stepf").abs() < STEP_LIMIT) & pl.col("metric").is_not_null())
        .with_columns(pl.col("_stepf").round(0).cast(pl.Int64).alias("step"), pl.lit(None, dtype=pl.Float64).alias("wall_time"))
        .select(list(RECORD_SCHEMA))
        .cast(RECORD_SCHEMA)
    )


def parse_csv(text: str, info: RunInfo, *, first_line: int = 1, seq_start: int = 0, carry: dict) -> pl.DataFrame:
    """Parse complete CSV lines. The header is remembered in ``carry`` for the next read."""
    body_first = first_line
    if "header" not in carry:
        header, _, text = text.partition("\n")
        carry["header"] = header.strip("\r")
        body_first = first_line + 1
    if not text.strip():
        return empty_records()
    header = carry["header"]
    try:
        table = pl.read_csv(
            io.StringIO(header + "\n" + text), infer_schema=False, truncate_ragged_lines=True
        )
    except Exception as err:  # a CSV so broken that no row can be trusted
        info.warnings.append(f"CSV could not be parsed: {err}")
        return empty_records()
    names = {c: c.strip() for c in table.columns}
    table = table.rename(names)
    if "validation_loss" in table.columns and "perplexity" in table.columns:
        table = table.rename({"perplexity": "validation_perplexity"})  # -> eval:perplexity
    # A non-empty cell that is not a number is a bad cell: counted, the rest of its row kept.
    bad_cells = 0
    for name in table.columns:
        filled = table[name].is_not_null() & (table[name].str.strip_chars() != "")
        numeric = table[name].cast(pl.Float64, strict=False).is_not_null()
        if int(numeric.sum()) * 2 >= int(filled.sum()):  # a numeric column, not a text column
            bad_cells += int((filled & ~numeric).sum())
    if bad_cells:
        info.warnings.append(f"{bad_cells} non-numeric CSV cells were ignored")
    step_key = carry.setdefault("step_key", find_step_key(table.columns))
    return _melt(table, step_key, info, body_first, seq_start, carry)
