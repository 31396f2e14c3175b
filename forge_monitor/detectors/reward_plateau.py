"""``reward_plateau``: RL reward that does not move - from no learning signal, or flat from the start.

Two findings. *No signal*: most recent steps have zero reward variance within groups
(``frac_reward_zero_std`` high, ``reward_std`` ~0, or the batch's best and worst reward equal) -
every sample of a prompt scores the same, so advantages and gradients are ~0. *Flat*: the recent
median is no better than the first one and the reward never rose in between. Either is classified by
level: at the floor (the model rarely succeeds), at the ceiling (nothing left to learn), or mid-range.
A reward that rose and then levelled off is convergence, not a plateau, and stays quiet - with two
exceptions where the level itself says no learning signal is left:

- *ceiling*: the reward climbed to the top of a [0, 1] scale and stays there while the groups lose
  their variance (``frac_reward_zero_std`` rising toward 1, ``reward_std`` falling toward 0; with
  neither logged, a recent median within ``saturated_level`` of the top leaves no room for any);
- *frozen at the floor*: the reward sits still at the bottom of its scale after the policy's entropy
  collapsed (or exploded and then collapsed): the model emits one degenerate answer whatever the
  prompt, and nothing it samples scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class RewardPlateauConfig:
    min_points: int = setting(20, "reward points needed before judging", low=5)
    window_fraction: float = setting(0.3, "share of the run in the first and the recent window", low=0.05, high=0.5)
    flat_tolerance: float = setting(0.05, "a change below this fraction of the reward scale is flat", low=0)
    zero_signal_share: float = setting(0.5, "share of recent steps without reward variance that means no signal", low=0, high=1)
    zero_std_fraction: float = setting(0.8, "frac_reward_zero_std at or above this is a zero-signal step", low=0, high=1)
    floor_level: float = setting(0.1, "position in the reward scale at or below which a plateau is 'at the floor'", low=0, high=1)
    ceiling_level: float = setting(0.9, "position at or above which a plateau is 'at the ceiling'", low=0, high=1)
    ceiling_zero_std: float = setting(0.5, "ceiling: recent mean frac_reward_zero_std at or above this (and risen by 0.25) is lost variance", low=0, high=1)
    ceiling_std_ratio: float = setting(0.4, "ceiling: recent reward_std at or below this share of its early level is lost variance", low=0, high=1)
    saturated_level: float = setting(0.97, "ceiling without group statistics: a recent median at or above this position is saturated", low=0, high=1)
    frozen_spread: float = setting(0.03, "floor: recent reward spread (interquartile, share of the scale) below which it is frozen", low=0, high=1)
    entropy_collapse_ratio: float = setting(0.1, "floor: entropy at or below this share of its early level counts as collapsed", low=0, high=1)


def _zero_signal(frame, steps_from: int) -> tuple[float, str] | None:
    """Share of steps since ``steps_from`` with no reward variance, and which metric said so."""
    s, v = _stats.series(frame, "frac_reward_zero_std")
    if len(s):
        recent = v[s >= steps_from]
        return (float(np.mean(recent >= 0.999)), "frac_reward_zero_std") if len(recent) else None
    s, v = _stats.series(frame, "reward_std")
    if len(s):
        recent = v[s >= steps_from]
        return (float(np.mean(recent <= 1e-6)), "reward_std") if len(recent) else None
    hi_s, hi = _stats.series(frame, "critic/rewards/max")
    lo_s, lo = _stats.series(frame, "critic/rewards/min")
    if len(hi_s) and len(hi_s) == len(lo_s):
        keep = hi_s >= steps_from
        return (float(np.mean(np.abs(hi[keep] - lo[keep]) <= 1e-9)), "critic/rewards/max = min") if keep.any() else None
    return None


def _mean_zero_std(frame, steps_from: int) -> float | None:
    s, v = _stats.series(frame, "frac_reward_zero_std")
    recent = v[s >= steps_from]
    return float(np.mean(recent)) if len(recent) else None


def _scale(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of the reward scale: [0, 1] when the rewards live there, else their observed range."""
    if values.min() >= -0.05 and values.max() <= 1.05:
        return 0.0, 1.0
    low, high = np.percentile(values, [1, 99])
    return float(low), float(max(high, low + 1e-9))


def _ceiling_evidence(frame, steps, width: int, config) -> tuple[str, dict] | None:
    """How the groups lost their variance by the end of the run, or None."""
    recent_from, early_to = int(steps[-width]), int(steps[min(width, len(steps) - 1)])
    s, v = _stats.series(frame, "frac_reward_zero_std")
    if len(s) >= 10:
        early, recent = v[s <= early_to], v[s >= recent_from]
        if len(early) and len(recent):
            e, r = float(np.mean(early)), float(np.mean(recent))
            if r >= config.ceiling_zero_std and r - e >= 0.25:
                return (f"frac_reward_zero_std rose from {e:.2f} to {r:.2f}",
                        {"frac_zero_std_early": e, "frac_zero_std_recent": r})
        return None
    s, v = _stats.series(frame, "reward_std")
    if len(s) >= 10:
        early, recent = v[s <= early_to], v[s >= recent_from]
        if len(early) and len(recent):
            e, r = float(np.median(early)), float(np.median(recent))
            if e > 0 and r <= config.ceiling_std_ratio * e:
                return f"reward_std fell from {_stats.fmt(e)} to {_stats.fmt(r)}", {"reward_std_early": e, "reward_std_recent": r}
        return None
    return ""  # no group statistics logged: the level alone decides


def _entropy_collapse(frame, config) -> tuple[int, float, float] | None:
    """(step, value, early level) where the entropy first fell to a small share of its early level."""
    s, v = _stats.series(frame, "entropy")
    if len(s) < 10:
        return None
    early = float(np.median(v[:max(len(v) // 10, 3)]))
    if early <= 0:
        return None
    low = np.flatnonzero(v <= config.entropy_collapse_ratio * early)
    if not len(low):
        return None
    return int(s[low[0]]), float(v[low[0]]), early


def _advice(level: str, info) -> str:
    if level == "floor":
        return ("At the floor the model rarely succeeds, so there is nothing to reinforce: RFT refines behaviour the "
                "model can already partly show and cannot close a large competence gap. Run SFT first (or use easier "
                "prompts), and check the reward function can tell partial progress from failure.")
    if level == "ceiling":
        return ("At the ceiling most responses already score high: RFT has no signal left and gains shrink while the "
                "risk of degrading other capabilities grows. Use harder prompts, drop solved ones (dynamic sampling), "
                "or stop here.")
    return ("A mid-level plateau: check the reward function discriminates across the model's quality range, and "
            "that the LR is not too low for the run length.")


def check(frame, info, config: RewardPlateauConfig):
    steps, values = _stats.series(frame, "reward")
    if len(steps) < config.min_points:
        return skipped("reward_plateau", f"reward has {len(steps)} points; {config.min_points} are needed")
    n = len(values)
    width = max(int(config.window_fraction * n), 5)
    low, high = _scale(values)
    scale = high - low
    first, recent = float(np.median(values[:width])), float(np.median(values[-width:]))
    level_pos = (recent - low) / scale
    level = "floor" if level_pos <= config.floor_level else "ceiling" if level_pos >= config.ceiling_level else "mid"
    alerts = []
    zero = _zero_signal(frame, int(steps[-width]))
    mean_zero = _mean_zero_std(frame, int(steps[-width]))
    no_signal = zero is not None and (zero[0] >= config.zero_signal_share or (mean_zero is not None and mean_zero >= config.zero_std_fraction))
    # Medians of consecutive blocks of half a window: did the reward ever rise above its start?
    block = max(width // 2, 1)
    usable = (n // block) * block
    block_medians = np.median(values[:usable].reshape(-1, block), axis=1)
    ever_rose = bool(block_medians.max() - first > config.flat_tolerance * scale)
    flat = abs(recent - first) <= config.flat_tolerance * scale and not ever_rose
    onset = int(steps[-width])
    if no_signal:
        share, source = zero
        if share >= config.zero_signal_share or mean_zero is None:
            what = f"{100 * share:.0f} % of the last {width} steps have no reward variance ({source})"
        else:  # no step is entirely without variance, but most of each step's groups are
            what = (f"on average {100 * mean_zero:.0f} % of the prompt groups had no reward variance over the last "
                    f"{width} steps (mean frac_reward_zero_std {mean_zero:.2f}, threshold {config.zero_std_fraction:g})")
        message = f"no learning signal: {what}; reward median {_stats.fmt(recent)} ({level} of the [{_stats.fmt(low)}, {_stats.fmt(high)}] scale)"
        remediation = ("When every sample of a prompt scores the same, advantages and gradients are zero: the reward "
                       "function lacks discriminative power for these prompts. " + _advice(level, info))
        alerts.append(make_alert(info, "reward_plateau", Severity.CRITICAL if level == "floor" else Severity.WARNING,
                                 "reward", onset, int(steps[-1]), message, remediation, kind="no_signal",
                                 zero_signal_share=share, signal_source=source, mean_frac_zero_std=mean_zero,
                                 level=level, recent_median=recent, first_median=first, window=width,
                                 zero_signal_threshold=config.zero_signal_share))
    elif flat:
        message = (f"reward has not improved: median {_stats.fmt(first)} over the first {width} steps, "
                   f"{_stats.fmt(recent)} over the last {width} (change {recent - first:+.3g}, tolerance "
                   f"{config.flat_tolerance * scale:.3g}); {level} of the [{_stats.fmt(low)}, {_stats.fmt(high)}] scale")
        alerts.append(make_alert(info, "reward_plateau", Severity.WARNING, "reward", int(steps[0]), int(steps[-1]),
                                 message, _advice(level, info), kind="flat", level=level, first_median=first,
                                 recent_median=recent, window=width, tolerance=config.flat_tolerance * scale))
    elif not no_signal and (low, high) == (0.0, 1.0):
        alerts.extend(_level_findings(frame, info, config, steps, values, width, first, recent))
    return alerted("reward_plateau", alerts)


def _level_findings(frame, info, config, steps, values, width, first, recent):
    """A reward pinned at the ceiling with its variance gone, or frozen at the floor after the entropy collapsed."""
    half = max(width // 2, 3)
    still = abs(float(np.median(values[-half:])) - float(np.median(values[-2 * half:-half]))) <= config.flat_tolerance
    if not still:
        return []
    if recent >= config.ceiling_level:
        evidence = _ceiling_evidence(frame, steps, width, config)
        if evidence is None or (evidence == "" and recent < config.saturated_level):
            return []
        text, numbers = evidence if evidence else (f"median {_stats.fmt(recent)} leaves no room for any spread", {})
        onset = int(steps[int(np.argmax(values >= config.ceiling_level - config.flat_tolerance))])
        message = (f"reward plateau at the ceiling: reward climbed from {_stats.fmt(first)} to {_stats.fmt(recent)} "
                   f"(median of the last {width} steps; ceiling {config.ceiling_level:g} of the [0, 1] scale) and "
                   f"stays there while the groups lose their variance: {text}")
        return [make_alert(info, "reward_plateau", Severity.WARNING, "reward", onset, int(steps[-1]), message,
                           "With every sample of a prompt scoring the top, advantages vanish and the run learns nothing "
                           "more. " + _advice("ceiling", info), kind="ceiling", level="ceiling", first_median=first,
                           recent_median=recent, window=width, ceiling_level=config.ceiling_level, **numbers)]
    if recent <= config.floor_level:
        tail = values[-width:]
        spread = float(np.subtract(*np.percentile(tail, [75, 25])))
        collapse = _entropy_collapse(frame, config)
        if spread > config.frozen_spread or collapse is None or collapse[0] > int(steps[-1]):
            return []
        above = np.flatnonzero(values > config.floor_level + config.frozen_spread)
        frozen_from = int(steps[min(above[-1] + 1, len(steps) - 1)]) if len(above) else int(steps[0])
        c_step, c_value, c_early = collapse
        message = (f"reward frozen at the floor: median {_stats.fmt(recent)} (interquartile spread {spread:.3g}) since "
                   f"step {frozen_from}, after the entropy collapsed to {_stats.fmt(c_value)} at step {c_step} "
                   f"(from {_stats.fmt(c_early)})")
        remediation = (f"The policy has collapsed to a degenerate output and nothing it samples scores: restart from a "
                       f"checkpoint before step {min(c_step, frozen_from)} with a lower LR, an entropy bonus or a higher "
                       "sampling temperature, and a stronger KL to the reference. " + _advice("floor", info))
        return [make_alert(info, "reward_plateau", Severity.CRITICAL, "reward", min(c_step, frozen_from), int(steps[-1]),
                           message, remediation, kind="frozen_floor", level="floor", recent_median=recent,
                           spread=spread, frozen_from_step=frozen_from, entropy_collapse_step=c_step,
                           entropy_early=c_early, window=width)]
    return []
