"""Nova / NeMo / verl text logs: the lines Nova customization jobs write to stdout (and CloudWatch).

Three line shapes, one tokenizer (``reference/formats.md`` section 2.2):

- A, Lightning/NeMo progress bar: ``Epoch 1: : 3it [00:32, 10.68s/it, v_num=1feb,
  reduced_train_loss=2.66e-5, global_step=6.000, ...]`` - the same step repeats as the bar
  refreshes, refreshes are separated by carriage returns (``\\r`` or the text ``#015``), and a JSON
  side record may be glued to the end;
- B, NeMo ProgressPrinter pipes: ``Training epoch 0, iteration 8/9 | lr: 5.625e-06 | global_step: 8 |
  reduced_train_loss: 0.0013`` (the RFT variant adds ``train_rm_score | kl | ent | clipfrac``);
- C, verl: ``(TaskRunner pid=12647) step:295 - actor/entropy:2.54 - critic/rewards/mean:0.83`` with
  ANSI colour codes.

A line is a metric line when it carries a step (``global_step`` or verl's ``step:``). Every
``key=value`` / ``key: value`` / ``key:value`` pair with a numeric value (``nan`` included) becomes
a record; keys may hold spaces, ``/`` and ``@``. The work is vectorised with polars regexes: no
per-line Python loop (see ``bench/ingest_bench.py``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..schema import RunInfo
from ._tidy import RECORD_SCHEMA, empty_records

FORMATS = ("nova_progress", "nova_pipe", "verl")

_ANSI = r"(?:\x1b|\\033|\\x1b|\\u001b)\[[0-9;]*m"
_STEP = r"global_step[=:]\s*([^\s,|\]]+)|(?:^|[\s)\]])step:\s*(\d+)"
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|Infinity)"
_SEPARATORS = r" \| | - |, |\[|\]"
_KEY = r"^[A-Za-z_][A-Za-z0-9_/@.\- ]*$"
_TIMESTAMP = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3})\]"
_PREFIX_EPOCH = r"(?:Training epoch |Epoch )(\d+)[,:]"
_HYPERPOD_PREFIX = r"^\[[A-Za-z0-9][A-Za-z0-9._-]*\] \[\d{4}-"

# Keys that are positions or bookkeeping, not metrics.
_NOT_METRICS = ["global_step", "training/global_step", "step", "v_num", "iteration", "Training epoch"]


def _lines_frame(text: str, first_line: int) -> pl.DataFrame:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return pl.DataFrame(
        {"line": np.arange(first_line, first_line + len(lines), dtype=np.int64), "text": lines},
        schema={"line": pl.Int64, "text": pl.Utf8},
    )


def looks_like_hyperpod(text: str) -> bool:
    """HyperPod lines carry the job name as a bracketed prefix: ``[job] [2025-12-17 04:54:49,774]``."""
    sample = _lines_frame(text[:65536], 1)["text"]
    return bool(sample.str.contains(_HYPERPOD_PREFIX).any())


def parse_text(text: str, info: RunInfo, *, first_line: int = 1, seq_start: int = 0) -> pl.DataFrame:
    """Parse complete lines of a Nova/NeMo/verl log into records (see ``_tidy``).

    ``first_line`` numbers the first line of ``text`` (incremental reads start mid-file);
    ``seq_start`` keeps record numbers increasing across reads.
    """
    frame = _lines_frame(text, first_line)
    text_col = pl.col("text")
    # Cheap literal filter first: most lines of a real log (warnings, tqdm) have no step at all.
    lines = frame.lazy().filter(text_col.str.contains("step", literal=True))
    # The timestamp prefixes the physical line; carriage-return segments after it share it.
    lines = lines.with_columns(
        (
            text_col.str.extract(_TIMESTAMP, 1)
            .str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC", strict=False)
            .dt.epoch("s")
            .cast(pl.Float64)
            + text_col.str.extract(_TIMESTAMP, 2).cast(pl.Float64, strict=False) / 1000.0
        ).alias("wall_time")
    )
    if "\x1b" in text or "\\033" in text or "\\x1b" in text or "\\u001b" in text:
        lines = lines.with_columns(text_col.str.replace_all(_ANSI, ""))
    if "\r" in text or "#015" in text:
        lines = lines.with_columns(text_col.str.replace_all("#015", "\r", literal=True).str.split("\r")).explode("text")
    segments = (
        lines.with_columns(
            pl.coalesce(
                text_col.str.extract(_STEP, 1).cast(pl.Float64, strict=False),
                text_col.str.extract(_STEP, 2).cast(pl.Float64, strict=False),
            ).alias("stepf"),
            text_col.str.contains(_STEP).alias("has_step"),
        )
        .filter(pl.col("has_step"))
        .collect()
    )
    if segments.height == 0:
        return empty_records()
    finite = pl.col("stepf").is_not_null() & pl.col("stepf").is_finite()
    for line, text_ in segments.filter(~finite).select("line", "text").iter_rows():
        info.skip(line, "step value is not a finite number", text_)
    # Split every line into fields at the separators of all three shapes (the epoch of the
    # "Training epoch 0," / "Epoch 1:" prefix goes first, so an explicit epoch key wins), then split
    # each field once at its first ``=``/``:``. No capturing regex runs per field: that is what
    # makes this faster than a per-line ``re`` loop (bench/ingest_bench.py).
    prefix_epoch = pl.concat_str([pl.lit("epoch:"), text_col.str.extract(_PREFIX_EPOCH, 1)]).fill_null("")
    records = (
        segments.lazy()
        .filter(finite)
        .with_row_index("seq", offset=seq_start)
        .select(
            pl.col("seq").cast(pl.Int64),
            "line",
            pl.col("stepf").round(0).cast(pl.Int64).alias("step"),
            "wall_time",
            pl.concat_str([prefix_epoch, pl.lit("\x1f"), text_col.str.replace_all(_SEPARATORS, "\x1f")])
            .str.split("\x1f")
            .alias("field"),
        )
        .explode("field")
        .with_columns(pl.col("field").str.replace_all("=", ":", literal=True).str.split_exact(":", 1).alias("kv"))
        .unnest("kv")
        .with_columns(
            pl.col("field_0").str.strip_chars().alias("metric"),
            pl.col("field_1").str.strip_chars().cast(pl.Float64, strict=False).alias("value"),
        )
        .filter(
            pl.col("value").is_not_null()
            & pl.col("metric").str.contains(_KEY)
            & ~pl.col("metric").is_in(_NOT_METRICS)
        )
        .select(list(RECORD_SCHEMA))
        .collect()
    )
    return records.cast(RECORD_SCHEMA)
