"""Any other text log, through metric definitions in the SageMaker ``MetricDefinitions`` form.

Users bring the definitions they already wrote for their training jobs::

    [{"Name": "train_loss", "Regex": "trl:([0-9.eE+-]+|nan)"}, ...]

or, with a step regex (recommended)::

    {"StepRegex": "s:(\\d+)", "MetricDefinitions": [{"Name": ..., "Regex": ...}]}

Each regex is applied to each line and its first group is the value, as SageMaker does. A line
with a metric but no step match takes the last step seen (e.g. ``val loss`` printed after its
step line); without a step regex, steps count the lines that matched.

The regexes run in polars' engine (Rust's ``regex``), which matches in time linear in the line: a
pattern such as ``(a+)+$`` that backtracks for hours in Python's ``re`` cannot hang a scan or the
dashboard. Look-around and back-references need a backtracking engine, so a definition that uses
them is refused with that reason when it is loaded.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..schema import STEP_LIMIT, RunInfo
from ._tidy import RECORD_SCHEMA, empty_records



@dataclass(frozen=True)
class MetricDefinitions:
    metrics: tuple[tuple[str, re.Pattern], ...]
    step: re.Pattern | None = None
    source: str = ""


def _compile(pattern, where: str) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{where}: Regex must be a non-empty string")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"{where}: invalid regex {pattern!r}: {err}") from None
    if compiled.groups < 1:
        raise ValueError(f"{where}: regex {pattern!r} needs a capturing group around the value")
    try:  # the engine the lines are matched with: linear time, no look-around or back-references
        pl.Series([""], dtype=pl.Utf8).str.extract(pattern, 1)
    except pl.exceptions.PolarsError as err:
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"{where}: regex {pattern!r} uses a feature the linear-time matcher lacks (look-around or a "
                         f"back-reference?): rewrite it with a capturing group around the value ({detail})") from None
    return compiled


def parse_definitions(spec, source: str = "") -> MetricDefinitions:
    """Validate a list / dict in the MetricDefinitions form. Raises ValueError naming the entry."""
    step = None
    if isinstance(spec, dict):
        items = spec.get("MetricDefinitions", spec.get("metric_definitions"))
        step_pattern = spec.get("StepRegex", spec.get("step_regex"))
        if step_pattern is not None:
            step = _compile(step_pattern, f"{source} StepRegex")
    else:
        items = spec
    if not isinstance(items, list) or not items:
        raise ValueError(f"{source}: expected a non-empty list of {{'Name', 'Regex'}} metric definitions")
    metrics = []
    for index, item in enumerate(items):
        where = f"{source} MetricDefinitions[{index}]"
        if not isinstance(item, dict) or "Name" not in item or "Regex" not in item:
            raise ValueError(f"{where}: each definition needs 'Name' and 'Regex'")
        metrics.append((str(item["Name"]), _compile(item["Regex"], where)))
    return MetricDefinitions(tuple(metrics), step, source)


def load_definitions(path: str | Path) -> MetricDefinitions:
    """Read definitions from a JSON (or YAML) file: a regular file of at most 1 MB, nested at most 100
    levels (the same bounds as a recipe). Raises ValueError with one line naming the file."""
    from ..recipes.safe_yaml import load_text, read_bounded

    path = Path(path)
    try:
        data = read_bounded(path, f"metric definitions {path}")
    except OSError as err:
        raise ValueError(f"cannot read metric definitions {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: metric definitions are not UTF-8 text") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        import yaml

        try:
            spec = load_text(text, str(path))
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: neither JSON nor YAML ({' '.join(str(err).split())})") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to read") from None
    return parse_definitions(spec, str(path))


def parse_with_definitions(
    text: str, info: RunInfo, definitions: MetricDefinitions, *, first_line: int = 1, seq_start: int = 0, carry: dict
):
    """Complete lines -> records, every regex in one vectorised pass per definition (see the module)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return empty_records()
    frame = pl.DataFrame({"line": np.arange(first_line, first_line + len(lines), dtype=np.int64), "text": lines},
                         schema={"line": pl.Int64, "text": pl.Utf8})
    if "\r" in text or "#015" in text:
        frame = frame.with_columns(pl.col("text").str.replace_all("#015", "\r", literal=True).str.split("\r")).explode("text")
    names = [name for name, _ in definitions.metrics]
    raw = frame.select(
        "line", "text",
        *(pl.col("text").str.extract(pattern.pattern, 1).alias(f"m{i}") for i, (_, pattern) in enumerate(definitions.metrics)),
    )
    values = raw.select(pl.col(f"m{i}").cast(pl.Float64, strict=False).alias(f"v{i}") for i in range(len(names)))
    raw = pl.concat([raw, values], how="horizontal")
    for i, name in enumerate(names):
        for line, value, segment in raw.filter(pl.col(f"m{i}").is_not_null() & pl.col(f"v{i}").is_null()).select(
                "line", f"m{i}", "text").iter_rows():
            info.skip(line, f"{name}: {value!r} is not a number", segment)
    found = raw.filter(pl.any_horizontal(pl.col(f"v{i}").is_not_null() for i in range(len(names))))
    if found.height == 0:
        return empty_records()
    last_step = carry.get("last_step")
    if definitions.step is not None:
        step_text = found["text"].str.extract(definitions.step.pattern, 1)
        stepf = step_text.cast(pl.Float64, strict=False)
        bad_number = step_text.is_not_null() & stepf.is_null()
        out_of_range = stepf.is_not_null() & ~(stepf.abs() < STEP_LIMIT).fill_null(False)
        for line, segment in found.filter(bad_number).select("line", "text").iter_rows():
            info.skip(line, "step is not a number", segment)
        for line, shown, segment in found.with_columns(step_text.alias("_s")).filter(out_of_range).select(
                "line", "_s", "text").iter_rows():
            info.skip(line, f"step {shown!r} is out of range", segment)
        usable = ~(bad_number | out_of_range)
        own = pl.Series(np.where(stepf.is_not_null().to_numpy() & usable.to_numpy(),
                                 stepf.fill_null(0).fill_nan(0).to_numpy(), np.nan))
        # A line without its own step takes the last step seen (across reads: ``carry``).
        steps = pl.Series(own).fill_nan(None).forward_fill()
        if last_step is not None:
            steps = steps.fill_null(float(last_step))
        before_any = steps.is_null() & usable
        for line, segment in found.filter(before_any).select("line", "text").iter_rows():
            info.skip(line, "metric before any step", segment)
        keep = usable & steps.is_not_null()
        if steps.drop_nulls().len():
            carry["last_step"] = int(steps.drop_nulls()[-1])
        found = found.with_columns(steps.alias("_step")).filter(keep)
        step_column = pl.col("_step").cast(pl.Int64)
    else:
        ordinal = carry.get("ordinal", 0)
        found = found.with_columns(pl.int_range(ordinal + 1, ordinal + 1 + found.height, dtype=pl.Int64).alias("_step"))
        carry["ordinal"] = ordinal + found.height
        step_column = pl.col("_step")
    if found.height == 0:
        return empty_records()
    found = found.with_row_index("_seq", offset=seq_start)
    parts = [
        found.filter(pl.col(f"v{i}").is_not_null()).select(
            pl.col("_seq").cast(pl.Int64).alias("seq"), "line", step_column.alias("step"),
            pl.lit(name).alias("metric"), pl.col(f"v{i}").alias("value"))
        for i, name in enumerate(names)
    ]
    records = pl.concat(parts).sort("seq", maintain_order=True).with_columns(pl.lit(None, dtype=pl.Float64).alias("wall_time"))
    return records.select(list(RECORD_SCHEMA)).cast(RECORD_SCHEMA)
