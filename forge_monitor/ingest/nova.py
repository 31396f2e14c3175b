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

import math

import numpy as np
import polars as pl
import pyarrow as pa

from ..schema import STEP_LIMIT, RunInfo
from ._bytes import find_byte
from ._tidy import RECORD_SCHEMA, empty_records
from ._values import LOOKS_NUMERIC, MARKERS, WRAPPED

FORMATS = ("nova_progress", "nova_pipe", "verl")

_ANSI = r"(?:\x1b|\\033|\\x1b|\\u001b)\[[0-9;]*m"
# The two step forms: ``global_step=6.000`` / ``global_step: 8`` (bar) and verl's ``step:295``.
_BAR_STEP = r"global_step[=:]\s*([^\s,|\]]+)"
_STEP = r"global_step[=:]\s*(?P<bar>[^\s,|\]]+)|(?:^|[\s)\]])step:\s*(?P<verl>\d+)"  # the two, first match wins
# Where verl's form can be in a line without colour codes, before the rewrites below: also after a
# carriage return (``#015step:``), whatever follows (a wrapped ``np.int64(5)`` becomes a digit).
_MAYBE_VERL_STEP = r"(?:^|[\s)\]]|#015)step:"
_SEPARATORS = r" \| | - |, |\[|\]"
_KEY = r"^[A-Za-z_][A-Za-z0-9_/@.\-() ]*$"  # parentheses: a unit, as in verl SFT's ``train/lr(1e-3)``
_TIMESTAMP = r"\[(?P<second>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](?P<ms>\d{3})\]"
_LEADING_TIMESTAMP = "^" + _TIMESTAMP
_TIMESTAMP_LENGTH = len("[2026-01-28 17:48:54,839]")
_PREFIX_EPOCH = r"(?:Training epoch |Epoch )(\d+)[,:]"
_HYPERPOD_PREFIX = r"^\[[A-Za-z0-9][A-Za-z0-9._-]*\] \[\d{4}-"
# The start of another log record on the same physical line, after the step: a logger's timestamp,
# a level tag or a source location (``...samples/sec=14.60]     2025-12-17 04:54:49,774 [INFO] -
# nlp_overrides.py:552 - Time elapsed ...``). Everything from there on is dropped.
_RECORD_START = (
    r"[ \t]\[?[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"|[ \t]\[(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL)\]|[ \t]-?[ \t]?[A-Za-z0-9_./-]+\.py:[0-9]+"
)
_SECTION_END = r"^(.*?(?:" + _STEP + r").*?)(?:" + _RECORD_START + r").*$"
# A looser, ASCII-only form of "a record starts after the step" that finds the lines to cut in one
# quick pass (~0.3 s per million lines); the exact cut runs on those lines only.
_GLUED_RECORD = r"(?:global_step[=:]|step:[0-9])[^\n]*(?:" + _RECORD_START + r")"

# A metric line holds at most a few hundred fields (verl's longest: ~5 KB). A line far beyond that
# (a dumped tensor, a million ``| k: 1.0``) would cost hundreds of MB once split into fields.
MAX_LINE_BYTES = 1 << 18

# Keys that are positions or bookkeeping, not metrics.
_NOT_METRICS = ["global_step", "training/global_step", "step", "v_num", "iteration", "Training epoch"]


def _lines_frame(text: str | bytes, first_line: int) -> pl.DataFrame:
    """One row per line (``line``, ``text`` without its newline). Bytes are cut into lines in place
    (``_lines_of_bytes``); text that is not UTF-8 is decoded with replacement characters first."""
    lines = _lines_of_bytes(text) if isinstance(text, bytes) else None
    if lines is None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = pl.Series(lines, dtype=pl.Utf8)
    return pl.DataFrame(
        {"line": np.arange(first_line, first_line + len(lines), dtype=np.int64), "text": lines},
        schema={"line": pl.Int64, "text": pl.Utf8},
    )


def _lines_of_bytes(data: bytes) -> pl.Series | None:
    """The lines of ``data`` as a string column, built on the bytes themselves: their newline
    positions become Arrow string offsets, and polars takes the array as it is. 0.1 s for the
    1,000,000-line bench log where decoding to ``str`` and ``str.split`` took 0.5 s. None when the
    bytes are not valid UTF-8 (the caller decodes them with replacement characters)."""
    ends = find_byte(data, ord("\n"))
    complete = len(ends)
    partial = bool(data) and data[-1:] != b"\n"  # a last line without a newline is still a line
    offsets = np.empty(complete + 1 + partial, dtype=np.int64)
    offsets[0] = 0
    offsets[1:complete + 1] = ends + 1
    if partial:
        offsets[-1] = len(data)
    array = pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return None
    return pl.Series("text", array).str.strip_suffix("\n")


def looks_like_hyperpod(text: str) -> bool:
    """HyperPod lines carry the job name as a bracketed prefix: ``[job] [2025-12-17 04:54:49,774]``."""
    sample = _lines_frame(text[:65536], 1)["text"]
    return bool(sample.str.contains(_HYPERPOD_PREFIX).any())


def parse_text(text: str | bytes, info: RunInfo, *, first_line: int = 1, seq_start: int = 0) -> pl.DataFrame:
    """Parse complete lines of a Nova/NeMo/verl log into records (see ``_tidy``). ``text`` may be the
    file's bytes (the fast way in) or text (CloudWatch events).

    ``first_line`` numbers the first line of ``text`` (incremental reads start mid-file);
    ``seq_start`` keeps record numbers increasing across reads.
    """
    frame = _lines_frame(text, first_line)
    text_col = pl.col("text")
    # Cheap literal filter first: most lines of a real log (warnings, tqdm) have no step at all.
    lines = frame.lazy().filter(text_col.str.contains("step", literal=True))
    if len(text) * (1 if isinstance(text, bytes) else 4) > MAX_LINE_BYTES and frame["text"].str.len_bytes().max() > MAX_LINE_BYTES:
        too_long = frame.filter(text_col.str.len_bytes() > MAX_LINE_BYTES)
        for line, size in too_long.select("line", text_col.str.len_bytes()).iter_rows():
            info.skip(line, f"a line of {size:,} bytes: longer than any metric line ({MAX_LINE_BYTES:,}); not parsed")
        lines = lines.filter(text_col.str.len_bytes() <= MAX_LINE_BYTES)  # before any regex reads it
    # Which rewrites the metric lines need, found in one multi-pattern pass over them (a dozen Python
    # ``in`` scans of the whole text cost a second per million lines).
    marks = lines.select(
        text_col.str.contains_any(["\x1b", "\\033", "\\x1b", "\\u001b"]).any().alias("ansi"),
        text_col.str.contains_any(list(MARKERS)).any().alias("wrapped"),
        text_col.str.contains("\r", literal=True).any().alias("cr"),
        text_col.str.contains("#015", literal=True).any().alias("cr_text"),
        text_col.str.contains("global_step=", literal=True).any().alias("bar"),
        text_col.str.contains(_MAYBE_VERL_STEP).any().alias("verl"),
        text_col.str.contains(" | ", literal=True).any().alias("pipe"),
    ).collect().row(0, named=True)
    # The timestamp prefixes the physical line; carriage-return segments after it share it.
    stamp = pl.col("_stamp").struct
    lines = lines.with_columns(text_col.str.extract_groups(_TIMESTAMP).alias("_stamp")).with_columns(
        (
            stamp.field("second")
            .str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC", strict=False)
            .dt.epoch("s")
            .cast(pl.Float64)
            + stamp.field("ms").cast(pl.Float64, strict=False) / 1000.0
        ).alias("wall_time")
    ).drop("_stamp")
    if marks["ansi"]:
        lines = lines.with_columns(text_col.str.replace_all(_ANSI, ""))
    if marks["wrapped"]:
        lines = lines.with_columns(text_col.str.replace_all(WRAPPED, "${1}${2}"))
    if marks["cr"] or marks["cr_text"]:
        # Carriage returns (or their ``#015`` text) separate progress-bar refreshes: each is a segment,
        # and only a segment with a step is read on (the line's timestamp prefix is a segment too).
        lines = lines.with_columns(_refreshes(text_col, marks)).explode("text").filter(text_col.str.contains("step", literal=True))
    if _only_bar_steps(marks):
        # No line has verl's form, so the first match of the bar form alone is the step (an
        # alternation that cannot start with a literal costs twice as much: 0.44 s against 0.24 s).
        step = text_col.str.extract(_BAR_STEP, 1)
        segments = lines.with_columns(step.alias("_step")).filter(pl.col("_step").is_not_null()).with_columns(
            pl.col("_step").cast(pl.Float64, strict=False).alias("stepf")
        )
    else:
        # One regex pass gives both step forms (``global_step=6.000`` / ``global_step: 8``, verl's ``step:295``).
        step = text_col.str.extract_groups(_STEP)
        segments = (
            lines.with_columns(step.alias("_step"))
            .filter(pl.col("_step").struct.field("bar").is_not_null() | pl.col("_step").struct.field("verl").is_not_null())
            .with_columns(
                pl.coalesce(
                    pl.col("_step").struct.field("bar").cast(pl.Float64, strict=False),
                    pl.col("_step").struct.field("verl").cast(pl.Float64, strict=False),
                ).alias("stepf"),
            )
        )
    # Whether another log record starts after the step on the same line, found here on every core.
    segments = segments.drop("_step").with_columns(text_col.str.contains(_GLUED_RECORD).alias("_glued")).collect()
    if frame.select(text_col.str.contains_any(['{"', "{'"]).any()).item():  # polars: 25x a Python scan
        _explain_other_format(frame, info)
    if segments.height == 0:
        return empty_records()
    # Only the metric section is parsed: it ends where another log record starts on the same line
    # (rare: the full cut runs only on the lines that have one).
    glued = segments["_glued"]
    segments = segments.drop("_glued")
    if glued.any():
        segments = segments.with_columns(
            pl.when(glued).then(text_col.str.replace(_SECTION_END, "${1}")).otherwise(text_col).alias("text")
        )
    # A step must fit int64 (a step of 1e30 is a bad line, not the end of the file's reading).
    finite = pl.col("stepf").is_not_null() & pl.col("stepf").is_finite() & (pl.col("stepf").abs() < STEP_LIMIT)
    for line, text_, stepf in segments.filter(~finite).select("line", "text", "stepf").iter_rows():
        out_of_range = stepf is not None and math.isfinite(stepf)
        info.skip(line, "step value is out of range" if out_of_range else "step value is not a finite number", text_)
    # In the progress-bar shape (``key=value``) a colon is not a separator: ``Epoch 1: : 3it`` and
    # ``[00:32`` are not metrics.
    key_value = text_col
    if marks["bar"]:
        key_value = (
            pl.when(text_col.str.contains("global_step=", literal=True))
            .then(text_col.str.replace_all(":", "\x1c", literal=True).str.replace_all("=", ":", literal=True))
            .otherwise(text_col)
        )
    # Split every line into fields at the separators of all three shapes (the epoch of the
    # "Training epoch 0," / "Epoch 1:" prefix goes first, so an explicit epoch key wins), then split
    # each field once at its first ``:``. No capturing regex runs per field: that is what
    # makes this faster than a per-line ``re`` loop (bench/ingest_bench.py).
    prefix_epoch = pl.concat_str([pl.lit("epoch:"), text_col.str.extract(_PREFIX_EPOCH, 1)]).fill_null("")
    if not _may_have_prefix_epoch(segments["text"]):
        prefix_epoch = pl.lit("")  # verl lines: no regex pass for an epoch that is not there
    # The text the fields come from, computed once on every core: then whether `` | `` is its only separator.
    segments = (
        segments.lazy()
        .filter(finite)
        .with_row_index("seq", offset=seq_start)
        .select(
            pl.col("seq").cast(pl.Int64),
            "line",
            pl.col("stepf").round(0).cast(pl.Int64).alias("step"),
            "wall_time",
            prefix_epoch.alias("epoch"),
            key_value.alias("body"),  # a column, not an expression the head cut would evaluate again
        )
    )
    if marks["pipe"]:
        segments = _without_bare_heads(segments, "body")
    segments = segments.collect()
    if _only_pipe_separators(segments["body"]):
        field = pl.concat_str(["epoch", pl.lit(" | "), "body"]).str.split(" | ")
    else:
        field = pl.concat_str(["epoch", pl.lit("\x1f"), pl.col("body").str.replace_all(_SEPARATORS, "\x1f")]).str.split("\x1f")
    fields = (
        segments.lazy()
        .select("seq", "line", "step", "wall_time", field.alias("field"))
        .explode("field")
        # A field without a colon holds no ``key: value`` (a third of a Nova line's fields: the timestamp's
        # pieces, the level, "iteration 8/9"): dropped before the per-field splitting and stripping.
        .filter(pl.col("field").str.contains(":", literal=True))
        .with_columns(pl.col("field").str.split_exact(":", 1).alias("kv"))
        .unnest("kv")
        .with_columns(pl.col("field_0").str.strip_chars().alias("metric"), pl.col("field_1").str.strip_chars().alias("raw"))
        .filter(pl.col("raw").is_not_null() & pl.col("metric").str.contains(_KEY) & ~pl.col("metric").is_in(_NOT_METRICS))
        .with_columns(pl.col("raw").cast(pl.Float64, strict=False).alias("value"))
    )
    # One pass over the fields yields both the records and the values that could not be read.
    records, unreadable = pl.collect_all([
        # The names become a categorical here, on every core (to_tidy would hash 7M strings on one).
        fields.filter(pl.col("value").is_not_null()).select(list(RECORD_SCHEMA)).with_columns(pl.col("metric").cast(pl.Categorical)),
        fields.filter(pl.col("value").is_null() & pl.col("raw").str.contains(LOOKS_NUMERIC)).select("line", "metric", "raw"),
    ])
    _explain_unreadable(unreadable, info)
    return records.cast({**RECORD_SCHEMA, "metric": pl.Categorical})


def _refreshes(text: pl.Expr, marks: dict) -> pl.Expr:
    """Each line split at its carriage returns and their ``#015`` text; a split at the one form a log
    uses saves rewriting every line into the other (not when removing colour codes or unwrapping
    numbers could make a ``#015``: ``#01\x1b[0m5``)."""
    if (marks["cr"] and marks["cr_text"]) or marks["ansi"] or marks["wrapped"]:
        return text.str.replace_all("#015", "\r", literal=True).str.split("\r")
    return text.str.split("\r" if marks["cr"] else "#015")


def _only_bar_steps(marks: dict) -> bool:
    """Whether every step is in the bar form (``global_step: 8``): no line holds verl's ``step:295``
    (before or right after a carriage return or its ``#015`` text), and no line has colour codes,
    whose removal can join text into that form anywhere (``st\x1b[0mep:5``). A wrapped number
    only turns into digits, which the pattern does not ask for."""
    return not marks["verl"] and not marks["ansi"]


def _may_have_prefix_epoch(texts: pl.Series) -> bool:
    """Whether some line may start with an epoch (``Training epoch 0,`` / ``Epoch 1:``): the literals the
    epoch pattern needs, sought in one multi-pattern pass over the rewritten lines."""
    return bool(texts.str.contains_any(["Training epoch ", "Epoch "]).any())


def _only_pipe_separators(bodies: pl.Series) -> bool:
    """Whether `` | `` is the only separator in the text the fields come from (the body of a Nova pipe
    line): then splitting at that literal gives the pieces the separator regex gives (one pattern
    matched left to right, without overlaps), and the regex pass over every line is saved. ``\x1f`` is
    the plain path's own mark for a separator, so a line holding one takes that path."""
    return not bodies.str.contains_any([" - ", ", ", "[", "]", "\x1f"]).any()


def _without_bare_heads(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """``column`` without what comes before its first `` | `` when no field there can hold a metric.

    A Nova pipe line spends half its fields on that head (``[2026-01-28 17:48:54,839] [INFO] Training
    epoch 0, iteration 8/9``): none has a colon but the timestamp's, whose key starts with a digit, so
    the splitting below drops them all. Cutting the head first gives the same records for half the
    work. The head is kept when the ` | ` is not where the separator scan would cut: when the head
    ends with ``,`` or `` -``, the scan takes ``, `` or `` - `` there and the `` | `` is not a separator.
    Each step is a column of its own, so no expression is evaluated twice.
    """
    text, head, rest = pl.col(column), pl.col("_head"), pl.col("_rest")
    # A leading timestamp (checked whole, so its pieces are known to be dropped) is not a field.
    undated = pl.when(head.str.contains(_LEADING_TIMESTAMP)).then(head.str.slice(_TIMESTAMP_LENGTH)).otherwise(head)
    bare = rest.is_not_null() & ~head.str.contains(":", literal=True) & ~head.str.ends_with(",") & ~head.str.ends_with(" -")
    # splitn, not find + slice: polars' find counts bytes and slice characters (a head in Chinese).
    parts = text.str.splitn(" | ", 2)
    return (
        frame.with_columns(parts.struct.field("field_0").alias("_head"), parts.struct.field("field_1").alias("_rest"))
        .with_columns(undated.alias("_head"))
        .with_columns(pl.when(bare).then(rest).otherwise(text).alias(column))
        .drop("_rest", "_head")
    )


def _explain_other_format(frame: pl.DataFrame, info: RunInfo) -> None:
    """A whole JSON or Python-dict metric row inside a Nova/verl log (two writers, one file) is not
    read by this parser: count and explain it rather than drop it quietly (a file has one format)."""
    text = pl.col("text").str.strip_chars()
    rows = frame.filter(
        text.str.starts_with("{") & text.str.ends_with("}") & text.str.contains(r"""["'](?:step|global_step|loss|reward)["']""")
    )
    for line, row in rows.iter_rows():
        info.skip(line, "a JSON / dict metric row in a Nova or verl log: not read (one format per file)", row)


def _explain_unreadable(unreadable: pl.DataFrame, info: RunInfo) -> None:
    """A key whose value looks like a number but cannot be read is counted like a bad line (one
    entry per line, naming the keys); the rest of the line is kept. Words (``iteration 2/2``) are
    not values and pass quietly."""
    if unreadable.height == 0:
        return
    per_line = unreadable.group_by("line", maintain_order=True).agg("metric", "raw")
    for line, keys, raws in per_line.iter_rows():
        shown = ", ".join(f"{k}={r[:40]!r}" for k, r in zip(keys, raws))
        info.skip(line, f"value not a number, key left out of this step: {shown}", shown)
