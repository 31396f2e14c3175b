"""The pieces every detector module uses: config fields with help, the registry entry, alert making,
and the run context remediations are written from."""

from __future__ import annotations

import math
import operator
from dataclasses import MISSING, dataclass, field, fields
from typing import Callable

from ..alerts import Alert, CheckResult, Severity, Status
from ..schema import RunInfo

from ..recipes.checks import LR_OFF_DEFAULT, lr_vs_default  # defaults and threshold defined once


def setting(default, help: str, *, low: float | None = None, high: float | None = None,
            at_most: str | None = None, at_least: str | None = None):
    """A config field: keyword-only default plus one line of help the UI and the docs reuse.
    ``at_most`` / ``at_least`` name another field this one must not pass (a critical threshold
    beyond its warning threshold would make the warning unreachable)."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "at_most": at_most,
                                            "at_least": at_least})


def check_config(config) -> None:
    """Raise ValueError naming the field when a value is out of its documented range."""
    for f in fields(config):
        value = getattr(config, f.name)
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{type(config).__name__}.{f.name}: expected a number, got {value!r}")
            if f.type in ("int", int) and not isinstance(value, int):
                raise ValueError(f"{type(config).__name__}.{f.name}: expected a whole number, got {value!r}")
            if low is not None and value < low:
                raise ValueError(f"{type(config).__name__}.{f.name}: {value} is below the minimum {low}")
            if high is not None and value > high:
                raise ValueError(f"{type(config).__name__}.{f.name}: {value} is above the maximum {high}")
            for bound, beyond in ((f.metadata.get("at_most"), operator.gt), (f.metadata.get("at_least"), operator.lt)):
                if bound is not None and beyond(value, getattr(config, bound)):
                    relation = "at most" if bound == f.metadata.get("at_most") else "at least"
                    raise ValueError(f"{type(config).__name__}.{f.name}: {value} must be {relation} "
                                     f"{bound} ({getattr(config, bound)})")


def config_help(config_type) -> list[dict]:
    return [{"name": f.name, "default": f.default if f.default is not MISSING else None,
             "help": f.metadata.get("help", "")} for f in fields(config_type)]


@dataclass(frozen=True)
class DetectorSpec:
    id: str
    title: str
    catches: str
    metrics: tuple[str, ...]
    techniques: tuple[str, ...]  # empty: every technique
    remediation: str  # the general advice; alerts carry the specific version
    config_type: type
    check: Callable  # (frame, run_info, config) -> CheckResult
    required: bool = False


def ok(detector: str, reason: str = "") -> CheckResult:
    return CheckResult(detector, Status.OK, (), reason)


def skipped(detector: str, reason: str) -> CheckResult:
    return CheckResult(detector, Status.SKIPPED, (), reason)


def alerted(detector: str, alerts: list[Alert]) -> CheckResult:
    return CheckResult(detector, Status.ALERT, tuple(alerts)) if alerts else ok(detector)


def make_alert(info: RunInfo, detector: str, severity: Severity, metric: str, step: int, step_end: int,
               message: str, remediation: str, **evidence) -> Alert:
    return Alert(info.run_id, detector, severity, metric, int(step), int(step_end), message, remediation, evidence)


# --- run context for remediations -----------------------------------------------------------

def lr_deviation(info: RunInfo) -> tuple[float, float] | None:
    """(recipe LR, service default) when the run's LR is known and off the default (the recipe rule's test)."""
    lr = info.hyperparameters.get("learning_rate")
    compared = lr_vs_default(lr, info.technique, info.platform)
    if compared is None or compared[0] < LR_OFF_DEFAULT:
        return None
    return float(lr), compared[1]

def mixing_on(info: RunInfo) -> bool:
    return bool(info.hyperparameters.get("data_mixing"))
