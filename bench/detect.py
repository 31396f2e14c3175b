"""Labelled evaluation of the detectors against the rules a practitioner would use without this tool.

Cases:
- seeded synthetic runs with faults injected at known steps, across techniques (SFT, CPT, RFT),
  formats (written with the real log writers and read back through the ingestors) and noise levels;
- hard negatives: noisy healthy RL, a very high first logged loss, warmup bumps, sparse evals, a
  resumed run (steps regress), healthy runs at every noise level;
- the real third-party runs of ../shared/real-runs, labelled from MANIFEST.md.

For each required detector it prints precision, recall and median detection delay (steps from the
fault to the alert's onset; for overfitting, to the eval that triggered it), next to a baseline:
3-sigma over the previous 20 points (spikes), SageMaker Debugger's Overfit rule
((val - train) / train > 0.1), a flat-slope rule (plateaus), "reward and length both rising"
(gaming) and any non-finite value (nonfinite). Then the speed of all detectors on a 1,000,000-step,
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
from forge_monitor.synth import writers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


@dataclass
class Case:
    name: str
    labels: dict[str, int | None]  # detector -> fault step (None: any time)
    allowed: set[str] = field(default_factory=set)  # may also fire without being wrong (side effects)
    frame: pd.DataFrame | None = None
    info: object = None
    synthetic: bool = True


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
    "issue-llava918-loss-spike": {"loss_spike": 3},
    "grpo-trl-zero-signal": {"reward_plateau": None},
    "ppo-verl-gsm8k-qwen7b-plateau": {"reward_plateau": None},
    "grpo-minimind-rm-plateau": {"reward_plateau": None},
    "grpo-trl-multireward-length-cap": ({"reward_gaming": None}, {"kl_drift"}),
    "grpo-minimind-r1-format-only": ({"reward_gaming": None}, {"reward_plateau"}),
    "grpo-trl-qwen25-7b-collapse-gibberish": ({"reward_plateau": None}, {"grad_norm_spike", "reward_gaming"}),
    "grpo-trl-qwen25-7b-collapse-repetition": ({"reward_plateau": None}, {"grad_norm_spike", "entropy_collapse", "reward_gaming"}),
}


def real_cases(real_runs: Path) -> list[Case]:
    from test_real_runs import EXOTIC  # the metric definitions a user would write for the exotic logs

    cases = []
    for folder, label in REAL_LABELS.items():
        labels, allowed = label if isinstance(label, tuple) else (label, set())
        definitions = parse_definitions(EXOTIC[folder], folder) if folder in EXOTIC else None
        run = load_paths([str(real_runs / folder)], definitions=definitions).runs[0]
        cases.append(Case(folder, labels, allowed, run.frame, run.info, synthetic=False))
    return cases


# --- baselines -------------------------------------------------------------------------------------

def _series(frame, metric):
    part = frame[frame.metric == metric].sort_values("step")
    return part.step.to_numpy(), part.value.to_numpy(dtype=float)


def baseline(frame) -> dict[str, int]:
    """Detector id -> first step a practitioner's simple rule fires."""
    fired = {}
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

def ours(case: Case) -> dict[str, tuple[int, int]]:
    """Detector id -> (onset, detection step) of its first warning-or-above alert."""
    found = {}
    for alert in run_checks(case.frame, case.info).at_least("warning"):
        if alert.detector not in found:
            if alert.detector == "overfitting":  # delay in eval points after the best one
                found[alert.detector] = (alert.step, alert.evidence["evals_to_detect"], "evals")
            else:
                found[alert.detector] = (alert.step, alert.evidence.get("detected_at_step", alert.step))
    return found


def score(cases: list[Case], fired: list[dict]) -> dict[str, dict]:
    table = {}
    for detector in REQUIRED:
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
    for detector in REQUIRED:
        a, b = mine[detector], base[detector]
        fmt = lambda x: "  -  " if not np.isfinite(x) else f"{x:6.2f}"  # noqa: E731
        print(f"{detector:<16} {fmt(a['precision'])} {fmt(a['recall'])} {fmt(a['f1'])} {fmt(a['median_delay'])} | "
              f"{fmt(b['precision']):>9} {fmt(b['recall'])} {fmt(b['f1'])} {fmt(b['median_delay'])}   "
              f"({a['tp']}/{a['fp']}/{a['fn']} | {b['tp']}/{b['fp']}/{b['fn']})")


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
    args = parser.parse_args(argv)
    missed = []
    if not args.only_speed:
        with tempfile.TemporaryDirectory() as tmp:
            cases = synthetic_cases(Path(tmp), args.seeds)
            mine = score(cases, [ours(c) for c in cases])
            base = score(cases, [baseline(c.frame) for c in cases])
        print(f"synthetic set: {len(cases)} cases ({sum(1 for c in cases if not c.labels)} healthy or hard negatives)")
        print_table("synthetic (faults injected at known steps; delay in steps, overfitting: ours in eval points)", mine, base)
        for detector, row in mine.items():
            if not (row["precision"] >= 0.9 and row["recall"] >= 0.9):
                missed.append(f"synthetic {detector}: precision {row['precision']:.2f}, recall {row['recall']:.2f} (target 0.9 / 0.9)")
    real_dir = Path(args.real_runs)
    if args.only_speed:
        pass
    elif real_dir.is_dir():
        real = real_cases(real_dir)
        real_mine = score(real, [ours(c) for c in real])
        real_base = score(real, [baseline(c.frame) for c in real])
        print_table(f"real runs ({len(real)} runs, labels from MANIFEST.md)", real_mine, real_base)
        f_mine, f_base = micro_f1(real_mine), micro_f1(real_base)
        print(f"real-set micro F1: ours {f_mine:.2f}, baseline {f_base:.2f}")
        if f_mine <= f_base:
            missed.append(f"real set: F1 {f_mine:.2f} not better than the baseline's {f_base:.2f}")
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
