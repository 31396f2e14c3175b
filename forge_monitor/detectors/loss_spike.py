"""``loss_spike``: a sudden jump of the training loss, transient or persistent.

Robust z of log(loss) against the trailing ``window`` points, excluding the point itself (a point
must not inflate its own baseline), plus a minimum ratio to the trailing median so a tiny blip on a
very smooth curve is not a spike. Early on, with too little history for a spread, only a large
ratio counts. After the spike, the median of the next points against the median before says
whether the run recovered (transient) or settled higher (persistent). A grad-norm spike at or just
before the onset is recorded as supporting evidence. Not applied to RL policy losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, lr_deviation, make_alert, mixing_on, setting, skipped


@dataclass(frozen=True)
class LossSpikeConfig:
    window: int = setting(100, "trailing points the spread (median step-to-step change) comes from", low=5)
    min_history: int = setting(10, "earlier points needed before the robust z is trusted", low=3)
    z_threshold: float = setting(5.0, "robust z of log(loss) above which a point is a spike", low=1)
    min_ratio: float = setting(1.5, "a spike is also at least this many times the trailing median", low=1)
    short_history_ratio: float = setting(3.0, "with less history than min_history, the jump must be this large", low=1)
    settle_points: int = setting(10, "points after the spike used to judge recovery", low=2)
    persistent_ratio: float = setting(1.2, "settled this much above the earlier median: persistent", low=1)
    grad_z: float = setting(6.0, "grad-norm robust z that counts as a co-occurring spike", low=1)


def remediation(info, event: dict, persistent: bool | None, grad_step: int | None) -> str:
    onset = event["onset_step"]
    parts = []
    deviation = lr_deviation(info)
    if deviation and mixing_on(info):
        lr, default = deviation
        parts.append(f"The LR {lr:g} is {lr / default:.3g}x the {default:g} default while data mixing is on: revert to "
                     "the default first - leaving the default LR under mixing is the most common cause of loss spikes.")
    elif deviation:
        lr, default = deviation
        parts.append(f"The LR {lr:g} is {lr / default:.3g}x the {default:g} service default: it is the first suspect; "
                     "go back towards the default.")
    elif mixing_on(info):
        parts.append("Data mixing is on: keep the service-default LR - instability under mixing is LR-sensitive.")
    warmup, steps = info.hyperparameters.get("warmup_steps"), info.hyperparameters.get("max_steps")
    if isinstance(warmup, (int, float)) and isinstance(steps, (int, float)) and steps > 0 and warmup / steps < 0.1:
        parts.append(f"Warmup is {warmup:g} of {steps:g} steps ({100 * warmup / steps:.0f} %); about 15 % is recommended.")
    if grad_step is not None:
        parts.append(f"The gradient norm spiked at step {grad_step}, first: tighten gradient clipping.")
    if persistent:
        parts.append(f"The loss settled higher and did not recover: restart from the checkpoint before step {onset} with "
                     "a lower LR or longer warmup, and skip the batches around the spike.")
    else:
        parts.append(f"Inspect the batch at step {onset} (repeated n-grams, corrupt or mislabeled samples). If spikes "
                     f"recur, restart from a checkpoint ~100 steps before step {onset} and skip the batches around it.")
    return " ".join(parts)


def check(frame, info, config: LossSpikeConfig):
    if info.technique in ("rft", "ppo"):
        return skipped("loss_spike", f"train_loss of a {info.technique.upper()} run is a policy loss, not a fit loss")
    steps, values = _stats.series(frame, "train_loss")
    if len(steps) < 3:
        return skipped("loss_spike", "train_loss has fewer than 3 finite points")
    events = _stats.spike_events(values, window=config.window, min_history=config.min_history,
                                 z_threshold=config.z_threshold, min_ratio=config.min_ratio,
                                 short_ratio=config.short_history_ratio)
    g_steps, g_values = _stats.series(frame, "grad_norm")
    g_spikes = set()
    if len(g_steps) >= 3:
        for g in _stats.spike_events(g_values, window=config.window, min_history=config.min_history,
                                     z_threshold=config.grad_z, min_ratio=2.0, short_ratio=config.short_history_ratio):
            g_spikes.update(g_steps[g["start"]:g["end"] + 1].tolist())
    alerts = []
    for event in events:
        onset, end = int(steps[event["start"]]), int(steps[event["end"]])
        event["onset_step"] = onset
        before = _stats.window_median(values, event["start"] - config.window, event["start"])
        after_part = values[event["end"] + 1:event["end"] + 1 + config.settle_points]
        persistent = None
        if len(after_part) >= config.settle_points:
            persistent = bool(np.median(after_part) > config.persistent_ratio * before)
        # The earliest grad-norm spike within two logged points before the onset (or at it).
        near = [int(s) for s in steps[max(event["start"] - 2, 0):event["start"] + 1] if s in g_spikes]
        grad_step = min(near) if near else None
        kind = {True: "persistent: settled higher", False: "transient: recovered", None: "recovery not known yet"}[persistent]
        z_text = f", robust z {event['z']:.1f} > {config.z_threshold:g}" if event["z"] is not None and event["history"] >= config.min_history else ""
        message = (f"train_loss {_stats.fmt(event['peak_value'])} at step {int(steps[event['peak']])} is "
                   f"{event['ratio']:.1f}x the median of the previous {event['level_points']} points "
                   f"({_stats.fmt(event['baseline'])}){z_text}; {kind}"
                   + (f"; led by a grad-norm spike at step {grad_step}" if grad_step is not None else ""))
        severe = persistent or (grad_step is not None and event["ratio"] >= config.short_history_ratio)
        alerts.append(make_alert(
            info, "loss_spike", Severity.CRITICAL if severe else Severity.WARNING, "train_loss", onset, end, message,
            remediation(info, event, persistent, grad_step),
            peak_step=int(steps[event["peak"]]), peak=event["peak_value"], baseline_median=event["baseline"],
            ratio=event["ratio"], robust_z=event["z"], history_points=event["history"], persistent=persistent,
            median_before=before, median_after=float(np.median(after_part)) if len(after_part) else None,
            grad_norm_spike_step=grad_step, z_threshold=config.z_threshold, min_ratio=config.min_ratio,
            window=config.window))
    return alerted("loss_spike", alerts)
