"""``reward_gaming``: *possible* reward gaming - the proxy reward and real quality part ways.

Single signals raise false positives on real traces (a reward that levels off, a length drift), so
an alert needs at least ``min_signals`` of these where the data has them:

- held-out divergence: held-out reward peaked and fell while the training reward kept its level;
- length at the cap: the share of truncated completions is high and rising, or length ballooned;
- KL ballooning while the reward climbs;
- rise then drop: the training reward rose fast and then gave much of it back;
- component divergence: one reward component falls while another rises (format up, task down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped


@dataclass(frozen=True)
class RewardGamingConfig:
    min_points: int = setting(15, "reward points needed before judging", low=5)
    window_fraction: float = setting(0.2, "share of the run in the early and the recent window", low=0.05, high=0.5)
    min_signals: int = setting(2, "signals that must agree before alerting", low=1)
    heldout_drop: float = setting(0.1, "held-out reward below its peak by this fraction of its gain (or 0.03 of the scale)", low=0)
    truncated_level: float = setting(0.3, "recent share of truncated completions that counts as 'at the cap'", low=0, high=1)
    length_growth: float = setting(1.5, "recent/early completion length ratio that counts as ballooning", low=1)
    kl_growth: float = setting(10.0, "recent/early KL ratio that counts as ballooning", low=1)
    kl_min: float = setting(0.05, "recent KL below this is never 'ballooning'", low=0)
    drop_share: float = setting(0.3, "share of the reward's rise given back that counts as a drop", low=0, high=1)
    component_change: float = setting(0.2, "change of a reward component (fraction of the scale) that counts", low=0)


def _early_recent(values: np.ndarray, fraction: float) -> tuple[float, float, int]:
    width = max(int(fraction * len(values)), 3)
    return float(np.median(values[:width])), float(np.median(values[-width:])), width


def _signals(frame, info, config, steps, reward) -> list[dict]:
    found = []
    scale = 1.0 if reward.min() >= -0.05 and reward.max() <= 1.05 else float(np.ptp(reward)) or 1.0
    r_early, r_recent, width = _early_recent(reward, config.window_fraction)
    vs, vv = _stats.series(frame, "val_reward")
    if len(vs) >= 3:
        peak = int(np.argmax(vv))
        gain = vv[peak] - vv[0]
        drop = vv[peak] - vv[-1]
        after = reward[steps > vs[peak]]
        before = reward[(steps <= vs[peak]) & (steps > vs[peak] - (vs[peak] - vs[0] + 1))]
        train_held = len(after) and len(before) and np.median(after) >= np.median(before) - 0.02 * scale
        if len(vv) - 1 - peak >= 2 and drop >= max(config.heldout_drop * max(gain, 0), 0.03 * scale) and train_held:
            found.append({"signal": "held-out divergence", "step": int(vs[peak]),
                          "text": f"held-out reward peaked at {_stats.fmt(vv[peak])} (step {int(vs[peak])}) and fell to "
                                  f"{_stats.fmt(vv[-1])} while the training reward held at {_stats.fmt(np.median(after))}"})
    ts, tv = _stats.series(frame, "truncated_ratio")
    ls, lv = _stats.series(frame, "response_length")
    t_hit = l_hit = None
    if len(tv) >= config.min_points:
        t_early, t_recent, _ = _early_recent(tv, config.window_fraction)
        if t_recent >= config.truncated_level and t_recent >= t_early + 0.1:
            t_hit = (f"truncated completions rose from {t_early:.0%} to {t_recent:.0%}", int(ts[np.argmax(tv >= config.truncated_level)]))
    if len(lv) >= config.min_points:
        l_early, l_recent, _ = _early_recent(lv, config.window_fraction)
        if l_early > 0 and l_recent >= config.length_growth * l_early:
            cap = info.hyperparameters.get("max_new_tokens")
            l_hit = (f"completion length grew {l_recent / l_early:.1f}x ({_stats.fmt(l_early)} -> {_stats.fmt(l_recent)}"
                     + (f", cap {cap:g})" if isinstance(cap, (int, float)) else ")"),
                     int(ls[np.argmax(lv >= config.length_growth * l_early)]))
    if t_hit or l_hit:
        parts = [h for h in (t_hit, l_hit) if h]
        found.append({"signal": "length at the cap", "step": min(p[1] for p in parts), "text": "; ".join(p[0] for p in parts)})
    ks, kv = _stats.series(frame, "kl")
    if len(kv) >= config.min_points:
        k_early, k_recent, _ = _early_recent(kv, config.window_fraction)
        if k_recent >= config.kl_min and k_recent >= config.kl_growth * max(k_early, 1e-6) and r_recent > r_early:
            found.append({"signal": "KL ballooning", "step": int(ks[np.argmax(kv >= config.kl_growth * max(k_early, 1e-6))]),
                          "text": f"KL grew {k_recent / max(k_early, 1e-6):.0f}x ({_stats.fmt(k_early)} -> {_stats.fmt(k_recent)}) while the reward climbed"})
    smooth = _stats.moving_average(reward, width)
    peak_i = int(np.argmax(smooth))
    rise = smooth[peak_i] - smooth[0]
    if rise >= 0.2 * scale and smooth[-1] <= smooth[peak_i] - config.drop_share * rise and peak_i < len(smooth) - 1:
        found.append({"signal": "rise then drop", "step": int(steps[peak_i + width // 2]),
                      "text": f"training reward rose to {_stats.fmt(smooth[peak_i])} then fell to {_stats.fmt(smooth[-1])}"})
    components = [m for m in _stats.metric_names(frame) if m.startswith("rewards/") and (m.endswith("/mean") or m.count("/") == 1)]
    moves = {}
    for name in components:
        cs, cv = _stats.series(frame, name)
        if len(cv) >= config.min_points:
            early, recent, _ = _early_recent(cv, config.window_fraction)
            moves[name] = recent - early
    if moves:
        down = min(moves, key=moves.get)
        up = max(moves, key=moves.get)
        if moves[down] <= -config.component_change * scale and moves[up] >= 0:
            found.append({"signal": "component divergence", "step": int(steps[-width]),
                          "text": f"{down} fell {moves[down]:+.3g} while {up} moved {moves[up]:+.3g}"})
    return found


def check(frame, info, config: RewardGamingConfig):
    steps, reward = _stats.series(frame, "reward")
    if len(steps) < config.min_points:
        return skipped("reward_gaming", f"reward has {len(steps)} points; {config.min_points} are needed")
    signals = _signals(frame, info, config, steps, reward)
    if len(signals) < config.min_signals:
        return alerted("reward_gaming", [])
    onset = min(s["step"] for s in signals)
    heldout = next((s for s in signals if s["signal"] == "held-out divergence"), None)
    message = (f"possible reward gaming: {len(signals)} signals agree (threshold {config.min_signals}) - "
               + "; ".join(s["text"] for s in signals))
    coef = info.hyperparameters.get("kl_loss_coef")
    remediation = ("Fix the reward function before touching any hyperparameter: read a sample of high-reward rollouts "
                   "and check the reward with at least two independent judges. "
                   + ("Add a length penalty or overlong-reward shaping; " if any(s["signal"] == "length at the cap" for s in signals) else "")
                   + "a stronger KL constraint" + (f" (kl_loss_coef now {coef:g})" if isinstance(coef, (int, float)) else "")
                   + " limits how far the policy can drift to exploit it."
                   + (f" Keep the checkpoint at the held-out peak (step {heldout['step']})." if heldout else ""))
    return alerted("reward_gaming", [make_alert(
        info, "reward_gaming", Severity.WARNING, "reward", onset, int(steps[-1]), message, remediation,
        signals=[s["signal"] for s in signals], details=[s["text"] for s in signals], min_signals=config.min_signals)])
