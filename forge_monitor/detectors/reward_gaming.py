"""``reward_gaming``: *possible* reward gaming - the proxy reward and real quality part ways.

Single signals raise false positives on real traces (a reward that levels off, a length drift), so
an alert needs at least ``min_signals`` of these where the data has them:

- held-out divergence: held-out reward (canonical ``val_reward``) peaked and fell while the training
  reward kept its level;
- length at the cap: the share of truncated completions is high and rising, or length ballooned
  (several-fold, or to near the cap when the recipe's ``max_new_tokens`` / ``max_completion_length``
  is known) - no truncation ratio is needed;
- length collapse: completions shrank to a token or two while the reward rose;
- KL ballooning while the reward climbs;
- rise then drop: the training reward rose fast and then gave much of it back;
- component divergence: one reward component falls while another rises (format up, task down);
- task score falling: a task score logged beside the training reward (verl's ``critic/score/mean``
  next to ``critic/rewards/mean``, an accuracy, a correctness rate) falls while the reward rises;
- proxy saturated: a format-like reward component sits at its ceiling on nearly every step while
  the task score stays at its floor and the reward well above it - the reward pays for the format.
"""

from __future__ import annotations

import re
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
    cap_share: float = setting(0.8, "recent completion length at or above this share of the known cap counts as 'at the cap'", low=0, high=1)
    collapse_tokens: float = setting(3.0, "recent completion length at or below this (tokens) counts as collapsed", low=0)
    task_drop: float = setting(0.1, "fall of a task score (fraction of its scale) that counts while the reward rises", low=0)
    saturated_share: float = setting(0.9, "share of steps a format-like component must sit at its ceiling to count as saturated", low=0, high=1)
    task_floor: float = setting(0.05, "a task score whose recent median is at or below this (on [0, 1]) is at its floor", low=0, high=1)


# A task score beside the reward (never the reward itself, nor the held-out reward or a batch's max/min).
TASK = re.compile(r"correct|accura|(?:^|[/:_ ])acc(?:$|[/_ ])|(?:^|/)score(?:/mean)?$|exact_match|pass@|solve", re.IGNORECASE)
FORMAT = re.compile(r"fmt|format", re.IGNORECASE)
CAP_KEYS = ("max_new_tokens", "max_completion_length", "max_response_length")


def _cap(frame, info) -> tuple[float, str] | None:
    """The completion-length cap: from the recipe / hyperparameters, or a logged max length pinned at its maximum."""
    for key in CAP_KEYS:
        value = info.hyperparameters.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value), key
    for name in ("completions/max_length", "response_length/max"):
        s, v = _stats.series(frame, name)
        if len(v) >= 10 and np.mean(v >= v.max()) >= 0.2:
            return float(v.max()), f"{name} pinned at its maximum"
    return None


def _task_metrics(frame) -> list[str]:
    return [m for m in _stats.metric_names(frame)
            if TASK.search(m) and m not in ("reward", "val_reward") and not m.startswith("rewards/")
            and not re.search(r"/(?:max|min|std)$|_std$|val-|^eval_?loss", m)]


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
    collapse = None
    if len(lv) >= config.min_points:
        l_early, l_recent, _ = _early_recent(lv, config.window_fraction)
        cap = _cap(frame, info)
        near_cap = cap is not None and l_recent >= config.cap_share * cap[0] and l_early < config.cap_share * cap[0] * 0.85
        if l_early > 0 and (l_recent >= config.length_growth * l_early or near_cap):
            threshold = min(config.length_growth * l_early, config.cap_share * cap[0]) if near_cap else config.length_growth * l_early
            l_hit = (f"completion length grew {l_recent / l_early:.1f}x ({_stats.fmt(l_early)} -> {_stats.fmt(l_recent)}"
                     + (f", {100 * l_recent / cap[0]:.0f} % of the {cap[0]:g}-token cap ({cap[1]}))" if cap else ")"),
                     int(ls[np.argmax(lv >= threshold)]))
        if l_early >= 10 * config.collapse_tokens and l_recent <= config.collapse_tokens and r_recent >= r_early + 0.1 * scale:
            collapse = {"signal": "length collapse", "step": int(ls[np.argmax(lv <= max(config.collapse_tokens, 0.1 * l_early))]),
                        "text": f"completions shrank to {_stats.fmt(l_recent)} tokens (from {_stats.fmt(l_early)}) while the "
                                f"reward rose from {_stats.fmt(r_early)} to {_stats.fmt(r_recent)}"}
    if t_hit or l_hit:
        parts = [h for h in (t_hit, l_hit) if h]
        found.append({"signal": "length at the cap", "step": min(p[1] for p in parts), "text": "; ".join(p[0] for p in parts)})
    if collapse:
        found.append(collapse)
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
    found.extend(_task_signals(frame, config, steps, reward, scale, r_early, r_recent, width))
    return found


def _task_signals(frame, config, steps, reward, scale, r_early, r_recent, width) -> list[dict]:
    """A task score falling while the reward rises; a format component saturated while the task sits at its floor."""
    found = []
    tasks = {}
    for name in _task_metrics(frame):
        ts, tv = _stats.series(frame, name)
        if len(tv) >= config.min_points:
            tasks[name] = (ts, tv) + _early_recent(tv, config.window_fraction)[:2]
    for name, (ts, tv, t_early, t_recent) in tasks.items():
        t_scale = 1.0 if tv.min() >= -0.05 and tv.max() <= 1.05 else float(np.ptp(tv)) or 1.0
        span = max(len(tv) // 10, 3)
        smooth = _stats.moving_average(tv, span)
        peak = int(np.argmax(smooth))
        peak_step = int(ts[min(peak + span // 2, len(ts) - 1)])
        before, after = reward[steps <= peak_step], reward[steps > peak_step]
        if (peak < len(smooth) - span and smooth[peak] - t_recent >= config.task_drop * t_scale and len(before) and len(after)
                and np.median(after) >= np.median(before) + 0.02 * scale):
            found.append({"signal": "task score falling", "step": peak_step,
                          "text": f"{name} peaked at {_stats.fmt(smooth[peak])} (step {peak_step}) and fell to "
                                  f"{_stats.fmt(t_recent)} while the training reward rose from {_stats.fmt(np.median(before))} "
                                  f"to {_stats.fmt(np.median(after))} (medians before and after)"})
            break
    formats = [m for m in _stats.metric_names(frame) if FORMAT.search(m) and not re.search(r"/(?:max|min|std)$|_std$", m)]
    for name in formats:
        fs, fv = _stats.series(frame, name)
        if len(fv) < config.min_points or fv.min() < -0.05 or fv.max() > 1.05:
            continue
        settled = fv[len(fv) // 10:]
        share = float(np.mean(settled >= 0.95))
        floor = [(t, r) for t, (_, _, _, r) in tasks.items() if r <= config.task_floor]
        if share >= config.saturated_share and floor and r_recent >= max(5 * floor[0][1], 0.1 * scale):
            task, level = floor[0]
            found.append({"signal": "proxy saturated", "step": int(fs[len(fv) // 10]),
                          "text": f"{name} sits at its ceiling on {100 * share:.1f} % of steps"})
            found.append({"signal": "task at the floor", "step": int(steps[-width]),
                          "text": f"{task} stays at {_stats.fmt(level)} while the training reward is {_stats.fmt(r_recent)}: "
                                  "the reward is paid for something other than the task"})
            break
    return found


def check(frame, info, config: RewardGamingConfig):
    steps, reward = _stats.series(frame, "reward")
    if len(steps) < config.min_points:
        return skipped("reward_gaming", f"reward has {len(steps)} points; {config.min_points} are needed")
    signals = _signals(frame, info, config, steps, reward)
    if len(signals) < config.min_signals:
        return alerted("reward_gaming", [])
    first = min(signals, key=lambda s: s["step"])
    onset = first["step"]
    heldout = next((s for s in signals if s["signal"] == "held-out divergence"), None)
    # The alert starts where the earliest signal did; say which, so an onset before the held-out peak
    # named in the text does not read as a contradiction.
    message = (f"possible reward gaming: {len(signals)} signals agree (threshold {config.min_signals}), the first "
               f"({first['signal']}) from step {onset} - " + "; ".join(s["text"] for s in signals))
    coef = info.hyperparameters.get("kl_loss_coef")
    remediation = ("Fix the reward function before touching any hyperparameter: read a sample of high-reward rollouts "
                   "and check the reward with at least two independent judges. "
                   + ("Add a length penalty or overlong-reward shaping; " if any(s["signal"] == "length at the cap" for s in signals) else "")
                   + ("Penalise empty or near-empty completions (a minimum length or a format check); " if any(s["signal"] == "length collapse" for s in signals) else "")
                   + ("Weight the task component up (or gate the format reward on a correct answer); " if any(s["signal"] in ("proxy saturated", "task score falling") for s in signals) else "")
                   + "a stronger KL constraint" + (f" (kl_loss_coef now {coef:g})" if isinstance(coef, (int, float)) else "")
                   + " limits how far the policy can drift to exploit it."
                   + (f" Keep the checkpoint at the held-out peak (step {heldout['step']})." if heldout else ""))
    return alerted("reward_gaming", [make_alert(
        info, "reward_gaming", Severity.WARNING, "reward", onset, int(steps[-1]), message, remediation,
        signals=[s["signal"] for s in signals], details=[s["text"] for s in signals], min_signals=config.min_signals)])
