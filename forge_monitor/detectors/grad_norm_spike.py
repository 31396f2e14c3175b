"""``grad_norm_spike``: the gradient norm jumps far above its recent level.

Gradient-norm spikes often come before loss spikes (OLMo 2), so this is the early warning. Same
statistic as ``loss_spike`` (trailing robust z of log grad norm, excluding the point) with a larger
minimum ratio: gradient norms are noisier than losses. Non-finite norms belong to ``nonfinite``. A spike the loss follows within
a few steps is a warning; one the loss shrugs off (healthy pre-training has those) is info.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, lr_deviation, make_alert, setting, skipped


@dataclass(frozen=True)
class GradNormSpikeConfig:
    window: int = setting(100, "trailing points the spread and the 95th percentile come from", low=5)
    min_history: int = setting(10, "earlier points needed before the robust z is trusted", low=3)
    z_threshold: float = setting(8.0, "robust z of log(grad norm) above which a point is a spike", low=1)
    min_ratio: float = setting(4.0, "a spike is also at least this many times the trailing median", low=1)
    short_history_ratio: float = setting(10.0, "with little history, the jump must be this large", low=1)
    tail_ratio: float = setting(2.0, "a spike is also this many times the trailing 95th percentile", low=1)
    follow_steps: int = setting(3, "steps after the spike in which a loss reaction is looked for", low=0)
    loss_follow_ratio: float = setting(1.3, "loss peak / level before that makes the spike a warning (else info)", low=1)


def check(frame, info, config: GradNormSpikeConfig):
    steps, values = _stats.series(frame, "grad_norm")
    if len(steps) < 3:
        return skipped("grad_norm_spike", "grad_norm is not logged (or has fewer than 3 finite points)")
    loss_steps, loss_values = _stats.series(frame, "train_loss")
    alerts = []
    for event in _stats.spike_events(values, window=config.window, min_history=config.min_history,
                                     z_threshold=config.z_threshold, min_ratio=config.min_ratio,
                                     short_ratio=config.short_history_ratio, tail_ratio=config.tail_ratio):
        onset, end, peak = int(steps[event["start"]]), int(steps[event["end"]]), int(steps[event["peak"]])
        versus = (f"is {event['ratio']:.1f}x the median of the previous {event['level_points']} points "
                  f"({_stats.fmt(event['baseline'])})" if event["baseline"] > 0 else
                  f"while the median of the previous {event['level_points']} points was {_stats.fmt(event['baseline'])}")
        message = (f"grad_norm {_stats.fmt(event['peak_value'])} at step {peak} {versus}"
                   + (f", robust z {event['z']:.1f} > {config.z_threshold:g}" if event["z"] is not None and event["history"] >= config.min_history else ""))
        advice = [f"Inspect the batch at step {onset}: a few bad samples often produce one huge gradient.",
                  "Tighten gradient clipping so one batch cannot move the weights this far."]
        deviation = lr_deviation(info)
        if deviation:
            advice.insert(0, f"The LR {deviation[0]:g} is {deviation[0] / deviation[1]:.3g}x the {deviation[1]:g} default: lower it.")
        if info.technique == "rft" and info.platform == "hyperpod":
            advice.append("On HyperPod the gradient clip is the hard per-step cap for RFT: check it is set.")
        # A gradient spike the loss shrugs off is an early warning (info); one the loss follows is a warning.
        loss_effect = None
        if len(loss_steps) > 5:
            before = loss_values[(loss_steps < onset) & (loss_steps >= onset - 20)]
            after = loss_values[(loss_steps >= onset) & (loss_steps <= end + config.follow_steps)]
            if len(before) and len(after) and np.median(before) > 0:
                loss_effect = float(after.max() / np.median(before))
        followed = loss_effect is not None and loss_effect >= config.loss_follow_ratio
        message += (f"; the loss rose {loss_effect:.2f}x right after" if followed
                    else "; the loss did not follow" if loss_effect is not None else "")
        severity = Severity.WARNING if followed else Severity.INFO
        alerts.append(make_alert(info, "grad_norm_spike", severity, "grad_norm", onset, end, message, " ".join(advice),
                                 peak_step=peak, peak=event["peak_value"], baseline_median=event["baseline"],
                                 ratio=event["ratio"], robust_z=event["z"], z_threshold=config.z_threshold,
                                 min_ratio=config.min_ratio, window=config.window, loss_effect=loss_effect))
    return alerted("grad_norm_spike", alerts)
