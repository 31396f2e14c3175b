"""The tidy-frame contract every source produces, the canonical metric names, and RunInfo.

One row per (run, metric, step)::

    run_id: str  step: int64  metric: str  value: float64  wall_time: float64

NaN and +-inf in ``value`` are kept: they are evidence, not noise. ``wall_time`` is seconds since
the epoch when the source records it, else NaN.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

COLUMNS: tuple[str, ...] = ("run_id", "step", "metric", "value", "wall_time")
# A step is an int64: a step read as a float at or beyond this (1e30, inf) is a bad row, skipped with
# its reason (every float below it converts exactly to an int64).
STEP_LIMIT = float(2 ** 63)

# Canonical name -> one-line meaning. Detectors and pages speak only these (plus ``eval:<name>``).
CANONICAL_METRICS: dict[str, str] = {
    "train_loss": "training loss",
    "val_loss": "validation / eval loss",
    "learning_rate": "learning rate",
    "grad_norm": "gradient norm",
    "epoch": "(fractional) epoch",
    "reward": "mean training reward",
    "reward_std": "reward spread within groups / batch",
    "frac_reward_zero_std": "share of prompts whose samples all scored the same",
    "val_reward": "held-out reward / score",
    "kl": "KL to the reference policy",
    "approx_kl": "KL between consecutive policies (update size)",
    "entropy": "policy entropy",
    "response_length": "mean completion length",
    "truncated_ratio": "share of completions cut at max length",
    "clip_fraction": "PPO ratio clip fraction",
    "policy_loss": "policy-gradient loss",
    "throughput": "samples (or tokens) per second",
    "step_time": "seconds per step",
}

EVAL_PREFIX = "eval:"

# Source key -> canonical name. Keys are matched exactly first, then case-insensitively.
SOURCE_KEY_MAP: dict[str, str] = {
    # training loss
    "loss": "train_loss",
    "train_loss": "train_loss",
    "reduced_train_loss": "train_loss",
    "train/loss": "train_loss",
    "training_loss": "train_loss",
    "trl": "train_loss",
    # validation loss
    "eval_loss": "val_loss",
    "eval/loss": "val_loss",
    "val_loss": "val_loss",
    "validation_loss": "val_loss",
    "val/loss": "val_loss",
    "tel": "val_loss",
    # learning rate
    "learning_rate": "learning_rate",
    "lr": "learning_rate",
    "actor/lr": "learning_rate",
    "train/learning_rate": "learning_rate",
    "train/lr": "learning_rate",  # verl SFT, logged as ``train/lr(1e-3)`` (see UNIT_SUFFIX)
    # gradient norm
    "grad_norm": "grad_norm",
    "actor/grad_norm": "grad_norm",
    "norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    # epoch
    "epoch": "epoch",
    "training/epoch": "epoch",
    "train/epoch": "epoch",
    "epoch_number": "epoch",
    # reward
    "reward": "reward",
    "train_rm_score": "reward",
    "critic/rewards/mean": "reward",
    "env/reward_mean": "reward",
    "train/reward": "reward",
    "objective/scores": "reward",
    "reward_std": "reward_std",
    "env/reward_std": "reward_std",
    "train/reward_std": "reward_std",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "train/frac_reward_zero_std": "frac_reward_zero_std",
    "val-score/rewards/mean@1": "val_reward",
    "eval_reward": "val_reward",
    "eval/reward": "val_reward",
    # KL
    "kl": "kl",
    "objective/kl": "kl",
    "actor/kl_loss": "kl",
    "KL_ref": "kl",
    "train/kl": "kl",
    "actor/ppo_kl": "approx_kl",
    "policy/approxkl_avg": "approx_kl",
    "ppo/policy/approxkl": "approx_kl",
    # entropy
    "entropy": "entropy",
    "ent": "entropy",
    "actor/entropy": "entropy",
    "objective/entropy": "entropy",
    "train/entropy": "entropy",
    # lengths
    "completion_length": "response_length",
    "completions/mean_length": "response_length",
    "response_length/mean": "response_length",
    "train/completions/mean_length": "response_length",
    "completions/clipped_ratio": "truncated_ratio",
    "response_length/clip_ratio": "truncated_ratio",
    "train/completions/clipped_ratio": "truncated_ratio",
    # PPO
    "clipfrac": "clip_fraction",
    "actor/pg_clipfrac": "clip_fraction",
    "policy/clipfrac_avg": "clip_fraction",
    "actor/pg_loss": "policy_loss",
    "loss/policy_avg": "policy_loss",
    # speed
    "samples/sec": "throughput",
    "perf/throughput": "throughput",
    "train_step_timing in s": "step_time",
    "perf/time_per_step": "step_time",
    "step_time": "step_time",
}

# Eval keys that are timing, not quality: kept under their own names so they never look like a
# general-capability benchmark to the `forgetting` detector.
_EVAL_TIMING = {"runtime", "samples_per_second", "steps_per_second"}

_LOWER_MAP = {k.lower(): v for k, v in SOURCE_KEY_MAP.items()}
_EVAL_KEY = re.compile(r"^(?:eval_|eval/|val_|val/|validation_)(.+)$")


# Lightning's LearningRateMonitor: ``lr-AdamW`` (one param group) or ``lr-AdamW/pg1`` (the first).
_LIGHTNING_LR = re.compile(r"^lr-[A-Za-z0-9_]+(?:/pg1)?$")
# Lightning logs a metric with on_step and on_epoch as ``<name>_step`` and ``<name>_epoch``: the step
# value is the training curve, the epoch mean is what a validation metric means.
_LIGHTNING_SUFFIX = re.compile(r"^(.+)_(step|epoch)$")
# A unit in the key: verl SFT logs ``train/lr(1e-3)``, the LR in units of 1e-3.
UNIT_SUFFIX = re.compile(r"^(.+?)\s*\(\s*(1e-?\d+|0?\.0*1|1000*)\s*\)$")


def canonical_name(key: str) -> str:
    """Map a source's metric key to its canonical name, or return the key unchanged.

    ``eval_accuracy`` -> ``eval:accuracy``; timing keys such as ``eval_runtime`` stay as they are.
    A canonical name is a fixed point: ``val_reward`` is the held-out reward, never ``eval:reward``.
    """
    return canonical_key(key)[0]


def canonical_key(key: str) -> tuple[str, float]:
    """``(canonical name, scale)``: the source's value times ``scale`` is the metric's value (1.0
    unless the key carries a unit, as ``train/lr(1e-3)`` does)."""
    key = key.strip()
    unit = UNIT_SUFFIX.match(key)
    if unit:
        return _canonical(unit.group(1)), float(unit.group(2))
    return _canonical(key), 1.0


def _canonical(key: str) -> str:
    if key in CANONICAL_METRICS or key.startswith(EVAL_PREFIX):
        return key
    if key in SOURCE_KEY_MAP:
        return SOURCE_KEY_MAP[key]
    lowered = key.lower()
    if lowered in _LOWER_MAP:
        return _LOWER_MAP[lowered]
    if _LIGHTNING_LR.match(key):
        return "learning_rate"
    suffixed = _LIGHTNING_SUFFIX.match(key)
    if suffixed:
        base, kind = _canonical(suffixed.group(1)), suffixed.group(2)
        if base in ("val_loss", "val_reward") or base.startswith(EVAL_PREFIX):
            return base if kind == "epoch" else key  # a validation batch's value is not a point of the curve
        if base in CANONICAL_METRICS and kind == "step":
            return base
    match = _EVAL_KEY.match(key)
    if match and match.group(1) not in _EVAL_TIMING:
        return EVAL_PREFIX + match.group(1)
    return key


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": pd.Series([], dtype=object),
            "step": pd.Series([], dtype="int64"),
            "metric": pd.Series([], dtype=object),
            "value": pd.Series([], dtype="float64"),
            "wall_time": pd.Series([], dtype="float64"),
        }
    )


def _holds_strings(column: pd.Series) -> bool:
    """str / object columns, or a Categorical whose categories are strings (what readers produce)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        return pd.api.types.is_string_dtype(categories) or categories.dtype == object
    return pd.api.types.is_string_dtype(column) or column.dtype == object


def _codes(column: pd.Series) -> np.ndarray:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy()
    return pd.factorize(column)[0]


def _count_duplicates(frame: pd.DataFrame) -> int:
    """Duplicated (run_id, metric, step) keys, counted on integer codes (hashing strings per row
    costs more than the rest of the validation together)."""
    run_codes = _codes(frame["run_id"])
    metric_codes = _codes(frame["metric"])
    steps = frame["step"].to_numpy()
    if run_codes.min() == run_codes.max():
        key = metric_codes  # one run (every reader's frame): the metric alone keys a series
    else:
        key = run_codes.astype(np.int64) * (int(metric_codes.max()) + 1) + metric_codes.astype(np.int64)
    same_series = np.diff(key) == 0  # a difference of two codes of one width wraps to 0 only when they are equal
    series_keys = key[np.concatenate([[0], np.flatnonzero(~same_series) + 1])]
    if len(np.unique(series_keys)) == len(series_keys) and (np.diff(steps)[same_series] > 0).all():
        return 0  # each series is contiguous with strictly increasing steps: the common, cheap case
    order = np.lexsort((steps, metric_codes, run_codes))
    same = (
        (np.diff(run_codes[order]) == 0) & (np.diff(metric_codes[order]) == 0) & (np.diff(steps[order]) == 0)
    )
    return int(same.sum())


def validate_frame(frame: pd.DataFrame, *, keys_unique: bool = False) -> pd.DataFrame:
    """Check the tidy-frame contract once, where data enters. Returns the frame; raises ValueError.

    The message lists every problem found, so a new ingestor is fixed in one pass. ``keys_unique``:
    the caller built the frame with one row per (run_id, metric, step) (``ingest._tidy.to_tidy``),
    so the duplicate count is skipped.
    """
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"tidy frame is missing columns {missing}; expected {list(COLUMNS)}")
    extra = [c for c in frame.columns if c not in COLUMNS]
    if extra:
        problems.append(f"unexpected columns {extra}")
    if frame["step"].dtype != np.int64:
        problems.append(f"step must be int64, got {frame['step'].dtype}")
    for col in ("value", "wall_time"):
        if frame[col].dtype != np.float64:
            problems.append(f"{col} must be float64, got {frame[col].dtype}")
    for col in ("run_id", "metric"):
        if not _holds_strings(frame[col]):
            problems.append(f"{col} must hold strings, got {frame[col].dtype}")
        elif frame[col].isna().any():
            problems.append(f"{col} has {int(frame[col].isna().sum())} missing values")
    if not problems and len(frame) and not keys_unique:
        n = _count_duplicates(frame)
        if n:
            problems.append(f"{n} duplicated (run_id, metric, step) rows; a step must keep one value")
    if problems:
        raise ValueError("invalid tidy frame: " + "; ".join(problems))
    return frame


TECHNIQUES = ("cpt", "sft", "rft", "dpo", "ppo", "unknown")
PLATFORMS = ("smtj", "hyperpod", "serverless", "local")


@dataclass(frozen=True)
class SkippedLine:
    """A record that could not be used, with where it was and why."""

    line: int  # 1-based line (or record) number in the source
    reason: str
    text: str = ""  # the first characters of the record, for the UI

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Restart:
    """A step regression: the run was resumed from a checkpoint at ``to_step``."""

    line: int
    from_step: int
    to_step: int

    def to_dict(self) -> dict:
        return asdict(self)


MAX_SKIPPED_KEPT = 200  # keep examples, count them all


@dataclass
class RunInfo:
    """What is known about a run besides its metrics."""

    run_id: str
    source: str
    format: str
    technique: str = "unknown"
    platform: str = "local"
    training_mode: str | None = None  # "lora" / "full" when known
    hyperparameters: dict = field(default_factory=dict)
    recipe_path: str | None = None
    lines_read: int = 0
    lines_skipped: int = 0
    skipped: list[SkippedLine] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    final_metrics: dict = field(default_factory=dict)
    status: str | None = None  # the source's own run status when it has one (MLflow: RUNNING, FINISHED, FAILED, KILLED)
    live: bool = False  # followed live: `stalled` then compares the newest data with the clock
    last_data_at: float | None = None  # time.time() when the reader last saw new data

    def skip(self, line: int, reason: str, text: str = "") -> None:
        self.lines_skipped += 1
        if len(self.skipped) < MAX_SKIPPED_KEPT:
            self.skipped.append(SkippedLine(line, reason, text[:120]))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["skipped"] = [s.to_dict() for s in self.skipped]
        out["restarts"] = [r.to_dict() for r in self.restarts]
        return out
