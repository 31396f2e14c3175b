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
    dpo_min_ratio: float = setting(2.5, "the same for a DPO loss, whose per-batch values swing ~2x in healthy runs", low=1)
    short_history_ratio: float = setting(3.0, "with less history than min_history, the jump must be this large", low=1)
    settle_points: int = setting(10, "points after the spike used to judge recovery", low=2)
    persistent_ratio: float = setting(1.2, "settled this much above the earlier median: persistent", low=1)
    grad_z: float = setting(6.0, "grad-norm robust z that counts as a co-occurring spike", low=1)
    regime_ratio: float = setting(4.0, "spiky regime: a point this many times the median of the points before it is a spike", low=1.5)
    regime_level_points: int = setting(20, "spiky regime: earlier points whose median is the level", low=5)
    regime_max_width: int = setting(3, "spiky regime: a jump lasting more points than this is a level shift, not a spike", low=1)
    regime_min_spikes: int = setting(4, "spiky regime: spikes within regime_window points that make a regime", low=2)
    regime_window: int = setting(60, "spiky regime: logged points the spikes must fall within", low=5)
    regime_min_jump: float = setting(0.05, "spiky regime: a spike also rises by this share of the run's starting loss "
                                           "(jumps between two tiny numbers are not instability)", low=0)


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


def _regime(steps, values, g_steps, g_values, config: LossSpikeConfig) -> dict | None:
    """The first spiky regime: recurring spikes counted against the trailing median (see the module)."""
    n = len(values)
    if n < config.regime_level_points + config.regime_min_spikes:
        return None
    level = _stats.rolling_median(values, config.regime_level_points, config.regime_level_points, before=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        high = np.nan_to_num(values / level, nan=0.0) >= config.regime_ratio
    start_level = float(np.median(values[:10]))
    high &= (level > 0) & (values - level >= config.regime_min_jump * start_level)
    spikes = [(a, b) for a, b in _stats.runs(high) if b - a + 1 <= config.regime_max_width]
    if len(spikes) < config.regime_min_spikes:
        return None
    starts = np.array([a for a, _ in spikes])
    k = config.regime_min_spikes
    # The first spike that completes ``k`` spikes within the window; the regime starts at the first of them.
    within = starts[k - 1:] - starts[:len(starts) - k + 1] < config.regime_window
    if not within.any():
        return None
    first = int(np.argmax(within))
    detected = first + k - 1
    last = detected
    while last + 1 < len(starts) and starts[last + 1] - starts[last] < config.regime_window:
        last += 1  # the regime goes on while spikes keep coming within a window of each other
    members = spikes[first:last + 1]
    peaks = [a + int(np.argmax(values[a:b + 1])) for a, b in members]
    regime = {"start": members[0][0], "end": members[-1][1], "detected": members[k - 1][0], "peaks": peaks,
              "ratios": [float(values[p] / level[p]) for p in peaks], "levels": [float(level[p]) for p in peaks]}
    if len(g_steps) >= config.regime_level_points:
        g_at = dict(zip(g_steps.tolist(), g_values.tolist()))
        at_peaks = [g_at[int(steps[p])] for p in peaks if int(steps[p]) in g_at]
        between = g_values[(g_steps >= steps[regime["start"]]) & (g_steps <= steps[regime["end"]])
                           & ~np.isin(g_steps, steps[peaks])]
        if at_peaks and len(between):
            regime["grad_at_spikes"] = (float(np.min(at_peaks)), float(np.max(at_peaks)))
            regime["grad_between"] = float(np.median(between))
    return regime


def regime_remediation(info, frame, regime: dict, onset: int) -> str:
    parts = []
    lr = info.hyperparameters.get("learning_rate")
    deviation = lr_deviation(info)
    if deviation:
        lr, default = deviation
        parts.append(f"Lower the LR: {lr:g} is {lr / default:.3g}x the {default:g} service default - go back to the "
                     "default" + (" (instability under data mixing is LR-sensitive)." if mixing_on(info) else "."))
    else:
        lr_steps, lr_values = _stats.series(frame, "learning_rate")
        if isinstance(lr, (int, float)):
            lr_text = f"{lr:g}"
        elif len(lr_steps):
            lr_text = f"{_stats.fmt(lr_values[np.searchsorted(lr_steps, onset, side='right') - 1 if lr_steps[0] <= onset else 0])} at step {onset}"
        else:
            lr_text = None
        parts.append("Lower the LR" + (f" (now {lr_text})" if lr_text else "") + " by 2-5x: it is the most sensitive "
                     "knob, and too high a rate shows as exactly this instability.")
    clip = info.hyperparameters.get("max_grad_norm")
    if "grad_at_spikes" in regime:
        low, high = regime["grad_at_spikes"]
        parts.append(f"The gradient norm reached {_stats.fmt(low)}-{_stats.fmt(high)} at the spikes against "
                     f"{_stats.fmt(regime['grad_between'])} between them: clip it near that typical level"
                     + (f" (max_grad_norm is {clip:g})" if isinstance(clip, (int, float)) else "") + ".")
    else:
        parts.append("Tighten gradient clipping" + (f" (max_grad_norm is {clip:g})" if isinstance(clip, (int, float)) else "") + ".")
    if info.technique == "dpo" or len(_stats.series(frame, "rewards/margins")[0]):
        beta = info.hyperparameters.get("beta")
        m_steps, margins = _stats.series(frame, "rewards/margins")
        grown = (f"; rewards/margins grew from {_stats.fmt(np.median(margins[:max(len(margins) // 5, 1)]))} to "
                 f"{_stats.fmt(np.median(margins[-max(len(margins) // 5, 1):]))}") if len(margins) >= 10 else ""
        parts.append("DPO: the loss sits near 0 between spikes, so the policy is over-optimising the preference pairs"
                     f"{grown}; a higher beta" + (f" (now {beta:g})" if isinstance(beta, (int, float)) else "")
                     + " keeps it nearer the reference, and fewer steps or epochs stop it earlier.")
    shown = ", ".join(str(int(s)) for s in regime["peak_steps"][:6])
    parts.append(f"Inspect the batches at steps {shown}{' ...' if len(regime['peak_steps']) > 6 else ''}: recurring "
                 "spikes often come from a slice of the data (duplicates, mislabeled or very long samples).")
    return " ".join(parts)


def check(frame, info, config: LossSpikeConfig):
    if info.technique in ("rft", "ppo"):
        return skipped("loss_spike", f"train_loss of a {info.technique.upper()} run is a policy loss, not a fit loss")
    steps, values = _stats.series(frame, "train_loss")
    if len(steps) < 3:
        return skipped("loss_spike", "train_loss has fewer than 3 finite points")
    min_ratio = max(config.min_ratio, config.dpo_min_ratio) if info.technique == "dpo" else config.min_ratio
    events = _stats.spike_events(values, window=config.window, min_history=config.min_history,
                                 z_threshold=config.z_threshold, min_ratio=min_ratio,
                                 short_ratio=config.short_history_ratio)
    g_steps, g_values = _stats.series(frame, "grad_norm")
    g_spikes = set()
    if len(g_steps) >= 3:
        for g in _stats.spike_events(g_values, window=config.window, min_history=config.min_history,
                                     z_threshold=config.grad_z, min_ratio=2.0, short_ratio=config.short_history_ratio):
            g_spikes.update(g_steps[g["start"]:g["end"] + 1].tolist())
    regime = _regime(steps, values, g_steps, g_values, config)
    alerts = []
    folded = []
    for event in events:
        onset, end = int(steps[event["start"]]), int(steps[event["end"]])
        if regime is not None and regime["start"] <= event["start"] <= regime["end"]:
            folded.append(onset)  # reported as part of the regime
            continue
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
            grad_norm_spike_step=grad_step, z_threshold=config.z_threshold, min_ratio=min_ratio,
            window=config.window))
    if regime is not None:
        onset, end = int(steps[regime["start"]]), int(steps[regime["end"]])
        regime["peak_steps"] = [int(steps[p]) for p in regime["peaks"]]
        count = len(regime["peaks"])
        span = end - onset + 1
        grad = (f"; grad norm {_stats.fmt(regime['grad_at_spikes'][0])}-{_stats.fmt(regime['grad_at_spikes'][1])} at the "
                f"spikes vs {_stats.fmt(regime['grad_between'])} between them") if "grad_at_spikes" in regime else ""
        message = (f"spiky regime: {count} spikes in the last {span} steps (steps {onset}-{end}), each "
                   f"{min(regime['ratios']):.1f}-{max(regime['ratios']):.1f}x the median of the {config.regime_level_points} "
                   f"points before it (threshold {config.regime_ratio:g}x); the loss keeps jumping from "
                   f"~{_stats.fmt(float(np.median(regime['levels'])))} to {_stats.fmt(float(np.max(values[regime['peaks']])))}{grad}")
        alerts.append(make_alert(
            info, "loss_spike", Severity.CRITICAL, "train_loss", onset, end, message,
            regime_remediation(info, frame, regime, onset), kind="regime", spikes=count, peak_steps=regime["peak_steps"],
            ratios=regime["ratios"], detected_at_step=int(steps[regime["detected"]]), folded_spike_alerts=folded,
            grad_norm_at_spikes=regime.get("grad_at_spikes"), grad_norm_between=regime.get("grad_between"),
            regime_ratio=config.regime_ratio, regime_min_spikes=config.regime_min_spikes, regime_window=config.regime_window))
        alerts.sort(key=lambda a: a.step)
    return alerted("loss_spike", alerts)
