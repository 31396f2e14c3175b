"""``nonfinite``: NaN or +-inf in any metric that matters - losses, the gradient norm, KL, reward.

Any non-finite value is reported at once (SageMaker Debugger's ExplodingTensor, Lightning's
``check_finite``). Watched: the canonical loss, grad-norm, KL, reward and entropy metrics, and any
other metric whose name says it is a loss, a KL, an entropy, an advantage, a return, a value
estimate, a reward or score, log-probabilities or logits (``actor/pg_loss``, ``critic/vf_loss``,
``critic/advantages/mean``, ``Actor Loss``, ``logps/chosen``). Informational fields - throughput,
timings, token counts, memory, the learning rate, spreads - are not watched: Nova logs print
``avg_samples/sec: nan`` in the first steps of healthy runs.

An isolated infinite gradient norm with a finite loss is the fp16 loss scaler skipping a step - a
warning; a non-finite loss, KL, reward, entropy or advantage, or a run of them, is critical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..alerts import Severity
from . import _stats
from .base import alerted, make_alert, setting, skipped

WATCHED = ("train_loss", "val_loss", "grad_norm", "kl", "reward")
# Canonical names beyond WATCHED that are always evidence of a broken update when not finite.
ALSO_WATCHED = ("approx_kl", "entropy", "policy_loss", "val_reward")
# Any other metric whose name says it is computed from the model's outputs or gradients.
MATTERS = re.compile(r"loss|(?:^|[^a-z])kl(?:[^a-z]|$)|kl_|entropy|advantage|(?:^|[^a-z])adv(?:[^a-z]|$)|return|"
                     r"(?:^|/)values?(?:/|$)|reward|score|logps|logits|grad_?norm|(?:^|[^a-z])norm(?:[^a-z]|$)",
                     re.IGNORECASE)
# ... unless it is informational: speed, time, counts, memory, schedule, spreads (a std of one sample is NaN).
INFORMATIONAL = re.compile(r"sec|/s(?:$|[^a-z])|per_second|time|timing|throughput|tokens|tok/s|mfu|flops|memory|mem(?:$|[^a-z])|"
                           r"(?:^|[^a-z])lr(?:$|[^a-z])|learning_rate|epoch|step|count|num_|std|explained_var|"
                           r"(?:^|/)(?:max|min)(?:$|/)|/(?:max|min)$|_(?:max|min)$", re.IGNORECASE)


def watched(metric: str) -> bool:
    """Does a non-finite value of ``metric`` mean the run is broken?"""
    if metric in WATCHED or metric in ALSO_WATCHED:
        return True
    return bool(MATTERS.search(metric)) and not INFORMATIONAL.search(metric)


@dataclass(frozen=True)
class NonfiniteConfig:
    isolated_max: int = setting(2, "a non-finite grad_norm run this short, with a finite loss, is only a warning", low=1)


def check(frame, info, config: NonfiniteConfig):
    present = [m for m in WATCHED if len(_stats.series(frame, m, finite=False)[0])]
    present += sorted(m for m in _stats.metric_names(frame) if m not in WATCHED and watched(m))
    if not present:
        return skipped("nonfinite", f"none of {', '.join(WATCHED)} (or another loss, KL, entropy, advantage or "
                                    "reward metric) is logged")
    loss_steps, loss_values = _stats.series(frame, "train_loss", finite=False)
    bad_loss_steps = set(loss_steps[~np.isfinite(loss_values)].tolist())
    alerts = []
    for metric in present:
        steps, values = _stats.series(frame, metric, finite=False)
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        first, last = int(steps[bad][0]), int(steps[bad][-1])
        count, total = int(bad.sum()), len(values)
        kinds = sorted({"NaN" if np.isnan(v) else ("+inf" if v > 0 else "-inf") for v in values[bad]})
        from_start = bool(bad[0]) and count == total
        longest = max(e - s + 1 for s, e in _stats.runs(bad))
        isolated = (metric == "grad_norm" and longest <= config.isolated_max
                    and not bad_loss_steps.intersection(steps[bad].tolist()))
        severity = Severity.WARNING if isolated else Severity.CRITICAL
        where = "from the first logged step on" if from_start else f"at step {first}" + (f" (through step {last})" if last != first else "")
        message = (f"{metric} is {'/'.join(kinds)} {where}: {count} of {total} logged values are not finite"
                   + (f" (longest run {longest})" if count > 1 else ""))
        if from_start:
            remediation = ("The run never produced a finite value: stop it now, it only burns compute. Check the data "
                           "and tokenization (empty or corrupt samples), the initial LR and warmup, and the precision "
                           "(bf16 rather than fp16 for large models) before relaunching.")
        elif isolated:
            remediation = ("An isolated overflow of the gradient norm with a finite loss is usually the fp16 loss scaler "
                           "skipping a step. Watch for repeats; if they recur, switch to bf16 or lower the LR.")
        else:
            remediation = (f"Resume from the last checkpoint before step {first} (every later weight is suspect). "
                           "Likely causes: an LR too high (lower it, or lengthen warmup to ~15 % of steps), precision "
                           "overflow (bf16 instead of fp16, gradient clipping), or a bad batch at that step - inspect it.")
            if metric not in WATCHED and metric not in ("val_reward",):
                remediation += (f" {metric} is computed from the policy's outputs: a non-finite value there (a log of 0, "
                                "a division by a zero spread of advantages or rewards) poisons the next update even "
                                "while the loss still prints finite.")
        alerts.append(make_alert(info, "nonfinite", severity, metric, first, last, message, remediation,
                                 count=count, total=total, kinds=kinds, from_first_step=from_start,
                                 longest_run=longest, isolated_max=config.isolated_max))
    return alerted("nonfinite", alerts)
