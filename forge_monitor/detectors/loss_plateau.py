"""``loss_plateau``: the training loss is not coming down.

Two findings. *Flat from the start*: the median of the first window (after the first points)
against the median of the last window; a loss that fell and then levelled off is a converged run,
not this - an LR too low for the run, or a LoRA adapter that under-adapts.

*Slow plateau* (SFT / CPT): the loss learned, then stopped - it improves by less than
``slow_min_improvement`` over the last window (``slow_window_steps`` steps, or ``slow_window_fraction``
of the run so far when that is longer) while the LR is still at least ``slow_lr_share`` of its peak.
Improvement is the fitted fractional fall of log(loss) across the window, so noise does not decide
it. A healthy run flattening at the end of its schedule is told apart twice: by the schedule (its LR
has decayed towards its floor) and by the slope's trend (a power-law curve slows gradually; a
plateau's improvement drops below ``slow_trend_ratio`` of the previous window's). Needs the LR.
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
    slow_window_steps: int = setting(1000, "slow plateau: the shortest window (in steps) the improvement is measured over", low=10)
    slow_window_fraction: float = setting(0.3, "slow plateau: the window is at least this share of the steps so far", low=0.05, high=0.5)
    slow_min_improvement: float = setting(0.005, "slow plateau: fitted relative improvement over the window below which it has stalled", low=0)
    slow_trend_ratio: float = setting(0.35, "slow plateau: and below this share of the previous window's improvement", low=0, high=1)
    slow_lr_share: float = setting(0.5, "slow plateau: the window's mean LR is still at least this share of its peak", low=0, high=1)
    slow_min_window_points: int = setting(20, "slow plateau: logged points needed in each window", low=5)


def _slow(frame, info, config, steps, values):
    if info.technique not in ("sft", "cpt", "unknown") or (values <= 0).any():
        return None
    lr_steps, lr = _stats.series(frame, "learning_rate")
    if len(lr_steps) < 10 or lr.max() <= 0:
        return None
    peak = float(lr.max())
    warm_end = int(lr_steps[np.argmax(lr >= 0.9 * peak)])
    stride = max(len(steps) // 400, 1)
    logs = np.log(values)
    lr_at = lambda a, b: lr[np.searchsorted(lr_steps, a, side="right"):np.searchsorted(lr_steps, b, side="right")]  # noqa: E731

    # Least-squares slopes of log(loss) over any window from prefix sums: O(1) per window instead of
    # a polyfit each (hundreds of windows per run; a folder of 200 runs is checked in one go).
    # Steps are taken from the first one, so the sums stay far from float64's limits.
    x = (steps - steps[0]).astype(np.float64)
    sums = [np.concatenate(([0.0], np.cumsum(v))) for v in (x, logs, x * logs, x * x)]
    # The window ends are floats: searched in the steps as floats, cast once (exact below 2**53), not a
    # cast of every step by each of the ~1,600 searches (a third of a second on a million steps).
    at = steps.astype(np.float64)

    def improvement(a: float, b: float, span: float) -> tuple[float, int]:
        """Fitted relative fall over ``span`` steps of the points in (a, b], and how many there are."""
        i, j = np.searchsorted(at, a, side="right"), np.searchsorted(at, b, side="right")
        n = j - i
        if n < 2:
            return 0.0, n
        sx, sy, sxy, sxx = (c[j] - c[i] for c in sums)
        spread = n * sxx - sx * sx
        if spread <= 0:
            return 0.0, n
        slope = (n * sxy - sx * sy) / spread
        return float(1.0 - np.exp(slope * span)), n

    for end in range(len(steps) - 1, -1, -stride)[::-1]:
        end_step = int(steps[end])
        width = max(config.slow_window_steps, config.slow_window_fraction * (end_step - int(steps[0])))
        if end_step - 2 * width < max(warm_end, int(steps[0])):
            continue  # the previous window must lie after warmup
        now, n_now = improvement(end_step - width, end_step, width)
        before, n_before = improvement(end_step - 2 * width, end_step - width, width)
        if n_now < config.slow_min_window_points or n_before < config.slow_min_window_points:
            continue
        if now >= config.slow_min_improvement or before < config.slow_min_improvement or now > config.slow_trend_ratio * before:
            continue
        # Confirmed a window later (a pause of several hundred steps is common in healthy runs): over the two
        # windows since it began, the loss has still not improved by the minimum per window.
        confirm_step = end_step + width
        if steps[-1] < confirm_step or improvement(end_step - width, confirm_step, width)[0] >= config.slow_min_improvement:
            continue
        onset = int(steps[np.searchsorted(at, end_step - width, side="right")])
        end_step = int(steps[np.searchsorted(at, confirm_step)])
        in_window = lr_at(end_step - 2 * width, end_step)
        lr_now = float(np.mean(in_window)) if len(in_window) else float(lr[lr_steps <= end_step][-1])
        if lr_now < config.slow_lr_share * peak:
            continue
        level = values[np.searchsorted(steps, onset):np.searchsorted(steps, end_step, side="right")]
        return {"onset": onset, "detected": end_step, "width": width, "now": now, "before": before,
                "lr_now": lr_now, "lr_peak": peak, "level": float(np.median(level))}
    return None


def _slow_alert(info, config, steps, found):
    hp = info.hyperparameters
    max_steps = hp.get("max_steps")
    schedule = (f"; the schedule has {max_steps - found['detected']:g} of {max_steps:g} steps left"
                if isinstance(max_steps, (int, float)) and max_steps > found["detected"] else "")
    message = (f"slow loss plateau: train_loss improved {100 * found['now']:.2f} % over the last {found['width']:.0f} steps "
               f"(steps {found['onset']}-{found['detected']}, median {_stats.fmt(found['level'])}), against "
               f"{100 * found['before']:.1f} % over the {found['width']:.0f} before (minimum {100 * config.slow_min_improvement:g} %), "
               f"while the LR is still {_stats.fmt(found['lr_now'])}, {100 * found['lr_now'] / found['lr_peak']:.0f} % of its "
               f"peak {_stats.fmt(found['lr_peak'])}{schedule}")
    parts = ["The loss stopped improving long before the LR schedule ends: the remaining steps are likely wasted compute."]
    if info.technique == "cpt":
        parts.append("For CPT, check the data is not exhausted or repeated (at most one epoch), and that the token budget "
                     "per step is in the 2-20 M range; if the domain data is small, a later (mid- or post-trained) "
                     "checkpoint adapts with less.")
    parts.append(f"Either stop at step ~{found['onset']} and keep that checkpoint, or shorten the run and decay the LR "
                 "earlier (a shorter constant phase)")
    rank, alpha = hp.get("lora_rank"), hp.get("lora_alpha")
    if info.training_mode == "lora" or isinstance(rank, (int, float)):
        parts[-1] += ("; a LoRA adapter that levels off this early may be under-adapting: raise the rank first"
                      + (f" (now {rank:g}" + (f", alpha {alpha:g}" if isinstance(alpha, (int, float)) else "") + ")"
                         if isinstance(rank, (int, float)) else "") + ", then alpha")
    parts[-1] += ". Check that the data actually reaches the loss (masking, formatting) and is diverse enough."
    return make_alert(info, "loss_plateau", Severity.WARNING, "train_loss", found["onset"], found["detected"], message,
                      " ".join(parts), kind="slow", improvement=found["now"], previous_improvement=found["before"],
                      window_steps=found["width"], lr_now=found["lr_now"], lr_peak=found["lr_peak"],
                      detected_at_step=found["detected"], slow_min_improvement=config.slow_min_improvement,
                      slow_lr_share=config.slow_lr_share, slow_trend_ratio=config.slow_trend_ratio)


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
        # It learned at some point: a later rise is loss_spike's business; a stall with LR to spare is a slow plateau.
        found = _slow(frame, info, config, steps, values)
        return alerted("loss_plateau", [_slow_alert(info, config, steps, found)] if found else [])
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
                                               int(steps[-1]), message, remediation, kind="flat", first_median=first,
                                               last_median=last, improvement=improvement,
                                               min_improvement=config.min_improvement)])
