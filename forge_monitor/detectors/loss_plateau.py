"""``loss_plateau``: the training loss has not come down since the start.

Median of the first window (after the first points) against the median of the last window. A loss
that fell and then levelled off is a converged run, not a plateau; this fires only when the run
learned (almost) nothing - an LR too low for the run, or a LoRA adapter that under-adapts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class LossPlateauConfig:
    min_points: int = setting(50, "train_loss points needed before judging", low=10)
    window_fraction: float = setting(0.2, "share of the run in the first and the last window", low=0.05, high=0.5)
    min_improvement: float = setting(0.02, "relative improvement below which the loss is flat", low=0)


def check(frame, info, config: LossPlateauConfig):
    if info.technique in ("rft", "ppo"):
        return skipped("loss_plateau", "RL policy losses do not trend down; see reward_plateau")
    steps, values = _stats.series(frame, "train_loss")
    if len(steps) < config.min_points:
        return skipped("loss_plateau", f"train_loss has {len(steps)} points; {config.min_points} are needed")
    width = max(int(config.window_fraction * len(values)), 5)
    skip = max(len(values) // 50, 1)  # the very first points (warmup, a fresh adapter) are not the baseline
    first = float(np.median(values[skip:skip + width]))
    last = float(np.median(values[-width:]))
    improvement = (first - last) / abs(first) if first else 0.0
    rolling = _stats.moving_average(values[skip:], width)
    best = float(rolling.min()) if len(rolling) else first
    if improvement >= config.min_improvement or (first - best) / abs(first or 1) >= config.min_improvement:
        return alerted("loss_plateau", [])  # it learned at some point: a later rise is loss_spike's business
    lr = info.hyperparameters.get("learning_rate")
    alpha = info.hyperparameters.get("lora_alpha")
    message = (f"train_loss median {_stats.fmt(first)} over steps {int(steps[skip])}-{int(steps[skip + width - 1])} and "
               f"{_stats.fmt(last)} over the last {width} points: {100 * improvement:.1f} % better (minimum "
               f"{100 * config.min_improvement:g} %)")
    remediation = ("The run is not learning. The LR may be too low" + (f" ({lr:g})" if isinstance(lr, (int, float)) else "")
                   + ": start from the service default. For LoRA, raise the rank first (higher leverage than alpha on "
                   "low-baseline tasks)" + (f"; alpha is {alpha:g}" if isinstance(alpha, (int, float)) else "")
                   + ". Check the data actually reaches the loss (masking, formatting).")
    return alerted("loss_plateau", [make_alert(info, "loss_plateau", Severity.WARNING, "train_loss", int(steps[skip]),
                                               int(steps[-1]), message, remediation, first_median=first, last_median=last,
                                               improvement=improvement, min_improvement=config.min_improvement)])
