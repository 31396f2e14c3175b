"""Seeded metric curves with the shapes real runs have.

Every function takes a ``numpy.random.Generator`` (or none, when deterministic) and returns one
value per step for steps ``1..n``. The sample logs, the tests and the detector benchmark build on
these, so a fault is injected at a known step into an otherwise realistic run:

- loss decays as a power law towards a floor, with multiplicative (log-normal) noise, and drops
  at each epoch boundary once the model starts to see repeated data;
- learning rate warms up linearly, then decays (cosine or linear) to ``min_lr``;
- RL reward rises towards a plateau with noise; KL grows from about 0; entropy and length drift.
"""

from __future__ import annotations

import numpy as np


def steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def lr_schedule(n: int, peak: float, warmup: int, *, kind: str = "cosine", min_lr: float = 0.0,
                constant: int = 0) -> np.ndarray:
    """Linear warmup to ``peak``, an optional constant phase, then cosine or linear decay."""
    t = steps(n).astype(float)
    lr = np.empty(n)
    warm = t <= warmup
    lr[warm] = peak * t[warm] / max(warmup, 1)
    hold = (t > warmup) & (t <= warmup + constant)
    lr[hold] = peak
    decay = t > warmup + constant
    span = max(n - warmup - constant, 1)
    progress = (t[decay] - warmup - constant) / span
    if kind == "cosine":
        lr[decay] = min_lr + (peak - min_lr) * 0.5 * (1 + np.cos(np.pi * progress))
    elif kind == "linear":
        lr[decay] = peak - (peak - min_lr) * progress
    else:
        raise ValueError(f"kind: unknown schedule {kind!r} (cosine or linear)")
    return lr


def power_law_loss(rng: np.random.Generator, n: int, *, start: float, floor: float, alpha: float = 0.5,
                   t0: float = 10.0, noise: float = 0.03, steps_per_epoch: int | None = None,
                   epoch_drop: float = 0.0) -> np.ndarray:
    """Training loss: ``floor + (start - floor) * ((t + t0) / (1 + t0)) ** -alpha`` times log-normal noise.

    With ``steps_per_epoch``, each later epoch starts ``epoch_drop`` (a fraction) lower: the
    train-loss cliff of repeated data.
    """
    t = steps(n).astype(float)
    clean = floor + (start - floor) * ((t + t0) / (1 + t0)) ** (-alpha)
    if steps_per_epoch:
        epoch = (t - 1) // steps_per_epoch
        clean = clean * (1 - epoch_drop) ** epoch
    return clean * np.exp(rng.normal(0.0, noise, n))


def val_loss_overfit(rng: np.random.Generator, eval_steps: np.ndarray, *, start: float, best: float,
                     best_step: int, rise: float, noise: float = 0.004) -> np.ndarray:
    """Validation loss that falls to ``best`` at ``best_step`` and then rises by ``rise`` (a fraction)."""
    s = eval_steps.astype(float)
    tail = np.exp(-3.0)
    falling = best + (start - best) * (np.exp(-3.0 * s / best_step) - tail) / (1 - tail)  # reaches best at best_step
    rising = best * (1 + rise * (np.clip(s - best_step, 0, None) / max(s.max() - best_step, 1)) ** 1.3)
    val = np.where(s <= best_step, falling, rising)
    return val * np.exp(rng.normal(0.0, noise, len(s)))


def grad_norm(rng: np.random.Generator, n: int, *, start: float, end: float, noise: float = 0.15) -> np.ndarray:
    """Gradient norm: high early, settling geometrically, log-normal noise."""
    t = steps(n).astype(float)
    level = end + (start - end) * np.exp(-t / max(n / 8, 1))
    return level * np.exp(rng.normal(0.0, noise, n))


def saturating(rng: np.random.Generator, n: int, *, start: float, plateau: float, tau: float,
               noise: float = 0.0) -> np.ndarray:
    """Rise (or fall) from ``start`` towards ``plateau`` with time constant ``tau``, additive noise."""
    t = steps(n).astype(float)
    return plateau + (start - plateau) * np.exp(-t / tau) + rng.normal(0.0, noise, n)


def growth(rng: np.random.Generator, n: int, *, start: float, end: float, power: float = 1.0,
           noise: float = 0.0) -> np.ndarray:
    """From ``start`` to ``end`` along ``(t/n) ** power``, multiplicative noise (KL grows from ~0)."""
    t = steps(n).astype(float)
    clean = start + (end - start) * (t / n) ** power
    return clean * np.exp(rng.normal(0.0, noise, n))


def spike(series: np.ndarray, step: int, factor: float, *, decay_steps: int = 0, settle: float = 1.0) -> np.ndarray:
    """Multiply the value at ``step`` by ``factor``; let it decay over ``decay_steps`` to ``settle``×.

    ``settle`` > 1 makes a persistent spike (the run does not recover to its earlier level).
    """
    out = series.copy()
    i = step - 1
    out[i] *= factor
    for k in range(1, decay_steps + 1):
        if i + k >= len(out):
            break
        weight = np.exp(-3.0 * k / decay_steps)
        out[i + k] *= settle + (factor - settle) * weight
    if settle != 1.0:
        out[i + decay_steps + 1:] *= settle
    return out
