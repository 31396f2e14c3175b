"""``entropy_collapse``: the RL policy's entropy falls to a small fraction of its early level.

A collapse in entropy means the policy became overconfident, often too early: exploration stops and
outputs turn repetitive. The rolling median over ``window`` points is compared with the median of
the early points; only RL runs (SFT token entropy falls by design).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class EntropyCollapseConfig:
    early_fraction: float = setting(0.1, "share of the run whose median is the early entropy level", low=0.01, high=0.5)
    collapse_fraction: float = setting(0.1, "rolling median below this fraction of the early level is a collapse", low=0, high=1)
    critical_fraction: float = setting(0.01, "below this fraction the collapse is critical", low=0, high=1,
                                       at_most="collapse_fraction")
    window: int = setting(5, "points in the rolling median", low=1)
    min_points: int = setting(15, "entropy points needed before judging", low=5)


def check(frame, info, config: EntropyCollapseConfig):
    if info.technique not in ("rft", "ppo", "unknown"):
        return skipped("entropy_collapse", f"entropy of a {info.technique.upper()} run falls by design")
    steps, values = _stats.series(frame, "entropy")
    if len(steps) < config.min_points:
        return skipped("entropy_collapse", f"entropy has {len(steps)} points; {config.min_points} are needed")
    early_n = max(int(config.early_fraction * len(values)), 3)
    early = float(np.median(values[:early_n]))
    if early <= 0:
        return skipped("entropy_collapse", "early entropy is not positive")
    median = _stats.rolling_median(values, config.window, config.window)
    collapsed = np.nan_to_num(median < config.collapse_fraction * early, nan=False).astype(bool)
    collapsed[:early_n] = False
    found = _stats.runs(collapsed)
    if not found:
        return alerted("entropy_collapse", [])
    start, end = found[0][0], found[-1][1]
    low = float(np.min(median[start:end + 1]))
    severity = Severity.CRITICAL if low < config.critical_fraction * early else Severity.WARNING
    message = (f"entropy fell to {_stats.fmt(low)} ({100 * low / early:.1f} % of its early level {_stats.fmt(early)}; "
               f"threshold {100 * config.collapse_fraction:g} %) from step {int(steps[start])}")
    remediation = ("The policy is collapsing onto a few outputs and has stopped exploring. Raise the upper clip "
                   "(clip_ratio_high / epsilon_high ~0.28), add an entropy bonus (ent_coeff) or raise the sampling "
                   "temperature, and lower the LR. Read recent rollouts for repetition.")
    return alerted("entropy_collapse", [make_alert(
        info, "entropy_collapse", severity, "entropy", int(steps[start]), int(steps[end]), message, remediation,
        early_level=early, lowest_rolling_median=low, collapse_fraction=config.collapse_fraction, window=config.window)])
