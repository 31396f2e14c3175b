"""Hugging Face Trainer / TRL: ``trainer_state.json`` and the console dict lines.

``trainer_state.json`` holds ``log_history``: train rows (``loss``, ``grad_norm``, ...), eval rows
(``eval_loss``, ``eval_<metric>``) and one final summary row (``train_runtime``, ``train_loss`` as
the run average - kept in ``RunInfo.final_metrics``, never as a point of the loss curve). Python's
json accepts the ``Infinity`` / ``NaN`` literals HF writes for overflowed values.

The console form is ``str(logs)`` printed between tqdm refreshes: ``{'loss': 0.66, 'epoch': 0.24}``
(transformers 4.x floats) or ``{'loss': '0.6623', ...}`` (5.x strings), or numpy / torch scalars by
their repr (``np.float64(0.66)``, ``tensor(0.66)``). It has no step field, so
steps are the order of the logged dicts unless a dict carries ``step``.
"""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np

from ..schema import STEP_LIMIT, RunInfo
from ._tidy import empty_records, records_from_lists
from ._values import unwrap

_HEADER_KEYS = (
    "max_steps", "num_train_epochs", "train_batch_size", "logging_steps", "eval_steps",
    "save_steps", "best_metric", "best_global_step", "best_model_checkpoint", "global_step",
)
_SUMMARY_MARKERS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")
_NOT_METRICS = {"step", "global_step", "total_flos"}
_RESULT_PREFIXES = ("predict_", "test_")


def _as_float(value) -> float | None:
    """A log value as float: numbers, numeric strings, None (all-NaN metric) -> NaN; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return math.nan
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _RowSink:
    """Collects (step, key, value) from log rows into record columns."""

    def __init__(self) -> None:
        self.seq: list[int] = []
        self.line: list[int] = []
        self.step: list[int] = []
        self.metric: list[str] = []
        self.value: list[float] = []

    def add_row(self, seq: int, line: int, step: int, row: dict) -> None:
        for key, raw in row.items():
            if key in _NOT_METRICS:
                continue
            value = _as_float(raw)
            if value is None:
                continue
            self.seq.append(seq)
            self.line.append(line)
            self.step.append(step)
            self.metric.append(str(key))
            self.value.append(value)

    def records(self):
        if not self.seq:
            return empty_records()
        return records_from_lists(self.seq, self.line, self.step, self.metric, self.value)


def _salvage_log_history(text: str) -> list[dict | None]:
    """A truncated or damaged file: parse each flat ``{...}`` entry of log_history on its own."""
    start = text.find('"log_history"')
    if start < 0:
        return []
    entries: list[dict | None] = []
    for match in re.finditer(r"\{[^{}\[\]]*\}", text[start:]):
        try:
            entries.append(json.loads(match.group(0)))
        except json.JSONDecodeError:
            entries.append(None)
    return entries


def parse_trainer_state(data: bytes, info: RunInfo):
    """Parse a whole ``trainer_state.json`` into records and fill ``info``."""
    text = data.decode("utf-8", errors="replace")
    info.lines_read += text.count("\n") + 1
    try:
        state = json.loads(text)
    except json.JSONDecodeError as err:
        info.warnings.append(
            f"trainer_state.json is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); "
            "the log_history entries that parse on their own were kept"
        )
        state = {"log_history": _salvage_log_history(text)}
    except RecursionError:
        info.warnings.append("trainer_state.json is nested too deeply to read as a whole; "
                             "the log_history entries that parse on their own were kept")
        state = {"log_history": _salvage_log_history(text)}
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        info.warnings.append("trainer_state.json has no log_history list")
        return empty_records()
    for key in _HEADER_KEYS:
        if state.get(key) is not None:
            info.hyperparameters[key] = state[key]
    sink = _RowSink()
    for index, row in enumerate(state["log_history"]):
        where = index + 1
        if not isinstance(row, dict):
            info.skip(where, f"log_history[{index}] is not an object", repr(row))
            continue
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
            results = sorted({k.split("_", 1)[0] for k in row if k.startswith(_RESULT_PREFIXES)})
            if results and all(k.startswith(_RESULT_PREFIXES) or k == "epoch" for k in row):
                # trainer.predict() / evaluate on a test set after training: results, not a point of a curve.
                info.final_metrics.update({k: v for k, v in row.items() if _as_float(v) is not None})
                info.skip(where, f"log_history[{index}] holds {'/'.join(results)}_* results with no step: "
                                 "kept as final metrics, not drawn", json.dumps(row)[:120])
                continue
            info.skip(where, f"log_history[{index}] has no numeric step", json.dumps(row)[:120])
            continue
        if abs(step) >= STEP_LIMIT:
            info.skip(where, f"log_history[{index}] step {step!r} is out of range (beyond a 64-bit integer)",
                      json.dumps(row)[:120])
            continue
        if any(marker in row for marker in _SUMMARY_MARKERS):
            info.final_metrics.update({k: v for k, v in row.items() if _as_float(v) is not None})
            continue
        sink.add_row(index, where, int(step), row)
    return sink.records()


# --- console dicts -----------------------------------------------------------------------------

_DICT = re.compile(r"\{'[^{}]*\}")
_BARE_NONFINITE = re.compile(r"(?<=: )(-?nan|-?inf)(?=[,}])")
_TRAIN_KEYS = ("loss", "reward", "learning_rate", "epoch", "grad_norm", "kl")


# tqdm's bar, `` 24%|██▍       | 2566/10485 [3:15:22<10:03:32,  4.57s/it]``: the optimizer step.
_TQDM = re.compile(r"\|\s*(\d+)/(\d+) \[")


def _tqdm_steps(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions, counts) of the tqdm counters in ``text``."""
    found = [(m.start(), int(m.group(1))) for m in _TQDM.finditer(text)]
    positions = np.array([p for p, _ in found], dtype=np.int64)
    counts = np.array([c for _, c in found], dtype=np.int64)
    return positions, counts


def parse_console(text: str, info: RunInfo, *, first_line: int = 1, seq_start: int = 0, carry: dict) -> object:
    """Parse HF/TRL console dict lines.

    A dict without a step takes the step of the tqdm counter printed before it (HF Trainer logs at
    step N right after the bar reaches N, then redraws the bar at N: a dict before any counter takes
    that redraw's) - but only when the counters give the train dicts strictly increasing steps. Where
    stdout (the dicts) and stderr (the bar) were buffered apart, many dicts land after one counter,
    and the counters say nothing about them: then, as with no counters at all, a dict's step is its
    order (``carry['ordinal']`` counts train dicts across reads). The first read decides for the file.
    """
    newlines = np.fromiter((m.start() for m in re.finditer("\n", text)), dtype=np.int64)
    ordinal = carry.get("ordinal", 0)
    warned = carry.get("warned_no_step", False)
    counter_positions, counter_values = _tqdm_steps(text)
    last_counter = carry.get("tqdm_step")
    parsed = []  # (line, row, explicit step or None, is_eval, tqdm step or None)
    for match in _DICT.finditer(text):
        line = first_line + int(np.searchsorted(newlines, match.start()))
        literal = _BARE_NONFINITE.sub(r"'\1'", unwrap(match.group(0)))
        try:
            row = ast.literal_eval(literal)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            info.skip(line, "not a Python dict literal", match.group(0))
            continue
        if not isinstance(row, dict):
            continue
        keys = set(row)
        if any(marker in keys for marker in _SUMMARY_MARKERS):
            info.final_metrics.update({k: _as_float(v) for k, v in row.items() if _as_float(v) is not None})
            continue
        is_eval = any(str(k).startswith("eval_") for k in keys)
        if not is_eval and not keys.intersection(_TRAIN_KEYS):
            continue  # a config dict such as {'eos_token_id': ...}, not a log line
        explicit = row.get("step", row.get("global_step"))
        if isinstance(explicit, (int, float)) and not isinstance(explicit, bool) and not abs(explicit) < STEP_LIMIT:
            info.skip(line, f"step {explicit!r} is out of range (beyond a 64-bit integer)", match.group(0))
            continue
        explicit = int(explicit) if isinstance(explicit, (int, float)) and not isinstance(explicit, bool) else None
        before = int(np.searchsorted(counter_positions, match.start()))
        counter = int(counter_values[before - 1]) if before else last_counter
        if counter is None and before < len(counter_values):
            counter = int(counter_values[before])  # the bar redrawn right after this dict
        parsed.append((match.group(0), line, row, explicit, is_eval, counter))
    use_tqdm = carry.get("tqdm")
    if use_tqdm is None:
        trains = [counter for _, _, _, explicit, is_eval, counter in parsed if explicit is None and not is_eval]
        if trains:  # decided once, by the first read with train dicts
            use_tqdm = carry["tqdm"] = all(c is not None for c in trains) and all(
                b > a for a, b in zip(trains, trains[1:]))
    sink = _RowSink()
    seq = seq_start
    for _, line, row, explicit, is_eval, counter in parsed:
        if explicit is not None:
            step = explicit
        elif use_tqdm and counter is not None:
            step = counter
            if not warned:
                info.warnings.append("console dicts carry no step: steps are taken from the tqdm progress counter "
                                     "printed before each (N in N/total)")
                warned = True
        elif is_eval:
            step = ordinal
        else:
            ordinal += 1
            step = ordinal
            if not warned:
                info.warnings.append(
                    "console dicts carry no step: steps are the order of the logged dicts "
                    "(multiply by logging_steps for optimizer steps)"
                )
                warned = True
        sink.add_row(seq, line, step, row)
        seq += 1
    carry["ordinal"] = ordinal
    carry["warned_no_step"] = warned
    if len(counter_values):
        carry["tqdm_step"] = int(counter_values[-1])
    return sink.records()
