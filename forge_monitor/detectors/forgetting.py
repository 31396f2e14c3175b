"""``forgetting``: a general-capability eval (MMLU, IFEval, GPQA, ...) falls while training improves.

Catastrophic forgetting: narrow domain data overwrites general capabilities. An ``eval:<name>``
metric whose name marks a general benchmark is compared with its first value; a drop beyond
``min_drop`` (relative) while the training loss fell or a target eval rose is an alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped

GENERAL = re.compile(r"mmlu|ifeval|gpqa|hellaswag|arc_|arc-|bbh|truthfulqa|winogrande|general", re.IGNORECASE)
LOWER_IS_BETTER = re.compile(r"loss|perplexity|ppl|wer|cer|error", re.IGNORECASE)


@dataclass(frozen=True)
class ForgettingConfig:
    min_drop: float = setting(0.03, "relative drop of a general eval from its first value that counts", low=0)
    min_points: int = setting(2, "eval points of a general benchmark needed", low=2)


def check(frame, info, config: ForgettingConfig):
    names = sorted(m for m in _stats.metric_names(frame) if m.startswith("eval:") and GENERAL.search(m))
    if not names:
        return skipped("forgetting", "no general-capability eval (eval:mmlu, eval:ifeval, eval:gpqa, ...) is logged")
    t_steps, t_values = _stats.series(frame, "train_loss")
    improving = len(t_values) >= 4 and np.median(t_values[-len(t_values) // 4:]) < np.median(t_values[:len(t_values) // 4])
    targets = [m for m in _stats.metric_names(frame) if m.startswith("eval:") and not GENERAL.search(m)]
    for name in targets:
        s, v = _stats.series(frame, name)
        if len(v) >= 2 and (v[-1] < v[0] if LOWER_IS_BETTER.search(name) else v[-1] > v[0]):
            improving = True
    alerts = []
    for name in names:
        steps, values = _stats.series(frame, name)
        if len(values) < config.min_points or values[0] == 0:
            continue
        sign = -1.0 if LOWER_IS_BETTER.search(name) else 1.0
        change = sign * (values[-1] - values[0]) / abs(values[0])
        if change <= -config.min_drop and improving:
            worse_at = int(steps[np.argmax(sign * (values - values[0]) / abs(values[0]) <= -config.min_drop)])
            message = (f"{name} went from {_stats.fmt(values[0])} to {_stats.fmt(values[-1])} ({100 * change:+.1f} %, "
                       f"threshold -{100 * config.min_drop:g} %) while training improved")
            remediation = ("General capability is being overwritten by the domain data. Mix in curated general data "
                           "(customer data around 50 % of the mix; for SFT include reasoning-instruction-following), "
                           "pick an earlier checkpoint, and avoid an LR above the default; lower LoRA alpha if it was raised.")
            alerts.append(make_alert(info, "forgetting", Severity.WARNING, name, worse_at, int(steps[-1]), message,
                                     remediation, first=float(values[0]), latest=float(values[-1]), change=change,
                                     min_drop=config.min_drop))
    return alerted("forgetting", alerts)
