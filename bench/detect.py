"""Labelled evaluation of the detectors against the rules a practitioner would use without this tool.

Cases:
- seeded synthetic runs with faults injected at known steps, across techniques (SFT, CPT, RFT),
  formats (written with the real log writers and read back through the ingestors) and noise levels;
- hard negatives: noisy healthy RL, a very high first logged loss, warmup bumps, sparse evals, a
  resumed run (steps regress), healthy runs at every noise level;
- the failure classes of issue 16, each with its hard negatives: a spiky regime (a DPO loss near 0.01
  jumping again and again; negatives: healthy noisy DPO, DPO with a few isolated spikes), non-finite
  values in a policy loss / value loss / entropy / advantage (negative: a healthy Nova log whose
  ``avg_samples/sec`` starts as NaN), a reward plateau at the ceiling with vanishing group variance
  and a reward frozen at the floor after an entropy collapse (negatives: healthy RL converging at 0.8,
  and at 0.92 with its variance kept), reward gaming without a held-out reward (length toward the cap
  with no truncation ratio, completions collapsing, a task score falling beside the reward, rise then
  give-back, and a held-out reward under the canonical ``val_reward``; negatives: length drifting
  with the score tracking the reward, a score dipping within noise), and a slow loss plateau in SFT/CPT
  (negatives: a healthy CPT flattening at the end of a cosine schedule, a slow but steady SFT);
- the real third-party runs of ../shared/real-runs, labelled from MANIFEST.md, all scanned with no
  metric definitions (the four text logs of no known format are read by their shape).

For each required detector (and ``loss_plateau``) it prints precision, recall and median detection delay (steps from the
fault to the alert's onset; for overfitting, to the eval that triggered it), next to a baseline:
3-sigma over the previous 20 points (spikes), SageMaker Debugger's Overfit rule
((val - train) / train > 0.1), a flat-slope rule (plateaus), "reward and length both rising"
(gaming) and any non-finite value (nonfinite); then precision and recall per failure class of issue 16
(an alert of the class's detector of the class's kind). Then the speed of all detectors on a 1,000,000-step,
10-metric run against ingesting it.

Usage: ``python bench/detect.py [--real-runs DIR] [--seeds N] [--skip-speed]``.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forge_monitor.detectors import REQUIRED, run_checks
from forge_monitor.ingest import load_paths, parse_definitions
from forge_monitor.synth import curves as cv
from forge_monitor.synth import recipes as synth_recipes
from forge_monitor.synth import writers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


SCORED = REQUIRED + ("loss_plateau",)  # the required detectors, plus the one issue 16 extends beyond them


@dataclass
class Case:
    name: str
    labels: dict[str, int | None]  # detector -> fault step (None: any time)
    allowed: set[str] = field(default_factory=set)  # may also fire without being wrong (side effects)
    frame: pd.DataFrame | None = None
    info: object = None
    synthetic: bool = True
    classes: set[str] = field(default_factory=set)  # failure classes of issue 16 this case shows
    scanned: bool = True  # False: the run could not be read (a real run in an unrecognized format)


# Failure class -> (detector, does this alert show the class?)
CLASSES = {
    "spiky regime": ("loss_spike", lambda a: a.evidence.get("kind") == "regime"),
    "nonfinite beyond loss/grad/KL/reward": ("nonfinite", lambda a: a.metric not in ("train_loss", "val_loss", "grad_norm", "kl", "reward")),
    "reward plateau at the ceiling": ("reward_plateau", lambda a: a.evidence.get("level") == "ceiling"),
    "reward frozen at the floor (entropy)": ("reward_plateau", lambda a: a.evidence.get("kind") == "frozen_floor"),
    "reward gaming without held-out": ("reward_gaming", lambda a: True),
    "held-out under val_reward": ("reward_gaming", lambda a: "held-out divergence" in a.evidence.get("signals", [])),
    "slow loss plateau (SFT/CPT)": ("loss_plateau", lambda a: a.evidence.get("kind") == "slow"),
}


# --- synthetic runs, written in real formats and read back -------------------------------------------

def _ingest(tmp: Path, name: str, files: dict[str, str]):
    folder = tmp / name
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(text.encode())
    run = load_paths([str(folder)]).runs[0]
    return run.frame, run.info


def _sft_files(fmt: str, loss, grad=None, val=None, eval_steps=(), technique="sft"):
    n = len(loss)
    rows = []
    for s in range(1, n + 1):
        values = {"reduced_train_loss": float(loss[s - 1]), "global_step": s, "lr": 1e-5}
        if grad is not None:
            values["grad_norm"] = float(grad[s - 1])
        rows.append((s, values))
        if val is not None and s in eval_steps:
            rows.append((s, {"val_loss": float(val[list(eval_steps).index(s)])}))
    if fmt == "nova_pipe":
        return {f"{technique}.log": writers.nova_pipe(rows, total=n, step_seconds=5)}
    hf_rows = [(s, {("loss" if k == "reduced_train_loss" else "eval_loss" if k == "val_loss" else k): v
                    for k, v in values.items() if k != "global_step"}) for s, values in rows]
    return {"trainer_state.json": writers.trainer_state(hf_rows, header={"max_steps": n})}


def _rft_files(reward, kl=None, extra=None):
    n = len(reward)
    rows = []
    for s in range(1, n + 1):
        values = {"critic/rewards/mean": float(reward[s - 1]), "training/global_step": s}
        if kl is not None:
            values["actor/kl_loss"] = float(kl[s - 1])
        for key, (steps, series) in (extra or {}).items():
            if s in steps:
                values[key] = float(series[list(steps).index(s)])
        rows.append((s, values))
    return {"train.log": writers.verl(rows, step_seconds=60)}


def synthetic_cases(tmp: Path, seeds: int) -> list[Case]:
    cases: list[Case] = []
    noises = {"low": 0.02, "mid": 0.05, "high": 0.09}
    for seed in range(seeds):
        for level, noise in noises.items():
            rng = np.random.default_rng(1000 * seed + int(noise * 100))
            fmt = ["nova_pipe", "hf"][seed % 2]
            technique = ["sft", "cpt"][seed % 2]
            n = 500
            tag = f"s{seed}-{level}-{fmt}"
            base = cv.power_law_loss(rng, n, start=2.2, floor=0.9, noise=noise)
            grad = cv.grad_norm(rng, n, start=2.5, end=0.5, noise=noise * 3)
            # healthy
            frame, info = _ingest(tmp, f"healthy-{technique}-{tag}", _sft_files(fmt, base, grad, technique=technique))
            cases.append(Case(f"healthy {technique} {tag}", {}, frame=frame, info=info))
            # loss spike, transient or persistent; the grad-norm spike leads it
            at = int(rng.integers(150, 450))
            factor = float(rng.uniform(3, 6))
            spiky = cv.spike(base, at, factor, decay_steps=4, settle=1.3 if seed % 3 == 0 else 1.0)
            g = cv.spike(grad, at - 1, 12.0)
            frame, info = _ingest(tmp, f"spike-{tag}", _sft_files(fmt, spiky, g, technique=technique))
            cases.append(Case(f"loss spike {tag}", {"loss_spike": at}, {"grad_norm_spike"}, frame=frame, info=info))
            # non-finite from some step on
            bad = base.copy()
            k = int(rng.integers(50, 450))
            bad[k - 1:] = np.nan
            frame, info = _ingest(tmp, f"nan-{tag}", _sft_files(fmt, bad, grad, technique=technique))
            cases.append(Case(f"nonfinite {tag}", {"nonfinite": k}, frame=frame, info=info))
            # overfitting: val U-shape, evals every 25 or 50 steps
            every = [25, 50][seed % 2]
            ev = np.arange(every, n + 1, every)
            best = int(ev[len(ev) // 2])
            val = cv.val_loss_overfit(rng, ev, start=1.6, best=1.0, best_step=best, rise=float(rng.uniform(0.05, 0.2)),
                                      noise=noise / 10)
            frame, info = _ingest(tmp, f"overfit-{tag}", _sft_files(fmt, cv.power_law_loss(rng, n, start=2, floor=0.5, noise=noise),
                                                                    val=val, eval_steps=ev, technique=technique))
            cases.append(Case(f"overfitting {tag}", {"overfitting": best}, frame=frame, info=info))
            # hard negatives: a very high first loss, a warmup bump, sparse noisy evals, a resumed run
            first = base.copy()
            first[0] = 14.75
            frame, info = _ingest(tmp, f"first-{tag}", _sft_files(fmt, first, technique=technique))
            cases.append(Case(f"hard negative: high first loss {tag}", {}, frame=frame, info=info))
            bump = base * np.where(cv.steps(n) < 40, 1 + 0.3 * np.sin(np.pi * cv.steps(n) / 40), 1.0)
            frame, info = _ingest(tmp, f"bump-{tag}", _sft_files(fmt, bump, technique=technique))
            cases.append(Case(f"hard negative: warmup bump {tag}", {}, frame=frame, info=info))
            sparse_ev = np.array([150, 300, 450])
            sparse = 1.2 - 0.1 * sparse_ev / 450 + rng.normal(0, 0.01, 3)
            frame, info = _ingest(tmp, f"sparse-{tag}", _sft_files(fmt, base, val=sparse, eval_steps=sparse_ev, technique=technique))
            cases.append(Case(f"hard negative: sparse evals {tag}", {}, frame=frame, info=info))
            text = _sft_files("nova_pipe", base, grad, technique=technique)
            first_part = text[f"{technique}.log"]
            lines = first_part.splitlines(keepends=True)
            resumed = "".join(lines[:351]) + "".join(lines[1 + 300:])  # crashed at 350, resumed from 300
            frame, info = _ingest(tmp, f"resumed-{tag}", {"resumed.log": resumed})
            cases.append(Case(f"hard negative: resumed run {tag}", {}, frame=frame, info=info))
            # RL: healthy noisy, KL spike, plateaus, gaming
            m = 300
            rnoise = noise * 1.2
            reward = np.clip(cv.saturating(rng, m, start=0.3, plateau=0.7, tau=70, noise=rnoise), 0, 1)
            kl = cv.growth(rng, m, start=0.005, end=0.15, power=0.8, noise=0.2 + noise)
            frame, info = _ingest(tmp, f"rl-healthy-{tag}", _rft_files(reward, kl))
            cases.append(Case(f"hard negative: noisy healthy RL {tag}", {}, frame=frame, info=info))
            at = int(rng.integers(60, 280))
            frame, info = _ingest(tmp, f"rl-kl-{tag}", _rft_files(reward, cv.spike(kl, at, float(rng.uniform(10, 40)), decay_steps=3)))
            cases.append(Case(f"kl spike {tag}", {"kl_spike": at}, frame=frame, info=info))
            flat = np.clip(0.05 + rng.normal(0, rnoise / 3, m), 0, 1) * (rng.random(m) < 0.15)
            extra = {"critic/rewards/max": (cv.steps(m), np.where(flat > 0, flat * 5, 0.0)),
                     "critic/rewards/min": (cv.steps(m), np.zeros(m))}
            frame, info = _ingest(tmp, f"rl-zero-{tag}", _rft_files(flat, kl * 0.01, extra))
            cases.append(Case(f"reward plateau (no signal) {tag}", {"reward_plateau": None}, frame=frame, info=info))
            mid = np.clip(0.45 + rng.normal(0, rnoise, m), 0, 1)
            frame, info = _ingest(tmp, f"rl-flat-{tag}", _rft_files(mid, kl))
            cases.append(Case(f"reward plateau (flat) {tag}", {"reward_plateau": None}, frame=frame, info=info))
            g_reward = np.clip(cv.saturating(rng, m, start=0.3, plateau=0.9, tau=45, noise=rnoise / 2), 0, 1)
            vsteps = cv.steps(m)[9::10]
            peak = int(rng.integers(80, 150)) // 10 * 10
            val_r = np.where(vsteps <= peak, 0.3 + 0.12 * vsteps / peak, 0.42 - 0.15 * (vsteps - peak) / (m - peak))
            length = 350 + 7700 / (1 + np.exp(-(cv.steps(m) - (peak + 60)) / 25))
            clip = np.clip(0.6 / (1 + np.exp(-(cv.steps(m) - (peak + 90)) / 25)), 0, 1)
            extra = {"val-score/rewards/mean@1": (vsteps, val_r), "response_length/mean": (cv.steps(m), length),
                     "response_length/clip_ratio": (cv.steps(m), clip)}
            frame, info = _ingest(tmp, f"rl-gaming-{tag}", _rft_files(g_reward, cv.growth(rng, m, start=0.001, end=0.02, noise=0.2), extra))
            cases.append(Case(f"reward gaming {tag}", {"reward_gaming": peak}, frame=frame, info=info))
    return cases


# --- issue 16: the failure shapes the detectors used to miss, and their hard negatives ---------------

def _trainer_state(rows, n):
    return {"trainer_state.json": writers.trainer_state(rows, header={"max_steps": n})}


def _dpo_loss(rng, n, floor, noise):
    """DPO loss: exactly ln 2 while the policy equals the reference, noisier as the margins grow."""
    clean = floor + (0.693 - floor) * np.exp(-cv.steps(n) / 35.0)
    return clean * np.exp(rng.normal(0, 1, n) * noise * (1 - np.exp(-cv.steps(n) / 30.0)))


def _dpo_rows(loss, grad):
    n = len(loss)
    margins = 6.0 * (1 - np.exp(-cv.steps(n) / 60.0))
    return [(s, {"loss": float(loss[s - 1]), "grad_norm": float(grad[s - 1]), "learning_rate": 5e-6,
                 "rewards/margins": float(margins[s - 1]), "rewards/chosen": float(0.2 * margins[s - 1])})
            for s in range(1, n + 1)]


def _verl_rows(n, series: dict[str, np.ndarray]):
    return [(s, {"training/global_step": s, **{k: float(v[s - 1]) for k, v in series.items()}}) for s in range(1, n + 1)]


def issue16_cases(tmp: Path, seeds: int) -> list[Case]:  # noqa: C901 - one block per failure class
    cases: list[Case] = []
    noises = {"low": 0.02, "mid": 0.05, "high": 0.09}
    for seed in range(seeds):
        for li, (level, noise) in enumerate(noises.items()):
            rng = np.random.default_rng(7000 + 1000 * seed + int(noise * 100))
            tag = f"s{seed}-{level}"
            variant = (seed * 3 + li) % 4
            # 1. spiky regime: a DPO loss near 0.01 jumping to 0.3-1.0 every few steps, grad norm 30-60
            n = 240
            loss = _dpo_loss(rng, n, 0.012, 0.25 + noise)
            grad = np.maximum(20.0 * np.exp(-cv.steps(n) / 50.0), 0.8) * np.exp(rng.normal(0, 0.3, n))
            start = int(rng.integers(90, 150))
            at = start
            while at <= n:
                loss[at - 1] = rng.uniform(0.3, 1.0)
                grad[at - 1] = rng.uniform(30, 60)
                at += int(rng.integers(3, 9))
            frame, info = _ingest(tmp, f"dpo-spiky-{tag}", _trainer_state(_dpo_rows(loss, grad), n))
            cases.append(Case(f"spiky regime (DPO) {tag}", {"loss_spike": start}, {"grad_norm_spike"}, frame=frame, info=info,
                              classes={"spiky regime"}))
            # hard negatives: healthy noisy DPO; DPO with a few isolated (real) spikes
            loss = _dpo_loss(rng, n, 0.15, 0.25 + noise)
            grad = np.maximum(20.0 * np.exp(-cv.steps(n) / 50.0), 2.0) * np.exp(rng.normal(0, 0.3, n))
            frame, info = _ingest(tmp, f"dpo-healthy-{tag}", _trainer_state(_dpo_rows(loss, grad), n))
            cases.append(Case(f"hard negative: healthy noisy DPO {tag}", {}, frame=frame, info=info))
            isolated = loss.copy()
            for at in (int(rng.integers(60, 100)), int(rng.integers(130, 170)), int(rng.integers(200, 235))):
                isolated[at - 1] *= rng.uniform(3.0, 5.0)
            frame, info = _ingest(tmp, f"dpo-isolated-{tag}", _trainer_state(_dpo_rows(isolated, grad), n))
            cases.append(Case(f"hard negative: DPO with 3 isolated spikes {tag}", {}, {"loss_spike", "grad_norm_spike"},
                              frame=frame, info=info))
            # 2. non-finite in a policy loss, a value loss, an entropy or an advantage (reward and KL stay finite)
            m = 200
            reward = np.clip(cv.saturating(rng, m, start=0.3, plateau=0.7, tau=50, noise=noise), 0, 1)
            series = {"critic/rewards/mean": reward, "actor/kl_loss": cv.growth(rng, m, start=0.001, end=0.03, noise=0.2),
                      "actor/pg_loss": rng.normal(0, 0.05, m), "critic/vf_loss": np.abs(rng.normal(0.2, 0.05, m)),
                      "actor/entropy": cv.saturating(rng, m, start=0.8, plateau=0.6, tau=100, noise=0.02),
                      "critic/advantages/mean": rng.normal(0, 0.01, m)}
            target = ["actor/pg_loss", "critic/vf_loss", "actor/entropy", "critic/advantages/mean"][variant]
            k = int(rng.integers(40, 180))
            series[target] = series[target].copy()
            series[target][k - 1:] = np.nan if variant % 2 else np.inf
            frame, info = _ingest(tmp, f"rl-nan-{tag}", {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60)})
            cases.append(Case(f"nonfinite {target} {tag}", {"nonfinite": k}, frame=frame, info=info,
                              classes={"nonfinite beyond loss/grad/KL/reward"}))
            # hard negative: a healthy Nova log whose avg_samples/sec starts as NaN
            n = 300
            base = cv.power_law_loss(rng, n, start=2.2, floor=0.9, noise=noise)
            rows = [(s, {"reduced_train_loss": float(base[s - 1]), "global_step": s, "lr": 1e-5,
                         "avg_samples/sec": float("nan") if s <= 3 else float(12.5 + rng.normal(0, 0.3))}) for s in range(1, n + 1)]
            frame, info = _ingest(tmp, f"nova-samples-nan-{tag}", {"sft.log": writers.nova_pipe(rows, total=n, step_seconds=5)})
            cases.append(Case(f"hard negative: Nova avg_samples/sec NaN at start {tag}", {}, frame=frame, info=info))
            # 3a. reward plateau at the ceiling: reward -> ~1 while the groups lose their variance
            m = 200
            reward = np.clip(cv.saturating(rng, m, start=0.3, plateau=1.0, tau=30, noise=noise / 2), 0, 1)
            zero_std = np.clip(0.1 + 0.65 * (1 - np.exp(-cv.steps(m) / 40.0)) + rng.normal(0, 0.05, m), 0, 0.97)
            r_std = np.clip(0.35 * np.exp(-cv.steps(m) / 50.0) + 0.03 + rng.normal(0, 0.01, m), 0.0, None)
            stats = {"frac_reward_zero_std": zero_std} if variant % 2 == 0 else {"reward_std": r_std}
            rows = [(s, {"reward": float(reward[s - 1]), "kl": 0.001 * s, **{k2: float(v[s - 1]) for k2, v in stats.items()}})
                    for s in range(1, m + 1)]
            frame, info = _ingest(tmp, f"rl-ceiling-{tag}", _trainer_state(rows, m))
            cases.append(Case(f"reward plateau (ceiling) {tag}", {"reward_plateau": None}, {"kl_drift"}, frame=frame, info=info,
                              classes={"reward plateau at the ceiling"}))
            # hard negatives: healthy RL converging at 0.8; at 0.92 with its group variance kept
            for top, name in ((0.8, "converging at 0.8"), (0.92, "at 0.92, variance kept")):
                reward = np.clip(cv.saturating(rng, m, start=0.3, plateau=top, tau=40, noise=noise), 0, 1)
                zero_std = np.clip(0.25 + rng.normal(0, 0.05, m), 0, 1)
                r_std = np.abs(0.28 + rng.normal(0, 0.03, m))
                rows = [(s, {"reward": float(reward[s - 1]), "kl": 0.02 * (1 - np.exp(-s / 50)), "frac_reward_zero_std": float(zero_std[s - 1]),
                             "reward_std": float(r_std[s - 1])}) for s in range(1, m + 1)]
                frame, info = _ingest(tmp, f"rl-top-{top}-{tag}", _trainer_state(rows, m))
                cases.append(Case(f"hard negative: healthy RL {name} {tag}", {}, frame=frame, info=info))
            # 3b. reward frozen at the floor after the entropy collapsed (no group statistics logged)
            c = int(rng.integers(70, 130))
            reward = np.clip(cv.saturating(rng, m, start=0.2, plateau=0.55, tau=30, noise=noise), 0, 1)
            reward[c - 1:] = np.clip(np.abs(rng.normal(0.004, 0.003, m - c + 1)), 0, 1)
            entropy = cv.saturating(rng, m, start=0.8, plateau=0.7, tau=100, noise=0.02)
            if variant % 2:  # explodes to gibberish first, then collapses into repetition
                entropy[c - 6:c - 1] = np.linspace(2.0, 6.0, 5)
            entropy[c - 1:] = 0.01 * np.exp(rng.normal(0, 0.2, m - c + 1))
            series = {"critic/rewards/mean": reward, "actor/entropy": entropy,
                      "response_length/mean": np.where(cv.steps(m) < c, 300.0, 1024.0) + rng.normal(0, 5, m)}
            frame, info = _ingest(tmp, f"rl-frozen-{tag}", {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60)})
            cases.append(Case(f"reward frozen at the floor after entropy collapse {tag}", {"reward_plateau": c},
                              {"entropy_collapse", "reward_gaming"}, frame=frame, info=info,
                              classes={"reward frozen at the floor (entropy)"}))
            # 4. reward gaming with no held-out reward: four shapes, two signals each
            m = 300
            t = cv.steps(m)
            onset = int(rng.integers(100, 160))
            rise = np.clip(cv.saturating(rng, m, start=0.3, plateau=0.85, tau=50, noise=noise / 2), 0, 1)
            files: dict[str, str] = {}
            if variant == 0:  # length 5x toward the recipe's cap (no truncation ratio) + the task score falling
                length = 300 + 1500 / (1 + np.exp(-(t - onset) / 20))
                score = np.where(t < onset, 0.3 + 0.3 * t / onset, 0.6 - 0.35 * (t - onset) / (m - onset)) + rng.normal(0, noise / 2, m)
                series = {"critic/rewards/mean": rise, "critic/score/mean": score, "response_length/mean": length}
                files = {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60),
                         "recipe.yaml": synth_recipes.nova2_rft_smtj(name=f"gaming-{tag}", max_steps=m, max_new_tokens=2048)}
                what = "length to the cap + task score falling"
            elif variant == 1:  # completions collapse to a token or two while the reward rises + components diverge
                length = 2 + 180 / (1 + np.exp((t - onset) / 10))
                fmt = np.clip(0.4 + 0.6 / (1 + np.exp(-(t - onset) / 15)) + rng.normal(0, noise / 3, m), 0, 1)
                correct = np.clip(np.where(t < onset, 0.35, 0.35 - 0.3 * (t - onset) / (m - onset)) + rng.normal(0, noise / 3, m), 0, 1)
                rows = [(s, {"reward": float(rise[s - 1]), "completions/mean_length": float(length[s - 1]),
                             "rewards/format_reward/mean": float(fmt[s - 1]), "rewards/correctness_reward/mean": float(correct[s - 1])})
                        for s in range(1, m + 1)]
                files = _trainer_state(rows, m)
                what = "completions collapsing + components diverging"
            elif variant == 2:  # rise then give-back + length inflating (no cap known, no truncation ratio)
                back = np.where(t < onset, rise, rise[onset - 1] - 0.45 * (t - onset) / (m - onset)) + rng.normal(0, noise / 3, m)
                length = 250 + 750 / (1 + np.exp(-(t - onset) / 25))
                series = {"critic/rewards/mean": np.clip(back, 0, 1), "response_length/mean": length}
                files = {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60)}
                what = "rise then give-back + length inflating"
            else:  # a held-out reward logged under the canonical val_reward + length ballooning
                ev = t[9::10]
                val = np.where(ev <= onset, 0.3 + 0.15 * ev / onset, 0.45 - 0.2 * (ev - onset) / (m - onset))
                length = 300 + 900 / (1 + np.exp(-(t - onset - 30) / 25))
                lines = []
                for s in range(1, m + 1):
                    row = {"step": s, "reward": round(float(rise[s - 1]), 5), "response_length": round(float(length[s - 1]), 2)}
                    if s in ev:
                        row["val_reward"] = round(float(val[list(ev).index(s)]), 5)
                    lines.append(json.dumps(row))
                files = {"metrics.jsonl": "\n".join(lines) + "\n"}
                what = "val_reward falling + length ballooning"
            frame, info = _ingest(tmp, f"rl-gaming16-{variant}-{tag}", files)
            classes = {"reward gaming without held-out"} if variant < 3 else {"held-out under val_reward"}
            cases.append(Case(f"reward gaming ({what}) {tag}", {"reward_gaming": None}, {"reward_plateau", "entropy_collapse"},
                              frame=frame, info=info, classes=classes))
            # hard negatives: length drifting 1.3x while the score tracks the reward; a score dipping within noise
            length = 300 * (1 + 0.3 * t / m) + rng.normal(0, 8, m)
            series = {"critic/rewards/mean": rise, "critic/score/mean": rise + rng.normal(0, 0.01, m), "response_length/mean": length}
            frame, info = _ingest(tmp, f"rl-drift-{tag}", {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60)})
            cases.append(Case(f"hard negative: length drift, score tracks reward {tag}", {}, frame=frame, info=info))
            dip = np.clip(0.55 - 0.04 * t / m + rng.normal(0, noise / 2, m), 0, 1)
            series = {"critic/rewards/mean": rise, "critic/score/mean": dip, "response_length/mean": 300 + rng.normal(0, 8, m)}
            frame, info = _ingest(tmp, f"rl-dip-{tag}", {"train.log": writers.verl(_verl_rows(m, series), step_seconds=60)})
            cases.append(Case(f"hard negative: task score dipping within noise {tag}", {}, frame=frame, info=info))
            # 5. slow loss plateau (SFT/CPT): learned, then stalled while the LR is still at its peak
            technique = ["sft", "cpt"][(seed + li) % 2]
            n = 4000
            every = 5
            s5 = np.arange(every, n + 1, every)
            plateau = int(rng.integers(1400, 2000)) // every * every
            curve = cv.power_law_loss(rng, n, start=2.6, floor=1.0, alpha=0.6, t0=50, noise=0.0)
            curve[plateau:] = curve[plateau - 1] * (1 - 0.001 * (cv.steps(n)[plateau:] - plateau) / 1000)
            loss = curve * np.exp(rng.normal(0, noise / 2, n))
            lr = cv.lr_schedule(n, 2e-5, 200, kind="linear", constant=3400)
            rows = [(int(s), {"loss": float(loss[s - 1]), "learning_rate": float(lr[s - 1])}) for s in s5]
            frame, info = _ingest(tmp, f"slow-plateau-{technique}-{tag}", _trainer_state(rows, n))
            cases.append(Case(f"slow loss plateau ({technique}) {tag}", {"loss_plateau": plateau}, frame=frame, info=info,
                              classes={"slow loss plateau (SFT/CPT)"}))
            # hard negatives: a healthy CPT flattening at the end of its cosine schedule; a slow but steady SFT
            curve = cv.power_law_loss(rng, n, start=2.6, floor=1.0, alpha=0.6, t0=50, noise=noise / 2)
            lr = cv.lr_schedule(n, 2e-5, 200, kind="cosine")
            anneal = 1 - 0.03 * (1 - lr / 2e-5) * (cv.steps(n) > 200)  # the loss drops a little more as the LR anneals
            rows = [(int(s), {"loss": float(curve[s - 1] * anneal[s - 1]), "learning_rate": float(lr[s - 1])}) for s in s5]
            frame, info = _ingest(tmp, f"cpt-flattening-{tag}", _trainer_state(rows, n))
            cases.append(Case(f"hard negative: healthy CPT flattening at the schedule's end {tag}", {}, frame=frame, info=info))
            curve = cv.power_law_loss(rng, n, start=2.2, floor=0.6, alpha=0.35, t0=50, noise=noise / 2)
            lr = cv.lr_schedule(n, 1e-5, 200, kind="linear", constant=3000)
            rows = [(int(s), {"loss": float(curve[s - 1]), "learning_rate": float(lr[s - 1])}) for s in s5]
            frame, info = _ingest(tmp, f"sft-slow-steady-{tag}", _trainer_state(rows, n))
            cases.append(Case(f"hard negative: slow but steady SFT {tag}", {}, frame=frame, info=info))
    return cases


# --- real runs ---------------------------------------------------------------------------------

REAL_LABELS = {
    "sft-tinyllama-lora-healthy": {}, "sft-gemma3-1b-healthy": {}, "sft-mistral7b-lora-medbot-healthy": {},
    "cpt-luojiu-llama2-7b-3ep": {}, "pretrain-gpt2-124m-llmc-healthy": {}, "grpo-trl-qwen35-9b-healthy": {},
    "grpo-trl-qwen35-9b-kl-spike": ({"kl_spike": 71}, {"grad_norm_spike"}),
    "sft-llama2-qlora-inf-gradnorm": {"nonfinite": 33},
    "pretrain-gpt2-124m-llmc-nan": {"nonfinite": 1},
    "vit-skin-cls-overfit": ({"overfitting": 2600}, {"loss_spike", "grad_norm_spike"}),
    "whisper-small-hi-overfit": {"overfitting": 1000},
    "sft-qwen25-7b-medical-late-overfit": {"overfitting": 4500},
    "sft-baize-tcm-9ep-memorize": ({"loss_spike": 3127}, {"grad_norm_spike"}),
    "dpo-gemma2b-lora-spiky": ({"loss_spike": 177}, {"grad_norm_spike"}),
    "issue-llava918-loss-spike": {"loss_spike": 2566},  # the step of the tqdm counter beside the dict
    "grpo-trl-zero-signal": {"reward_plateau": None},
    "ppo-verl-gsm8k-qwen7b-plateau": {"reward_plateau": None},
    "grpo-minimind-rm-plateau": {"reward_plateau": None},
    "grpo-trl-multireward-length-cap": ({"reward_gaming": None}, {"kl_drift"}),
    "grpo-minimind-r1-format-only": ({"reward_gaming": None}, {"reward_plateau"}),
    "grpo-trl-qwen25-7b-collapse-gibberish": ({"reward_plateau": None}, {"grad_norm_spike", "reward_gaming"}),
    "grpo-trl-qwen25-7b-collapse-repetition": ({"reward_plateau": None}, {"grad_norm_spike", "entropy_collapse", "reward_gaming"}),
}


def real_cases(real_runs: Path, *, with_definitions: bool = False) -> list[Case]:
    """Every labelled real run, scanned as a user would with no metric definitions (``with_definitions``:
    the four text logs of no known format through the definitions a user would write for them)."""
    from test_real_runs import EXOTIC  # the metric definitions a user would write for the exotic logs

    cases = []
    for folder, label in REAL_LABELS.items():
        labels, allowed = label if isinstance(label, tuple) else (label, set())
        definitions = parse_definitions(EXOTIC[folder], folder) if with_definitions and folder in EXOTIC else None
        result = load_paths([str(real_runs / folder)], definitions=definitions)
        if not result.runs:  # could not be read: every fault it holds is missed
            cases.append(Case(folder, labels, allowed, synthetic=False, scanned=False))
            continue
        run = result.runs[0]
        cases.append(Case(folder, labels, allowed, run.frame, run.info, synthetic=False))
    return cases


# --- baselines -------------------------------------------------------------------------------------

def _series(frame, metric):
    part = frame[frame.metric == metric].sort_values("step")
    return part.step.to_numpy(), part.value.to_numpy(dtype=float)


def baseline(frame) -> dict[str, int]:
    """Detector id -> first step a practitioner's simple rule fires."""
    fired = {}
    if frame is None:
        return fired
    for metric in ("train_loss", "val_loss", "grad_norm", "kl", "reward"):
        s, v = _series(frame, metric)
        bad = ~np.isfinite(v)
        if bad.any():
            fired.setdefault("nonfinite", int(s[bad][0]))
    for metric, detector in (("train_loss", "loss_spike"), ("kl", "kl_spike")):
        s, v = _series(frame, metric)
        keep = np.isfinite(v)
        s, v = s[keep], v[keep]
        if len(v) > 21:
            past = pd.Series(v).shift(1).rolling(20, min_periods=20)
            hit = v > (past.mean() + 3 * past.std()).to_numpy()
            if hit.any():
                fired[detector] = int(s[np.argmax(hit)])
    vs, vv = _series(frame, "val_loss")
    ts, tv = _series(frame, "train_loss")
    if len(vs) and len(ts):
        for step, val in zip(vs, vv):
            train = tv[ts <= step][-5:]
            if len(train) and np.isfinite(val) and np.median(train) > 0 and (val - np.median(train)) / np.median(train) > 0.1:
                fired["overfitting"] = int(step)
                break
    rs, rv = _series(frame, "reward")
    if len(rv) >= 20:
        x = np.arange(20)
        for i in range(20, len(rv) + 1):
            slope = np.polyfit(x, rv[i - 20:i], 1)[0]
            if abs(slope * 20) < 0.02 * max(np.ptp(rv), 1e-9) * 5:
                fired["reward_plateau"] = int(rs[i - 1])
                break
        ls, lv = _series(frame, "response_length")
        if len(lv) >= 20 and np.polyfit(np.arange(len(rv)), rv, 1)[0] > 0 and np.polyfit(np.arange(len(lv)), lv, 1)[0] > 0:
            fired["reward_gaming"] = int(rs[-1])
    return fired


# --- scoring ---------------------------------------------------------------------------------------

def alerts_of(case: Case) -> list:
    if not case.scanned:
        return []
    return run_checks(case.frame, case.info).at_least("warning")


def ours(case: Case) -> dict[str, tuple[int, int]]:
    """Detector id -> (onset, detection step) of its first warning-or-above alert."""
    found = {}
    for alert in alerts_of(case):
        if alert.detector not in found:
            if alert.detector == "overfitting":  # delay in eval points after the best one
                found[alert.detector] = (alert.step, alert.evidence["evals_to_detect"], "evals")
            else:
                found[alert.detector] = (alert.step, alert.evidence.get("detected_at_step", alert.step))
    return found


def score(cases: list[Case], fired: list[dict]) -> dict[str, dict]:
    table = {}
    for detector in SCORED:
        tp = fp = fn = 0
        delays = []
        for case, hits in zip(cases, fired):
            labelled = detector in case.labels
            hit = hits.get(detector)
            if labelled and hit is not None:
                tp += 1
                truth = case.labels[detector]
                if isinstance(hit, tuple) and len(hit) == 3:
                    delays.append(hit[1])  # already a delay, in eval points
                elif truth is not None:
                    detect = hit[1] if isinstance(hit, tuple) else hit
                    delays.append(max(detect - truth, 0))
            elif labelled:
                fn += 1
            elif hit is not None and detector not in case.allowed:
                fp += 1
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall and np.isfinite(precision + recall) else float("nan")
        table[detector] = {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1,
                           "median_delay": float(np.median(delays)) if delays else float("nan")}
    return table


def print_table(title: str, mine: dict, base: dict) -> None:
    print(f"\n{title}")
    print(f"{'detector':<16} {'prec':>6} {'recall':>6} {'F1':>6} {'delay':>6} | {'base prec':>9} {'recall':>6} {'F1':>6} {'delay':>6}   (tp/fp/fn ours | base)")
    for detector in SCORED:
        a, b = mine[detector], base[detector]
        fmt = lambda x: "  -  " if not np.isfinite(x) else f"{x:6.2f}"  # noqa: E731
        print(f"{detector:<16} {fmt(a['precision'])} {fmt(a['recall'])} {fmt(a['f1'])} {fmt(a['median_delay'])} | "
              f"{fmt(b['precision']):>9} {fmt(b['recall'])} {fmt(b['f1'])} {fmt(b['median_delay'])}   "
              f"({a['tp']}/{a['fp']}/{a['fn']} | {b['tp']}/{b['fp']}/{b['fn']})")


def score_classes(cases: list[Case], alerts: list[list]) -> dict[str, dict]:
    """Per failure class of issue 16: a hit is an alert of the class's detector showing the class."""
    table = {}
    for name, (detector, shows) in CLASSES.items():
        tp = fp = fn = 0
        for case, found in zip(cases, alerts):
            hit = any(a.detector == detector and shows(a) for a in found)
            if name in case.classes:
                tp += hit
                fn += not hit
            elif hit and detector not in case.labels and detector not in case.allowed:
                fp += 1
        table[name] = {"tp": tp, "fp": fp, "fn": fn, "precision": tp / (tp + fp) if tp + fp else float("nan"),
                       "recall": tp / (tp + fn) if tp + fn else float("nan")}
    return table


def print_classes(table: dict) -> None:
    print("\nfailure classes of issue 16 (synthetic; a hit is an alert of the class's detector and kind)")
    print(f"{'class':<40} {'prec':>6} {'recall':>6}   (tp/fp/fn)")
    for name, row in table.items():
        fmt = lambda x: "  -  " if not np.isfinite(x) else f"{x:6.2f}"  # noqa: E731
        print(f"{name:<40} {fmt(row['precision'])} {fmt(row['recall'])}   ({row['tp']}/{row['fp']}/{row['fn']})")


def micro_f1(table: dict) -> float:
    tp = sum(r["tp"] for r in table.values())
    fp = sum(r["fp"] for r in table.values())
    fn = sum(r["fn"] for r in table.values())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def speed(n: int = 1_000_000, metrics: int = 10) -> tuple[float, float]:
    """(detectors seconds, ingest seconds) for one run of ``n`` steps and ``metrics`` metrics."""
    rng = np.random.default_rng(0)
    shapes = {  # realistic curves: the detectors' cost depends on how much of a run looks suspicious
        "loss": cv.power_law_loss(rng, n, start=2.5, floor=1.0, noise=0.04),
        "grad_norm": cv.grad_norm(rng, n, start=3.0, end=0.5, noise=0.2),
        "learning_rate": cv.lr_schedule(n, 1e-5, n // 7, min_lr=1e-6),
        "epoch": np.arange(1, n + 1) / n,
        "reward": np.clip(cv.saturating(rng, n, start=0.3, plateau=0.7, tau=n / 5, noise=0.05), 0, 1),
        "kl": cv.growth(rng, n, start=0.001, end=0.1, power=0.8, noise=0.2),
        "entropy": cv.saturating(rng, n, start=0.8, plateau=0.5, tau=n / 3, noise=0.02),
        "completion_length": cv.saturating(rng, n, start=400, plateau=350, tau=n / 3, noise=10),
        "reward_std": np.abs(rng.normal(0.3, 0.05, n)),
        "eval_loss": 1.2 + 0.8 * np.exp(-np.arange(n) / (n / 4)) + rng.normal(0, 0.002, n),
    }
    names = list(shapes)[:metrics]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl"
        with open(path, "w") as handle:
            columns = {name: np.round(shapes[name], 6) for name in names}
            for i in range(n):
                handle.write(json.dumps({"step": i + 1, **{k: float(v[i]) for k, v in columns.items()}}) + "\n")
        start = time.perf_counter()
        run = load_paths([str(path)]).runs[0]
        ingest = time.perf_counter() - start
        start = time.perf_counter()
        run_checks(run.frame, run.info)
        detect = time.perf_counter() - start
    return detect, ingest


def main(argv=None) -> int:  # noqa: C901 - a report, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real-runs", default=os.environ.get("FORGE_MONITOR_REAL_RUNS", str(ROOT.parent / "shared" / "real-runs")))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--only-speed", action="store_true")
    parser.add_argument("--speed-steps", type=int, default=1_000_000)
    parser.add_argument("--verbose", action="store_true", help="name each case with a false or missed alert")
    args = parser.parse_args(argv)
    missed = []
    if not args.only_speed:
        with tempfile.TemporaryDirectory() as tmp:
            cases = synthetic_cases(Path(tmp), args.seeds) + issue16_cases(Path(tmp), args.seeds)
            found = [alerts_of(c) for c in cases]
            mine = score(cases, [ours(c) for c in cases])
            base = score(cases, [baseline(c.frame) for c in cases])
            classes = score_classes(cases, found)
        print(f"synthetic set: {len(cases)} cases ({sum(1 for c in cases if not c.labels)} healthy or hard negatives)")
        print_table("synthetic (faults injected at known steps; delay in steps, overfitting: ours in eval points)", mine, base)
        for detector, row in mine.items():
            if not (row["precision"] >= 0.95 and row["recall"] >= 0.95):
                missed.append(f"synthetic {detector}: precision {row['precision']:.2f}, recall {row['recall']:.2f} (target 0.95 / 0.95)")
        print_classes(classes)
        if args.verbose:
            for case, alerts in zip(cases, found):
                fired = sorted({a.detector for a in alerts})
                wrong = [d for d in fired if d not in case.labels and d not in case.allowed]
                lost = [d for d in case.labels if d not in fired]
                if wrong or lost:
                    print(f"  {case.name}: false {wrong} missed {lost}")
    real_dir = Path(args.real_runs)
    if args.only_speed:
        pass
    elif real_dir.is_dir():
        real = real_cases(real_dir)
        folders = sorted(p.name for p in real_dir.iterdir() if p.is_dir())
        unscanned = [name for name in folders if not load_paths([str(real_dir / name)]).runs]
        print(f"\nreal runs scanned with no metric definitions: {len(folders) - len(unscanned)} of {len(folders)}"
              + (f" (not read: {', '.join(unscanned)})" if unscanned else ""))
        if unscanned:
            missed.append(f"{len(unscanned)} real run(s) fail to scan with no metric definitions")
        real_mine = score(real, [ours(c) for c in real])
        real_base = score(real, [baseline(c.frame) for c in real])
        print_table(f"real runs ({len(real)} labelled runs, labels from MANIFEST.md, no metric definitions)", real_mine, real_base)
        f_mine, f_base = micro_f1(real_mine), micro_f1(real_base)
        with_defs = real_cases(real_dir, with_definitions=True)
        f_defs = micro_f1(score(with_defs, [ours(c) for c in with_defs]))
        print(f"real-set micro F1: ours {f_mine:.2f}, baseline {f_base:.2f} (ours with the users' metric definitions "
              f"for the four text logs: {f_defs:.2f}; target 0.95)")
        if f_mine <= f_base:
            missed.append(f"real set: F1 {f_mine:.2f} not better than the baseline's {f_base:.2f}")
        if f_mine < 0.95:
            missed.append(f"real set: micro F1 {f_mine:.2f} below 0.95")
        if args.verbose:
            for case in real:
                fired = sorted({a.detector for a in alerts_of(case)})
                wrong = [d for d in fired if d not in case.labels and d not in case.allowed]
                lost = [d for d in case.labels if d not in fired]
                if wrong or lost:
                    print(f"  {case.name}: false {wrong} missed {lost}")
        healthy = [c for c in real if not c.labels]
        noisy = [(c.name, sorted(ours(c))) for c in healthy if ours(c)]
        print(f"healthy real runs with a warning or above: {len(noisy)} of {len(healthy)} {noisy if noisy else ''}")
        if noisy:
            missed.append("warnings on healthy real runs")
    else:
        print(f"\nreal runs not found at {real_dir}: real-set evaluation skipped")
    if not args.skip_speed:
        detect, ingest = speed(args.speed_steps)
        ok = detect < ingest
        print(f"\nspeed: all detectors on {args.speed_steps:,} steps x 10 metrics took {detect:.2f} s, ingesting it "
              f"{ingest:.2f} s: ratio {detect / ingest:.2f} (target < 1) {'PASS' if ok else 'MISS'}")
        if not ok:
            missed.append("detectors slower than ingestion")
    print("\n" + ("all targets met" if not missed else "missed: " + "; ".join(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
