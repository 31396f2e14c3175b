"""Shared last mile of every reader: records in file order -> the tidy frame.

A reader emits *records* as a polars frame with columns ``seq`` (record number in file order),
``line`` (1-based source line), ``step``, ``metric``, ``value``, ``wall_time``. This module applies
the ingestion rules once, for every format:

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


def canonicalise(records: pl.DataFrame) -> pl.DataFrame:
    """Replace source keys by canonical names (one dictionary lookup per distinct key), and scale
    the values of keys that carry a unit (``train/lr(1e-3)``)."""
    keys = records["metric"].unique().to_list()
    canonical = {k: canonical_key(k) for k in keys}
    mapping = {k: name for k, (name, _) in canonical.items() if name != k}
    scales = {k: scale for k, (_, scale) in canonical.items() if scale != 1.0}
    if scales:
        factor = pl.col("metric").replace_strict(scales, default=1.0, return_dtype=pl.Float64)
        records = records.with_columns(pl.col("value") * factor)
    if not mapping:
        return records
    return records.with_columns(pl.col("metric").replace(mapping))


def resolve_restarts(
    records: pl.DataFrame, info: RunInfo, *, last_step: int | None = None, first_step: int | None = None,
    never_regress: bool = False,
) -> tuple[pl.DataFrame, int | None]:
    """Drop rows superseded by a later segment; record each step regression in ``info``.

    ``records`` are in file order. ``last_step`` is the last step read before them (incremental
    reads), so a regression at the seam between two reads is seen too. A reader that already knows
    its records' steps never go back (``never_regress``, from the ``first_step``) saves the check. Returns the records and the
    lowest step a restart went back to (data read earlier at or after it is stale), or None.
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


def dedupe_sorted(records: pl.DataFrame) -> pl.DataFrame:
    """Group by metric (in order of first appearance), sort by step keeping file order within ties,
    then keep the last of each tie. Sorting integer codes, not strings, keeps this cheap; input that
    is already grouped by metric with strictly increasing steps (a wide table melted) is not sorted."""
    metric, step = pl.col("metric"), pl.col("step")
    new_series = (metric != metric.shift(1)).fill_null(True)
    check = records.select(
        new_series.sum().alias("series"), metric.n_unique().alias("metrics"),
        ((step.diff() > 0) | new_series).all().alias("increasing"),
    ).row(0)
    if check[0] == check[1] and check[2]:
        return records
    grouped = _group_in_file_order(records)
    if grouped is not None:
        return grouped
    codes = pl.col("metric").cast(pl.Categorical).to_physical().alias("_code")
    ordered = records.with_columns(codes).sort(["_code", "step"], maintain_order=True).drop("_code")
    next_metric = pl.col("metric").shift(-1)
    next_step = pl.col("step").shift(-1)
    return ordered.filter(next_step.is_null() | (next_metric != pl.col("metric")) | (next_step != pl.col("step")))


def _group_in_file_order(records: pl.DataFrame) -> pl.DataFrame | None:
    """The common case of a text log (every line holds all the metrics of one step, steps going up):
    a stable counting sort of the metric codes groups the rows by metric and leaves each metric's
    steps in file order, already ascending; a tie keeps the later row. None when some metric's steps
    go back in file order (the full sort is needed). Half the time of sorting by (code, step)."""
    codes = records["metric"].cast(pl.Categorical).to_physical().to_numpy()
    if codes.max() < 1 << 16:
        codes = codes.astype(np.uint16)  # numpy sorts 16-bit integers by radix: linear time
    order = np.argsort(codes, kind="stable")
    grouped_codes = codes[order]
    steps = records["step"].to_numpy()[order]
    same_metric = grouped_codes[1:] == grouped_codes[:-1]
    step_change = np.diff(steps)
    if (step_change[same_metric] < 0).any():
        return None
    tie = same_metric & (step_change == 0)
    if tie.any():
        order = order[np.concatenate([~tie, [True]])]
    return records[order]


def to_tidy(records: pl.DataFrame, run_id: str) -> pd.DataFrame:
    """Canonical, restart-resolved records -> tidy pandas frame, one value per (metric, step).

    ``run_id`` and ``metric`` are pandas Categoricals of strings: a run of a million steps and ten
    metrics holds ten distinct names, not ten million string objects.
    """
    tidy = dedupe_sorted(records.select("step", "metric", "value", "wall_time"))  # what the frame keeps, nothing more moved
    frame = pd.DataFrame(
        {
            "run_id": pd.Categorical.from_codes(np.zeros(tidy.height, dtype=np.int8), categories=[run_id]),
            "step": tidy["step"].to_numpy(writable=True),
            "metric": tidy["metric"].cast(pl.Categorical).to_pandas(),
            "value": tidy["value"].to_numpy(writable=True),
            "wall_time": tidy["wall_time"].to_numpy(writable=True),
        },
        copy=False,  # the columns are fresh, writable arrays: no second copy to consolidate them
    )
    return validate_frame(frame)
