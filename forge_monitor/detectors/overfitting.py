"""``overfitting``: validation loss rising while the training loss still falls.

Evaluated at each eval point, causally: the best validation loss so far has not been improved on
for ``patience`` eval points (patience counts evals, as Lightning's EarlyStopping does), the latest
value is at least ``min_rise`` above that best, and the training loss since the best step is not
higher than before it. The alert names the best step - the checkpoint to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


_TRAIN_POINTS = 500  # train-loss points compared on each side of the best step


@dataclass(frozen=True)
class OverfittingConfig:
    patience: int = setting(2, "eval points without a new best validation loss before alerting", low=1)
    min_rise: float = setting(0.01, "latest val loss at least this fraction above the best (0.01 = 1 %)", low=0)
    critical_rise: float = setting(0.10, "a rise this large (fraction of the best) is critical", low=0,
                                    at_least="min_rise")
    min_evals: int = setting(3, "eval points needed before judging", low=2)


class _EpochPlace:
    """Where a step lies in the run's epochs, in words. Trainers that log a fractional epoch (HF: 0.24)
    give it as it is; Nova logs the whole epoch index (0 through the first epoch), which says which
    epoch, not how far into it: "in epoch 1 (the first)" / "at the end of epoch 1", never "epoch 0.00".

    What does not depend on the step is worked out once: a run with a million eval points can have
    a hundred alerts, each naming its epoch."""

    def __init__(self, frame):
        self.steps, self.values = _stats.series(frame, "epoch")
        self.whole = bool(np.all(self.values == np.round(self.values)))
        self.highest_so_far = np.maximum.accumulate(self.values) if len(self.values) else self.values
        # The epoch's logging interval.
        self.interval = max(1, int(np.median(np.diff(self.steps)))) if len(self.steps) > 1 else 1

    def __call__(self, step: int) -> str | None:
        steps, values = self.steps, self.values
        if not len(steps):
            return None
        i = max(int(np.searchsorted(steps, step, side="right")) - 1, 0)
        if not self.whole:
            return f"epoch {values[i]:.2f}"
        index = int(values[i])
        # The first step of a later epoch: the first point whose highest epoch so far passes the index.
        later = int(np.searchsorted(self.highest_so_far, index, side="right"))
        ordinal = {0: "first", 1: "second", 2: "third"}.get(index, f"number {index + 1}")
        if later < len(steps) and step >= steps[later] - self.interval:
            return f"at the end of the {ordinal} epoch"
        return f"in the {ordinal} epoch"


def remediation(frame, info, best_step: int, best: float, epoch_place: _EpochPlace | None = None) -> str:
    epoch = (epoch_place or _EpochPlace(frame))(best_step)
    keep = f"Keep the checkpoint nearest step {best_step} (val_loss {_stats.fmt(best)}" + (f", {epoch})." if epoch is not None else ").")
    if info.technique == "cpt":
        advice = ("CPT should run at most one epoch: repeating limited CPT data overfits and erodes general capability. "
                  "Cut the epochs, or add more (diverse) data instead of repeating it.")
    else:
        advice = ("Train fewer epochs (in the published Nova sweep two epochs scored below one), add regularization "
                  "(weight decay, dropout) or more diverse data; full-rank SFT needs fewer epochs than LoRA. "
                  "Before stopping, check the downstream evals: task metrics can keep improving after validation "
                  "loss turns.")
    return f"{keep} {advice}"


def check(frame, info, config: OverfittingConfig):
    v_steps, v_values = _stats.series(frame, "val_loss")
    if len(v_steps) < config.min_evals:
        return skipped("overfitting", f"val_loss has {len(v_steps)} eval points; {config.min_evals} are needed")
    t_steps, t_values = _stats.series(frame, "train_loss")
    n = len(v_values)
    # Best-so-far and where it was, for every eval point at once (no quadratic rescans).
    index = np.arange(n)
    best_so_far = np.minimum.accumulate(v_values)
    new_best = np.concatenate([[True], v_values[1:] < best_so_far[:-1]])
    best_at = np.maximum.accumulate(np.where(new_best, index, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where(best_so_far > 0, v_values / best_so_far - 1, v_values - best_so_far)
    candidate = ((index - best_at) >= config.patience) & (rise >= config.min_rise)
    # Index of the next new best after each point (n when none): episodes end there.
    positions = np.where(new_best, index, n)
    next_best = np.concatenate([np.minimum.accumulate(positions[::-1])[::-1][1:], [n]])
    alerts, k = [], 0
    train_rose: set[int] = set()  # best points whose (saturated) train comparison already failed
    epoch_place = None  # built with the first alert
    for k in np.flatnonzero(candidate):
        if alerts and k <= alerts[-1].evidence["_last_index"]:
            continue  # inside the episode already reported
        best_i, best = int(best_at[k]), float(best_so_far[k])
        if best_i in train_rose:
            continue
        train_before = train_after = None
        if len(t_steps):
            span = v_steps[best_i] - (v_steps[best_i - 1] if best_i > 0 else t_steps[0])
            lo, mid, hi = np.searchsorted(t_steps, [v_steps[best_i] - max(span, 1), v_steps[best_i], v_steps[k]], side="right")
            lo, hi = max(lo, mid - _TRAIN_POINTS), min(hi, mid + _TRAIN_POINTS)  # bounded: no quadratic cost
            if mid > lo and hi > mid:
                train_before, train_after = float(np.median(t_values[lo:mid])), float(np.median(t_values[mid:hi]))
                if train_after > train_before * 1.02:
                    if hi - mid >= _TRAIN_POINTS:
                        train_rose.add(best_i)  # later evals compare the same window: same answer
                    continue  # train loss rose too: not overfitting (see loss_spike)
        # The episode: from the first eval after the best until val makes a new best (or the end).
        end = int(next_best[k]) - 1
        worst = best_i + 1 + int(np.argmax(v_values[best_i + 1:end + 1]))
        peak_rise = float(v_values[worst] / best - 1 if best > 0 else v_values[worst] - best)
        severity = Severity.CRITICAL if peak_rise >= config.critical_rise else Severity.WARNING
        train_text = (f" while train_loss fell from {_stats.fmt(train_before)} to {_stats.fmt(train_after)} (medians)"
                      if train_before is not None else " (no train_loss to compare)")
        message = (f"val_loss rose from its best {_stats.fmt(best)} at step {int(v_steps[best_i])} to "
                   f"{_stats.fmt(v_values[end])} at step {int(v_steps[end])} (peak +{100 * peak_rise:.1f} %), "
                   f"{end - best_i} eval points without a new best (patience {config.patience}, min rise "
                   f"{100 * config.min_rise:g} %){train_text}")
        epoch_place = epoch_place or _EpochPlace(frame)
        alerts.append(make_alert(info, "overfitting", severity, "val_loss", int(v_steps[best_i + 1]), int(v_steps[end]),
                                 message, remediation(frame, info, int(v_steps[best_i]), best, epoch_place),
                                 best_step=int(v_steps[best_i]), best_val_loss=best,
                                 latest_val_loss=float(v_values[end]), peak_rise=peak_rise,
                                 detected_at_step=int(v_steps[k]), evals_to_detect=int(k - best_i),
                                 evals_since_best=int(end - best_i), train_loss_before=train_before,
                                 train_loss_after=train_after, patience=config.patience, min_rise=config.min_rise,
                                 _last_index=int(end)))
    alerts = [replace(a, evidence={k: v for k, v in a.evidence.items() if k != "_last_index"}) for a in alerts]
    return alerted("overfitting", alerts)
