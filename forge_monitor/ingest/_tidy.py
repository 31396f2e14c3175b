"""Shared last mile of every reader: records -> the tidy frame.

A reader emits *records* as a polars frame with columns ``seq`` (record number in file order),
``line`` (1-based source line), ``step``, ``metric``, ``value``, ``wall_time``. Each metric's rows
are in file order; the rows as a whole need not be (a melted table's are grouped by metric), so
what needs the file's order across metrics reads ``seq``. This module applies the ingestion rules
once, for every format:

- a step that goes backwards is a restart from a checkpoint: the newest segment wins for the
  overlapping steps (TensorBoard's "preemption"), and the regression is recorded;
- a duplicated (step, metric) keeps the last value;
- metric names are canonicalised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

from ..schema import Restart, RunInfo, canonical_key, validate_frame

RECORD_SCHEMA = {
    "seq": pl.Int64,
    "line": pl.Int64,
    "step": pl.Int64,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "wall_time": pl.Float64,
}


def empty_records() -> pl.DataFrame:
    return pl.DataFrame(schema=RECORD_SCHEMA)


def records_from_lists(seq, line, step, metric, value, wall_time=None) -> pl.DataFrame:
    n = len(seq)
    return pl.DataFrame(
        {
            "seq": np.asarray(seq, dtype=np.int64),
            "line": np.asarray(line, dtype=np.int64),
            "step": np.asarray(step, dtype=np.int64),
            "metric": pl.Series(metric, dtype=pl.Utf8),
            "value": np.asarray(value, dtype=np.float64),
            "wall_time": np.full(n, np.nan) if wall_time is None else np.asarray(wall_time, np.float64),
        },
        schema=RECORD_SCHEMA,
    )


def metric_codes(metric: pl.Series) -> tuple[np.ndarray, list[str]]:
    """``(codes, names)``: the metric names in alphabetical order, and each row's index into them.

    Strings are hashed once, by polars' categorical cast (a categorical or enum column is not hashed
    again); everything after works on integers: a million-step run holds millions of rows but only
    a handful of distinct names.
    """
    if isinstance(metric.dtype, pl.Enum) and not metric.null_count():
        # A melted wide table (tabular.py): the names are the enum's; which are present is a count
        # of its integer codes, with no hashing.
        categories = metric.dtype.categories.to_list()
        physical = metric.to_physical().to_numpy()
        present_physical = np.flatnonzero(np.bincount(physical, minlength=len(categories)))
        names = [categories[i] for i in present_physical]
    else:
        if metric.dtype == pl.Utf8:
            metric = metric.cast(pl.Categorical)
        present = metric.unique()
        names = present.cast(pl.Utf8).to_list()
        physical = metric.to_physical().to_numpy()
        present_physical = present.to_physical().to_numpy()
    ranks = np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"))  # each name's alphabetical place
    dtype = _code_dtype(len(names))
    if (present_physical == np.arange(len(names))).all() and (ranks == present_physical).all():
        return physical.astype(dtype), names  # the codes are the ranks already (a sorted enum, every name present)
    lookup = np.zeros(int(present_physical.max()) + 1 if len(present_physical) else 1, dtype=dtype)
    lookup[present_physical] = ranks
    return lookup[physical], sorted(names)


def _code_dtype(n: int) -> type:
    return np.int8 if n <= 127 else np.int16 if n <= 32767 else np.int32


def canonicalise(records: pl.DataFrame) -> pl.DataFrame:
    """Replace source keys by canonical names (one dictionary lookup per distinct key), and scale
    the values of keys that carry a unit (``train/lr(1e-3)``). Records whose names are all canonical
    already come back as they are; otherwise the metric column comes back as a polars categorical
    (names replaced by integer lookups, not per row)."""
    if records.height == 0:
        return records
    metric = records["metric"]
    if isinstance(metric.dtype, pl.Enum) and all(canonical_key(name) == (name, 1.0) for name in metric.dtype.categories):
        return records  # a melted wide table, its columns renamed before the melt: no row is looked at
    codes, names = metric_codes(metric)
    canonical = [canonical_key(name) for name in names]
    if all(name == new and scale == 1.0 for name, (new, scale) in zip(names, canonical)):
        return records  # every name canonical already
    targets = sorted({name for name, _ in canonical})
    index = {name: i for i, name in enumerate(targets)}
    target_of = np.array([index[name] for name, _ in canonical], dtype=np.int32)
    metric = pl.Series("metric", targets, dtype=pl.Categorical).gather(target_of[codes])
    records = records.with_columns(metric)
    scales = np.array([scale for _, scale in canonical], dtype=np.float64)
    if (scales != 1.0).any():
        records = records.with_columns(pl.col("value") * pl.Series(scales[codes]))
    return records


def resolve_restarts(
    records: pl.DataFrame, info: RunInfo, *, last_step: int | None = None, first_step: int | None = None,
    never_regress: bool = False,
) -> tuple[pl.DataFrame, int | None]:
    """Drop rows superseded by a later segment; record each step regression in ``info``.

    ``records`` carry their file order in ``seq`` (their rows may be grouped by metric). ``last_step``
    is the last step read before them (incremental reads), so a regression at the seam between two
    reads is seen too. A reader that already knows its records' steps never go back
    (``never_regress``, from the ``first_step``) saves the check. Returns the records and the lowest
    step a restart went back to (data read earlier at or after it is stale), or None.
    """
    if records.height == 0:
        return records, None
    if never_regress and first_step is not None and (last_step is None or first_step >= last_step):
        return records, None  # the reader saw the record order and it never goes back
    # One step per record: scatter by record number (no sort), then look for a step going back.
    seq = records["seq"].to_numpy()
    base = int(seq.min())
    present = np.zeros(int(seq.max()) - base + 1, dtype=bool)
    present[seq - base] = True
    step_of = np.empty(len(present), dtype=np.int64)
    step_of[seq - base] = records["step"].to_numpy()
    record_steps = step_of[present]
    first_prev = record_steps[0] if last_step is None else last_step
    if record_steps[0] >= first_prev and not (np.diff(record_steps) < 0).any():
        return records, None  # the common case: no restart, no per-record work
    per_record = (
        records.group_by("seq", maintain_order=True)
        .agg(pl.col("step").first(), pl.col("line").first())
        .sort("seq")
    )
    steps = per_record["step"].to_numpy()
    prev = np.empty_like(steps)
    prev[0] = first_prev
    prev[1:] = steps[:-1]
    regress = steps < prev
    lines = per_record["line"].to_numpy()
    for i in np.flatnonzero(regress):
        info.restarts.append(Restart(int(lines[i]), int(prev[i]), int(steps[i])))
    segment = np.cumsum(regress)
    n_seg = int(segment[-1]) + 1
    never = np.iinfo(np.int64).max
    starts = np.full(n_seg, never)
    first_idx = np.concatenate([[0], np.flatnonzero(regress)])
    starts[segment[first_idx]] = steps[first_idx]
    # For every segment, the smallest start of any later segment: rows at or past it are stale.
    later_min = np.concatenate([np.minimum.accumulate(starts[::-1])[::-1][1:], [never]])
    limits = pl.DataFrame({"seq": per_record["seq"], "_limit": later_min[segment]})
    kept = (
        records.join(limits, on="seq", how="left", maintain_order="left")
        .filter(pl.col("step") < pl.col("_limit"))
        .drop("_limit")
    )
    return kept, int(steps[regress].min())


def tidy_order(codes: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of records in file order that the tidy frame keeps, in its order: grouped by metric
    code, steps ascending, the last of a repeated (metric, step); with the steps in that order. None
    when that is the records' own order. A wide table melted (one run of rows per metric, steps
    going up) is only put in code order, run by run."""
    if len(codes) == 0:
        return None
    new_series = np.empty(len(codes), dtype=bool)
    new_series[0] = True
    np.not_equal(codes[1:], codes[:-1], out=new_series[1:])
    step_up = np.empty(len(codes), dtype=bool)
    step_up[0] = True
    np.greater(steps[1:], steps[:-1], out=step_up[1:])
    # One run per metric (at most as many runs as codes; counted before the runs are listed: a text
    # log, its metrics taking turns, has a run per row).
    if np.count_nonzero(new_series) <= int(codes.max()) + 1 and (step_up | new_series).all():
        run_starts = np.flatnonzero(new_series)
        run_codes = codes[run_starts]
    else:
        run_codes = None
    if run_codes is not None and len(np.unique(run_codes)) == len(run_codes):
        if (np.diff(run_codes) > 0).all():
            return None
        run_ends = np.append(run_starts[1:], len(codes))
        order = np.concatenate([np.arange(run_starts[i], run_ends[i]) for i in np.argsort(run_codes)])
        return order, steps[order]
    grouped = _group_in_file_order(codes, steps)
    if grouped is not None:
        return grouped
    order = np.lexsort((steps, codes))  # stable: within a tie, file order
    grouped_codes, grouped_steps = codes[order], steps[order]
    last_of_tie = np.ones(len(order), dtype=bool)
    last_of_tie[:-1] = (grouped_codes[1:] != grouped_codes[:-1]) | (grouped_steps[1:] != grouped_steps[:-1])
    return order[last_of_tie], grouped_steps[last_of_tie]


def _group_in_file_order(codes: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The common case of a text log (each line holds the metrics of one step, steps going up): a
    stable counting sort of the metric codes groups the rows by metric and leaves each metric's
    steps in file order, already ascending; a tie keeps the later row. None when some metric's steps
    go back in file order (the full sort is needed). Half the time of sorting by (code, step).

    When the file's steps never go back, no metric's can (each is a part of them): then nothing is
    checked after the sort but ties. A log whose lines are not all alike (a validation line every
    few thousand steps) comes here rather than to ``_line_major``."""
    order = np.argsort(codes.astype(np.uint16) if codes.max() < 1 << 16 else codes, kind="stable")  # 16 bits: radix
    grouped_steps = steps[order]
    # Where one metric's rows end and the next one's begin: the codes are 0..k-1, every one present.
    same_metric = np.ones(len(codes) - 1, dtype=bool)
    same_metric[np.cumsum(np.bincount(codes))[:-1] - 1] = False
    if not (steps[1:] >= steps[:-1]).all() and (same_metric & (grouped_steps[1:] < grouped_steps[:-1])).any():
        return None
    tie = same_metric & (grouped_steps[1:] == grouped_steps[:-1])
    if tie.any():
        last = np.append(~tie, True)
        order, grouped_steps = order[last], grouped_steps[last]
    return order, grouped_steps


def _line_major(codes: np.ndarray, steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray, n_metrics: int):
    """The tidy columns ``(step, code, value, wall_time)`` of a text log whose every line holds the same
    metrics in the same order at one step, steps going up (a Nova pipe or verl log): each metric's
    rows are one column of an (lines x metrics) grid, so grouping is a transpose, not a sort.
    None when the records are not such a grid (the general path then sorts)."""
    if n_metrics < 2 or len(codes) % n_metrics:
        return None
    lines = len(codes) // n_metrics
    grid = codes.reshape(lines, n_metrics)
    pattern = grid[0]
    if len(np.unique(pattern)) != n_metrics or not (grid == pattern).all():
        return None
    step_grid = steps.reshape(lines, n_metrics)
    line_steps = step_grid[:, 0]
    if not (line_steps[1:] > line_steps[:-1]).all() or not (step_grid == line_steps[:, None]).all():
        return None
    columns = np.argsort(pattern)  # the grid column of each metric, in code order
    return (
        np.tile(line_steps, n_metrics),
        np.repeat(np.arange(n_metrics, dtype=codes.dtype), lines),
        values.reshape(lines, n_metrics).T[columns].ravel(),  # one copy, the transposed grid
        wall_times.reshape(lines, n_metrics).T[columns].ravel(),
    )


def to_tidy(records: pl.DataFrame, run_id: str) -> pd.DataFrame:
    """Canonical, restart-resolved records -> tidy pandas frame, one value per (metric, step).

    ``run_id`` and ``metric`` are pandas Categoricals of strings: a run of a million steps and ten
    metrics holds ten distinct names, not ten million string objects. Rows are grouped by metric
    in alphabetical order, steps ascending. The work is numpy on integer codes: the strings are
    looked at once per distinct name.
    """
    codes, names = metric_codes(records["metric"])
    steps, values = records["step"].to_numpy(), records["value"].to_numpy()
    wall = records["wall_time"]
    # Readers without a clock (JSONL, CSV) leave it all null: NaNs at once, not a pass that converts nulls.
    wall_times = np.full(len(wall), np.nan) if wall.null_count() == len(wall) else wall.to_numpy()
    grid = _line_major(codes, steps, values, wall_times, len(names))
    if grid is not None:
        steps, codes, values, wall_times = grid
    else:
        ordered = tidy_order(codes, steps)
        if ordered is None:  # polars may share its buffers read-only: the frame gets its own, writable ones
            steps, values, wall_times = (a if a.flags.writeable else a.copy() for a in (steps, values, wall_times))
        else:
            order, steps = ordered
            codes, values, wall_times = codes[order], values[order], wall_times[order]
    frame = pd.DataFrame(
        {
            "run_id": pd.Categorical.from_codes(np.zeros(len(codes), dtype=np.int8), categories=[run_id]),
            "step": steps,
            "metric": pd.Categorical.from_codes(codes, categories=names),
            "value": values,
            "wall_time": wall_times,
        },
        copy=False,  # the columns are fresh, writable arrays: no second copy to consolidate them
    )
    # Every path above leaves one row per (metric, step), by construction: the contract's types are
    # checked, its duplicate count (a pass over every row) is not repeated.
    return validate_frame(frame, keys_unique=True)
