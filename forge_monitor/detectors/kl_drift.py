"""``kl_drift``: KL to the reference climbing past a budget and staying there, or going negative.

The rolling median of KL over ``window`` points is compared with ``budget``; a sustained excess is a
drift (a spike is ``kl_spike``'s). A sustained negative KL means the sampling is not pure (top-k,
min-length) and the policy is being rewarded for pushing KL below zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class KlDriftConfig:
    budget: float = setting(1.0, "KL (rolling median) above this is past budget", low=0)
    window: int = setting(20, "points in the rolling median", low=3)
    sustain: int = setting(10, "consecutive points past budget before alerting", low=1)
    negative: float = setting(-0.01, "a rolling median below this is a negative KL", high=0)


def check(frame, info, config: KlDriftConfig):
    steps, values = _stats.series(frame, "kl")
    if len(steps) < config.window:
        return skipped("kl_drift", f"KL has {len(steps)} points; {config.window} are needed")
    median = _stats.rolling_median(values, config.window, config.window)
    alerts = []
    for mask, kind in ((median > config.budget, "over"), (median < config.negative, "negative")):
        # Episodes separated by less than a window are one drift, not many alerts.
        for start, end in _stats.runs(np.nan_to_num(mask, nan=False).astype(bool), gap=config.window):
            if end - start + 1 < config.sustain:
                continue
            if kind == "over":
                coef = info.hyperparameters.get("kl_loss_coef")
                message = (f"KL rolling median {_stats.fmt(median[end])} stayed above the budget {config.budget:g} for "
                           f"{end - start + 1} points (steps {int(steps[start])}-{int(steps[end])})")
                remediation = ("The policy has drifted far from the reference: raise the KL coefficient"
                               + (f" (kl_loss_coef now {coef:g})" if isinstance(coef, (int, float)) else "")
                               + ", lower the LR, and check the reward is not being exploited (see reward_gaming).")
            else:
                message = (f"KL rolling median {_stats.fmt(median[end])} stayed below {config.negative:g} for "
                           f"{end - start + 1} points: KL to the reference is negative")
                remediation = ("Negative KL comes from non-pure sampling: generate with top_k=0, top_p=1.0 and no "
                               "minimum length, or the policy is rewarded for pushing KL below zero.")
            alerts.append(make_alert(info, "kl_drift", Severity.WARNING, "kl", int(steps[start]), int(steps[end]),
                                     message, remediation, kind=kind, rolling_median=float(median[end]),
                                     budget=config.budget, window=config.window, sustain=config.sustain))
    return alerted("kl_drift", alerts)
