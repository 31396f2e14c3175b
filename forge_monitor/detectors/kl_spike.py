"""``kl_spike``: a sudden jump of the KL divergence to the reference policy (RL).

A sudden KL spike means one large, possibly unstable policy update. Trailing robust z on log KL
(KL grows from ~0, so ratios are what matter), plus a minimum ratio to the trailing median.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class KlSpikeConfig:
    window: int = setting(50, "trailing points the spread and the trailing maximum come from", low=5)
    min_history: int = setting(20, "earlier points needed first (KL grows fast from ~0 early on)", low=3)
    z_threshold: float = setting(6.0, "robust z of log(KL) above which a point is a spike", low=1)
    min_ratio: float = setting(5.0, "a spike is also at least this many times the trailing median", low=1)
    short_history_ratio: float = setting(100.0, "with little history, the jump must be this large", low=1)
    min_kl: float = setting(1e-3, "KL values below this are treated as noise around 0 (KL grows from ~0)", low=0)
    max_ratio: float = setting(2.0, "a spike is also this many times the largest KL of the trailing window", low=1)
    min_peak: float = setting(0.2, "a KL below this is a small update whatever the ratio (bursty ~0 KLs)", low=0)


def remediation(info, onset: int, reward_change: float | None) -> str:
    coef = info.hyperparameters.get("kl_loss_coef")
    parts = []
    if info.platform == "hyperpod":
        parts.append("On HyperPod, RFT stability comes from gradient clipping (a hard per-step cap): tighten it and lower "
                     "the LR; KL-coefficient values from training jobs do not transfer directly.")
    else:
        parts.append("Raise the KL loss coefficient" + (f" (now {coef:g})" if isinstance(coef, (int, float)) else "")
                     + " and lower the LR so one update cannot move the policy this far.")
    parts.append(f"Look at the rollouts and rewards around step {onset}: a reward outlier or a degenerate batch often "
                 "drives the jump.")
    if reward_change is not None and reward_change < 0:
        parts.append(f"Reward fell {abs(reward_change):.3g} after the spike: consider resuming from the checkpoint before it.")
    return " ".join(parts)


def check(frame, info, config: KlSpikeConfig):
    steps, values = _stats.series(frame, "kl")
    if len(steps) < 3:
        return skipped("kl_spike", "no KL to the reference policy is logged (TRL GRPO logs kl only when beta != 0)")
    clipped = np.maximum(values, config.min_kl)
    r_steps, r_values = _stats.series(frame, "reward")
    alerts = []
    for event in _stats.spike_events(clipped, window=config.window, min_history=config.min_history,
                                     z_threshold=config.z_threshold, min_ratio=config.min_ratio,
                                     short_ratio=config.short_history_ratio, gap=1, tail_ratio=config.max_ratio,
                                     tail_quantile=1.0):
        if values[event["peak"]] < config.min_peak:
            continue
        onset, end, peak = int(steps[event["start"]]), int(steps[event["end"]]), int(steps[event["peak"]])
        reward_change = None
        if len(r_steps) > 10:
            before = r_values[(r_steps < onset) & (r_steps >= onset - 20)]
            after = r_values[(r_steps > end) & (r_steps <= end + 20)]
            if len(before) and len(after):
                reward_change = float(np.mean(after) - np.mean(before))
        severity = Severity.CRITICAL if event["ratio"] >= 4 * config.min_ratio else Severity.WARNING
        message = (f"KL {_stats.fmt(values[event['peak']])} at step {peak} is {event['ratio']:.1f}x the median of the "
                   f"previous {event['level_points']} points ({_stats.fmt(event['baseline'])})"
                   + (f", robust z {event['z']:.1f} > {config.z_threshold:g}" if event["z"] is not None and event["history"] >= config.min_history else "")
                   + (f"; mean reward over the next 20 steps changed by {reward_change:+.3g}" if reward_change is not None else ""))
        alerts.append(make_alert(info, "kl_spike", severity, "kl", onset, end, message, remediation(info, onset, reward_change),
                                 peak_step=peak, peak=float(values[event["peak"]]), baseline_median=event["baseline"],
                                 ratio=event["ratio"], robust_z=event["z"], reward_change=reward_change,
                                 z_threshold=config.z_threshold, min_ratio=config.min_ratio, window=config.window))
    return alerted("kl_spike", alerts)
