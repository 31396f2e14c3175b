"""Any other text log, through metric definitions in the SageMaker ``MetricDefinitions`` form.

Users bring the definitions they already wrote for their training jobs::

    [{"Name": "train_loss", "Regex": "trl:([0-9.eE+-]+|nan)"}, ...]

or, with a step regex (recommended)::

    {"StepRegex": "s:(\\d+)", "MetricDefinitions": [{"Name": ..., "Regex": ...}]}

Each regex is applied to each line and its first group is the value, as SageMaker does. A line
with a metric but no step match takes the last step seen (e.g. ``val loss`` printed after its
step line); without a step regex, steps count the lines that matched.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..schema import RunInfo
from ._tidy import empty_records, records_from_lists

STEP_LIMIT = float(2 ** 63)  # a step is an int64


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
    seq, line_no, steps, names, values = [], [], [], [], []
    last_step = carry.get("last_step")
    ordinal = carry.get("ordinal", 0)
    record = seq_start
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for offset, raw in enumerate(lines):
        for segment in raw.replace("#015", "\r").split("\r"):
            found = []
            for name, pattern in definitions.metrics:
                match = pattern.search(segment)
                if match:
                    try:
                        found.append((name, float(match.group(1))))
                    except (TypeError, ValueError):
                        info.skip(first_line + offset, f"{name}: {match.group(1)!r} is not a number", segment)
            if not found:
                continue
            if definitions.step is not None:
                step_match = definitions.step.search(segment)
                if step_match:
                    try:
                        stepf = float(step_match.group(1))
                    except (TypeError, ValueError):
                        info.skip(first_line + offset, "step is not a number", segment)
                        continue
                    if not abs(stepf) < STEP_LIMIT:  # also inf and nan
                        info.skip(first_line + offset, f"step {step_match.group(1)!r} is out of range", segment)
                        continue
                    last_step = int(stepf)
                if last_step is None:
                    info.skip(first_line + offset, "metric before any step", segment)
                    continue
                step = last_step
            else:
                ordinal += 1
                step = ordinal
            for name, value in found:
                seq.append(record)
                line_no.append(first_line + offset)
                steps.append(step)
                names.append(name)
                values.append(value if not math.isnan(value) else math.nan)
            record += 1
    carry["last_step"] = last_step
    carry["ordinal"] = ordinal
    if not seq:
        return empty_records()
    return records_from_lists(seq, line_no, steps, names, values)
