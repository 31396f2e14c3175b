"""The bundled sample runs: seeded, deterministic, in the real formats, each with a known story.

``write_samples(folder)`` regenerates ``sample_logs/`` byte for byte (a test checks the committed
copy equals the generator's output), including ``sample_logs/README.md``, which is built from the
``SAMPLES`` catalog below so the description of a run and the run cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .synth import curves as cv
from .synth import recipes, writers


@dataclass(frozen=True)
class Sample:
    folder: str
    title: str
    shows: str
    expected_alerts: tuple[str, ...]  # detector ids this run must raise (warning or above)
    build: Callable[[], dict[str, str]]
    expected_findings: tuple[str, ...] = ()  # recipe pre-flight rules at warning or above


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sft_lora_healthy() -> dict[str, str]:
    rng, n = _rng(101), 312
    loss = cv.power_law_loss(rng, n, start=2.1, floor=0.85, alpha=0.6, noise=0.035)
    rows = [(s, {"reduced_train_loss": float(loss[s - 1]), "train_step_timing in s": float(3.3 + rng.normal(0, 0.05)),
                 "batch_time": 4.4, "samples/sec": 7.3}) for s in cv.steps(n)]
    repeats = [1 + int(r) for r in rng.integers(0, 3, n)]  # the bar refreshes 1-3 times per step
    return {
        "train.log": writers.nova_progress(rows, step_seconds=4.4, samples_per_step=32, repeats=repeats),
        "recipe.yaml": recipes.nova2_sft(name="sft-lora-healthy", max_steps=n, warmup=47),
    }


def _sft_datamix_high_lr() -> dict[str, str]:
    rng, n, warmup, peak = _rng(202), 400, 60, 5e-5
    lr = cv.lr_schedule(n, peak, warmup, min_lr=1e-6)
    loss = cv.power_law_loss(rng, n, start=2.3, floor=1.0, alpha=0.55, noise=0.03)
    gnorm = cv.grad_norm(rng, n, start=3.0, end=0.6)
    loss = cv.spike(loss, 141, 3.4, decay_steps=6)  # transient
    gnorm = cv.spike(gnorm, 140, 14.0, decay_steps=2)  # the grad-norm spike leads the loss spike
    gnorm = cv.spike(gnorm, 229, 22.0, decay_steps=2)
    loss = cv.spike(loss, 230, 5.2, decay_steps=10)
    loss = cv.spike(loss, 301, 2.6, decay_steps=12, settle=1.35)  # persistent: settles 35 % higher
    gnorm = cv.spike(gnorm, 301, 9.0, decay_steps=4, settle=1.5)
    rows = [(s, {"lr": float(lr[s - 1]), "global_batch_size": 32, "global_step": int(s),
                 "reduced_train_loss": float(loss[s - 1]), "grad_norm": float(gnorm[s - 1]),
                 "train_step_timing in s": float(8.1 + rng.normal(0, 0.1)), "consumed_samples": int(s * 32)})
            for s in cv.steps(n)]
    return {
        "train.log": writers.nova_pipe(rows, total=n, step_seconds=8.2, job="sft-datamix-lr5e-5"),
        "recipe.yaml": recipes.nova2_sft(name="sft-datamix-lr5e-5", max_steps=n, warmup=warmup, lr="5e-5",
                                         mixing_customer=50),
    }


def _sft_two_epochs_overfit() -> dict[str, str]:
    rng, n, per_epoch, every = _rng(303), 624, 312, 52
    lr = cv.lr_schedule(n, 1e-5, 94, min_lr=1e-6)
    loss = cv.power_law_loss(rng, n, start=1.9, floor=0.78, alpha=0.55, noise=0.03,
                             steps_per_epoch=per_epoch, epoch_drop=0.18)
    gnorm = cv.grad_norm(rng, n, start=2.0, end=0.5)
    eval_at = np.arange(every, n + 1, every)
    val = cv.val_loss_overfit(rng, eval_at, start=1.6, best=0.98, best_step=per_epoch, rise=0.11)
    rows = []
    for s in cv.steps(n):
        rows.append((s, {"lr": float(lr[s - 1]), "global_batch_size": 32, "global_step": int(s),
                         "reduced_train_loss": float(loss[s - 1]), "grad_norm": float(gnorm[s - 1]),
                         "train_step_timing in s": 6.4, "consumed_samples": int(s * 32)}))
        if s in eval_at:
            rows.append((s, {"val_loss": float(val[list(eval_at).index(s)])}))
    return {
        "train.log": writers.nova_pipe(rows, total=n, step_seconds=6.5, epoch_of=lambda s: (s - 1) // per_epoch),
        "recipe.yaml": recipes.nova2_sft(name="sft-2-epochs", max_steps=n, warmup=94, val_check_interval=every,
                                         validation="s3://my-bucket-name/val.jsonl"),
    }


def _cpt_healthy() -> dict[str, str]:
    rng, n, warmup = _rng(404), 500, 75
    lr = cv.lr_schedule(n, 1e-5, warmup, min_lr=1e-6)
    loss = cv.power_law_loss(rng, n, start=2.6, floor=1.85, alpha=0.45, noise=0.012)
    gnorm = cv.grad_norm(rng, n, start=8.0, end=0.7, noise=0.1)
    rows = [(s, {"lr": float(lr[s - 1]), "dl_wait_time": 0.0002742, "padding_percentage": 0.0121,
                 "global_step": int(s), "token_count": 2097152, "reduced_train_loss": float(loss[s - 1]),
                 "training_loss_step": float(loss[s - 1]), "grad_norm": float(gnorm[s - 1]),
                 "train_step_timing in s": float(59.7 + rng.normal(0, 0.3)), "batch_time": 59.71,
                 "samples/sec": 4.287}) for s in cv.steps(n)]
    return {
        "train.log": writers.nova_pipe(rows, total=n, step_seconds=60.0, job="cpt-domain-corpus"),
        "recipe.yaml": recipes.nova2_cpt(name="cpt-domain-corpus", max_steps=n, warmup=warmup),
    }


def _verl_rows(rng, n, *, reward, kl, entropy, length, clip, val_every=10, val=None, gnorm=None, extra=None):
    rows = []
    for s in cv.steps(n):
        i = s - 1
        values = {
            "actor/entropy": float(entropy[i]), "actor/kl_loss": float(kl[i]), "actor/kl_coef": 0.001,
            "actor/pg_loss": float(rng.normal(0, 0.02)), "actor/pg_clipfrac": float(abs(rng.normal(0.004, 0.002))),
            "actor/ppo_kl": float(abs(rng.normal(0, 0.0005))),
            "actor/grad_norm": float(gnorm[i] if gnorm is not None else abs(rng.normal(0.35, 0.05))),
            "perf/mfu/actor": float("nan") if s % 50 == 1 else 0.31, "actor/lr": 1e-05,
            "training/global_step": int(s), "training/epoch": 0,
            "critic/rewards/mean": float(reward[i]),
            "critic/rewards/max": float(min(1.0, reward[i] + 0.3)), "critic/rewards/min": float(max(0.0, reward[i] - 0.3)),
            "response_length/mean": float(length[i]), "response_length/max": float(min(8192, length[i] * 1.6)),
            "response_length/clip_ratio": float(clip[i]), "perf/throughput": float(38.8 + rng.normal(0, 1)),
            "perf/time_per_step": float(95 + rng.normal(0, 2)),
        }
        if extra:
            values.update({k: float(v[i]) for k, v in extra.items()})
        if val is not None and s % val_every == 0:
            values["val-score/rewards/mean@1"] = float(val[s // val_every - 1])
        rows.append((s, values))
    return rows


def _rft_healthy() -> dict[str, str]:
    rng, n = _rng(505), 200
    reward = np.clip(cv.saturating(rng, n, start=0.35, plateau=0.72, tau=60, noise=0.035), 0, 1)
    val = cv.saturating(rng, n // 10, start=0.33, plateau=0.68, tau=6, noise=0.01)
    rows = _verl_rows(rng, n, reward=reward, val=val,
                      kl=cv.growth(rng, n, start=0.0002, end=0.02, power=0.8, noise=0.15),
                      entropy=cv.saturating(rng, n, start=0.9, plateau=0.6, tau=120, noise=0.015),
                      length=cv.saturating(rng, n, start=420, plateau=380, tau=80, noise=8),
                      clip=np.clip(rng.normal(0.004, 0.002, n), 0, 1))
    rows.insert(120, rows[119])  # verl sometimes logs a step twice: the last value stands
    return {
        "train.log": writers.verl(rows, step_seconds=96.0),
        "recipe.yaml": recipes.nova2_rft_smtj(name="rft-healthy", max_steps=n),
    }


def _rft_hyperpod_kl_spike() -> dict[str, str]:
    rng, n = _rng(606), 300
    reward = np.clip(cv.saturating(rng, n, start=0.30, plateau=0.66, tau=90, noise=0.03), 0, 1)
    reward[184:] -= np.linspace(0.08, 0.03, n - 184)  # the update at the spike costs reward
    kl = cv.growth(rng, n, start=0.002, end=0.03, power=1.0, noise=0.12)
    kl = cv.spike(kl, 182, 22.0, decay_steps=4, settle=1.4)
    ent = cv.saturating(rng, n, start=0.25, plateau=0.18, tau=150, noise=0.005)
    rows = [(s, {"lr": 7e-07, "global_batch_size": 256, "global_step": int(s),
                 "reduced_train_loss": float(abs(rng.normal(0.007, 0.002))), "prompt_length": 7260.0,
                 "completion_length": float(635 + rng.normal(0, 15)), "adv": float(rng.normal(0.02, 0.01)),
                 "train_rm_score": float(reward[s - 1]), "kl": float(kl[s - 1]), "ent": float(ent[s - 1]),
                 "clipfrac": float(abs(rng.normal(0.0045, 0.001))), "train_step_timing in s": 1232.0,
                 "consumed_samples": int(s * 256)}) for s in cv.steps(n)]
    return {
        "train.log": writers.nova_pipe(rows, total=n, step_seconds=1232.0, job="rft-hp-lora"),
        "recipe.yaml": recipes.nova2_rft_hyperpod(name="rft-hp-lora", max_steps=n),
    }


def _rft_reward_gaming() -> dict[str, str]:
    rng, n = _rng(707), 300
    reward = np.clip(cv.saturating(rng, n, start=0.30, plateau=0.90, tau=45, noise=0.025), 0, 1)
    val_steps = np.arange(10, n + 1, 10)
    val = np.where(val_steps <= 100, 0.30 + 0.12 * val_steps / 100, 0.42 - 0.16 * (val_steps - 100) / 200)
    val = val + rng.normal(0, 0.006, len(val_steps))
    length = 350 + (8100 - 350) / (1 + np.exp(-(cv.steps(n) - 170) / 28))
    clip = np.clip(0.62 / (1 + np.exp(-(cv.steps(n) - 200) / 25)) + rng.normal(0, 0.01, n), 0, 1)
    rows = _verl_rows(rng, n, reward=reward, val=val,
                      kl=cv.growth(rng, n, start=0.0003, end=0.09, power=2.0, noise=0.1),
                      entropy=cv.saturating(rng, n, start=0.85, plateau=0.5, tau=150, noise=0.015),
                      length=length * np.exp(rng.normal(0, 0.02, n)), clip=clip)
    return {
        "train.log": writers.verl(rows, step_seconds=140.0),
        "recipe.yaml": recipes.nova2_rft_smtj(name="rft-length-gaming", max_steps=n),
    }


def _rft_zero_signal() -> dict[str, str]:
    rng, n = _rng(808), 150
    solved = rng.random(n) < 0.12  # 88 % of steps: every sample fails, every group ties at 0
    reward = np.where(solved, rng.uniform(0.01, 0.06, n), 0.0)
    rows = []
    for s, values in _verl_rows(rng, n, reward=reward, val=None,
                                kl=cv.growth(rng, n, start=0.00002, end=0.00006, noise=0.2),
                                entropy=cv.saturating(rng, n, start=0.62, plateau=0.61, tau=100, noise=0.004),
                                length=cv.saturating(rng, n, start=300, plateau=302, tau=100, noise=5),
                                clip=np.zeros(n), gnorm=np.where(solved, 0.002, 0.0008)):
        i = s - 1
        values["critic/rewards/max"] = float(reward[i] * 8 if solved[i] else 0.0)
        values["critic/rewards/min"] = 0.0
        values["critic/advantages/mean"] = 0.0
        values["critic/advantages/max"] = float(1.2 if solved[i] else 0.0)
        values["critic/advantages/min"] = float(-0.2 if solved[i] else 0.0)
        values["actor/pg_loss"] = float(rng.normal(0, 0.001) if solved[i] else 0.0)
        rows.append((s, values))
    return {
        "train.log": writers.verl(rows, step_seconds=80.0),
        "recipe.yaml": recipes.nova2_rft_smtj(name="rft-zero-signal", max_steps=n),
    }


def _hf_sft_trainer_state() -> dict[str, str]:
    rng, n, log_every, eval_every = _rng(909), 1200, 10, 100
    log_steps = np.arange(log_every, n + 1, log_every)
    loss = cv.power_law_loss(rng, n, start=1.9, floor=0.95, alpha=0.5, noise=0.04)
    lr = cv.lr_schedule(n, 2e-4, 60, kind="linear")
    gnorm = cv.grad_norm(rng, n, start=1.8, end=0.45)
    eval_steps = np.arange(eval_every, n + 1, eval_every)
    val = 1.05 + 0.55 * np.exp(-eval_steps / 300) + rng.normal(0, 0.004, len(eval_steps))

    def state(upto: int) -> str:
        rows = []
        for s in log_steps[log_steps <= upto]:
            first = s == log_every  # the first logged loss of a fresh LoRA is often far off
            rows.append((int(s), {"loss": round(9.84 if first else float(loss[s - 1]), 4),
                                  "grad_norm": float(gnorm[s - 1]), "learning_rate": float(lr[s - 1]),
                                  "epoch": round(float(s) / 600, 4), "mean_token_accuracy": float(0.55 + 0.2 * s / n)}))
            if s in eval_steps:
                k = int(np.flatnonzero(eval_steps == s)[0])
                rows.append((int(s), {"eval_loss": float(val[k]), "eval_mean_token_accuracy": float(0.6 + 0.15 * s / n),
                                      "eval_runtime": 41.2, "eval_samples_per_second": 24.3,
                                      "eval_steps_per_second": 3.04, "epoch": round(float(s) / 600, 4)}))
        summary = {"epoch": 2.0, "step": upto, "total_flos": 7.1e16, "train_loss": 1.21, "train_runtime": 5123.4,
                   "train_samples_per_second": 7.5, "train_steps_per_second": 0.234} if upto == n else None
        header = {"best_global_step": int(eval_steps[eval_steps <= upto][-1]), "epoch": round(upto / 600, 4),
                  "eval_steps": eval_every, "global_step": upto, "logging_steps": log_every, "max_steps": n,
                  "num_train_epochs": 2, "save_steps": 600, "train_batch_size": 8, "trial_name": None}
        return writers.trainer_state(rows, header=header, summary=summary)

    return {"checkpoint-600/trainer_state.json": state(600), "checkpoint-1200/trainer_state.json": state(n)}


def _trl_grpo_console() -> dict[str, str]:
    rng, n = _rng(1010), 150
    reward = np.clip(cv.saturating(rng, n, start=0.45, plateau=0.97, tau=25, noise=0.015), 0, 1)
    entropy = 0.02 + 0.6 * np.exp(-cv.steps(n) / 22) * np.exp(rng.normal(0, 0.05, n))
    zero_std = np.clip(cv.saturating(rng, n, start=0.1, plateau=0.92, tau=30, noise=0.02), 0, 1)
    kl = cv.growth(rng, n, start=0.001, end=0.12, power=0.7, noise=0.1)
    rows = [(int(s), {"loss": float(rng.normal(0.01, 0.005)), "grad_norm": float(0.3 * (1 - zero_std[s - 1]) + 0.01),
                      "learning_rate": 1e-06, "num_tokens": float(s * 41000), "completions/mean_length": float(210 - 40 * s / n),
                      "completions/clipped_ratio": 0.0, "rewards/accuracy_reward/mean": float(reward[s - 1]),
                      "reward": float(reward[s - 1]), "reward_std": float(0.4 * (1 - zero_std[s - 1])),
                      "frac_reward_zero_std": float(zero_std[s - 1]), "kl": float(kl[s - 1]),
                      "entropy": float(entropy[s - 1]), "epoch": round(float(s) / 1869, 5)}) for s in cv.steps(n)]
    preamble = ("***** Running training *****\n  Num examples = 7,473\n  Total optimization steps = 150\n"
                "The tokenizer has new PAD/BOS/EOS tokens. Updated tokens: {'bos_token_id': None, 'pad_token_id': 151643}")
    return {"stdout.log": writers.trl_console(rows, total=n, preamble=preamble)}


def _bedrock_sft() -> dict[str, str]:
    rng, n = _rng(1111), 120
    loss = cv.power_law_loss(rng, n + 1, start=2.4, floor=1.1, alpha=0.5, noise=0.03)
    train = [(s, {"epoch_number": s // 60, "training_loss": float(loss[s]), "perplexity": float(np.exp(loss[s]))})
             for s in range(n)]
    val = [(s, {"epoch_number": s // 60, "validation_loss": float(1.3 - 0.1 * s / n), "perplexity": float(np.exp(1.3 - 0.1 * s / n))})
           for s in range(20, n, 20)]
    job = "model-customization-job-abc123"
    return {
        f"{job}/training_artifacts/step_wise_training_metrics.csv":
            writers.bedrock_csv(train, ["step_number", "epoch_number", "training_loss", "perplexity"]),
        f"{job}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv":
            writers.bedrock_csv(val, ["step_number", "epoch_number", "validation_loss", "perplexity"]),
    }


# The published LoRA SFT sweep on Nova 2 Lite (reference/guidance.md): dataset, LoRA rank, alpha, LR,
# max steps, warmup, base score, tuned score. Scores carry the precision that reproduces the published
# relative gains (+10.75 %, +11.16 %, +322 %, +305 %) from the published two-decimal accuracies.
SWEEP = (
    ("medreason", "MedReason", 32, 64, "1e-5", 312, 47, 57.3754, 63.5433),
    ("medreason", "MedReason", 64, 64, "1e-5", 312, 47, 57.3754, 63.7785),
    ("medreason", "MedReason", 32, 64, "5e-6", 312, 47, 57.3754, 63.33),
    ("medreason", "MedReason", 32, 64, "1e-5", 624, 94, 57.3754, 61.42),
    ("llava-cot", "LLaVA-CoT", 64, 64, "1e-5", 312, 47, 16.22, 68.47),
    ("llava-cot", "LLaVA-CoT", 32, 128, "1e-5", 312, 47, 16.22, 65.77),
)


def _sweep_run(index: int) -> Callable[[], dict[str, str]]:
    slug, dataset, rank, alpha, lr, steps, warmup, base, tuned = SWEEP[index]

    def build() -> dict[str, str]:
        rng = _rng(1200 + index)
        slow = 0.8 if lr == "5e-6" else 1.0  # a halved LR converges more slowly
        loss = cv.power_law_loss(rng, steps, start=2.0, floor=0.7 + 0.1 * (rank == 32), alpha=0.55 * slow, noise=0.03,
                                 steps_per_epoch=312, epoch_drop=0.15)
        rows = [(s, {"reduced_train_loss": float(loss[s - 1]), "train_step_timing in s": 3.3, "samples/sec": 9.7})
                for s in cv.steps(steps)]
        results = {"dataset": dataset, "target_metric": "accuracy", "base_score": base, "tuned_score": tuned,
                   "lora_rank": rank, "source": "published LoRA SFT sweep on Nova 2 Lite (reference/guidance.md)"}
        return {
            "train.log": writers.nova_progress(rows, step_seconds=4.0, samples_per_step=32),
            "recipe.yaml": recipes.nova2_sft(name=f"sweep-{slug}-r{rank}-a{alpha}", max_steps=steps, warmup=warmup,
                                             lr=lr, alpha=alpha),
            "eval_results.json": json.dumps(results, indent=2) + "\n",
        }

    return build


SAMPLES: tuple[Sample, ...] = (
    Sample("nova-sft-lora-healthy", "Nova 2 Lite SFT, LoRA, service defaults (training job)",
           "Progress-bar format with carriage returns (`#015`), repeated steps and the JSON side record; "
           "loss decays smoothly from ~2.1 to ~0.9 over 312 steps (1 epoch, 47 warmup steps).", (), _sft_lora_healthy),
    Sample("nova-sft-datamix-high-lr", "Nova 2 Lite SFT with data mixing and LR 5e-5 (5x the 1e-5 default), HyperPod",
           "Pipe format. Loss spikes at step 141 (3.4x, recovers), step 230 (5.2x, led by a 22x grad-norm spike at 229) "
           "and step 301 (2.6x, settles 35 % higher: persistent). The recipe mixes 50 % customer data with the Nova "
           "mix while the LR is off the default - the most common cause of instability under mixing.",
           ("loss_spike", "grad_norm_spike"), _sft_datamix_high_lr, ("lr_off_default_with_mixing",)),
    Sample("nova-sft-2epoch-overfit", "Nova 2 Lite SFT for 2 epochs (624 steps) with validation every 52 steps",
           "Pipe format with validation lines. Train loss drops at the epoch boundary (step 312) and keeps falling; "
           "validation loss bottoms at step 312 and rises ~11 % by step 624 - the published sweep's "
           "'2 epochs: worse' case. Best checkpoint: step 312.", ("overfitting",), _sft_two_epochs_overfit),
    Sample("nova-cpt-healthy", "Nova 2 Lite CPT, 500 steps, 256 x 8192 tokens per step, HyperPod",
           "Pipe format with token_count, grad_norm and training_loss_step; loss decays from ~2.6 towards ~1.9, "
           "grad norm settles from ~8 to ~0.7.", (), _cpt_healthy),
    Sample("nova-rft-healthy", "Nova 2 Lite RFT, LoRA, training job (verl format)",
           "verl lines with ANSI colour codes, a `nan` (perf/mfu/actor) every 50 steps and one step logged twice; "
           "reward rises 0.35 -> ~0.72 and held-out `val-score/rewards/mean@1` follows it; KL grows from ~0 to 0.02; "
           "entropy and length drift down gently.", (), _rft_healthy),
    Sample("nova-rft-hyperpod-kl-spike", "Nova 2 Lite RFT on HyperPod with a KL spike (pipe format, RFT variant)",
           "train_rm_score / kl / ent / clipfrac lines; KL jumps 22x at step 182 and settles 40 % above its "
           "earlier trend; reward dips after the spike.", ("kl_spike",), _rft_hyperpod_kl_spike),
    Sample("nova-rft-reward-gaming", "Nova 2 Lite RFT whose reward is being gamed (verl format)",
           "Training reward rises fast to ~0.9 while held-out reward peaks at step 100 (0.42) and falls to 0.26; "
           "response length climbs from ~350 towards the 8,192-token cap and the clip ratio reaches ~0.6; KL "
           "balloons.", ("reward_gaming",), _rft_reward_gaming),
    Sample("nova-rft-zero-signal", "Nova 2 Lite RFT with no learning signal (verl format)",
           "On 88 % of steps every sample scores 0 (rewards max = min = 0, advantages 0); mean reward stays ~0.005, "
           "KL and entropy do not move: the reward never discriminates, so the policy never learns.",
           ("reward_plateau",), _rft_zero_signal),
    Sample("hf-sft-trainer-state", "Hugging Face Trainer SFT (LoRA) output folder with two checkpoints",
           "`checkpoint-600/` and `checkpoint-1200/trainer_state.json`: the newest is read. Train rows every 10 "
           "steps, eval rows every 100, the final summary row; the first logged loss is 9.84 (a fresh adapter), "
           "then a healthy decay; eval loss falls at every eval.", (), _hf_sft_trainer_state),
    Sample("trl-grpo-console", "TRL GRPOTrainer stdout (transformers 5: values printed as strings)",
           "Console dicts between tqdm refreshes, no step field. Reward saturates at ~0.97, frac_reward_zero_std "
           "climbs to ~0.9 (groups all correct: no signal left) and entropy collapses from 0.6 to 0.02.",
           ("entropy_collapse", "reward_plateau"), _trl_grpo_console),
    Sample("bedrock-nova-sft", "Amazon Bedrock / Nova Forge customization job artifacts",
           "`step_wise_training_metrics.csv` (step_number from 0, epoch_number, training_loss, perplexity) and "
           "`validation_metrics.csv` in the Bedrock folder layout, read as one run; healthy.", (), _bedrock_sft),
) + tuple(
    Sample(f"sweep-{slug}-r{rank}-a{alpha}-lr{lr}-{steps}steps",
           f"Sweep run: {dataset}, LoRA rank {rank}, alpha {alpha}, LR {lr}, {steps} steps, {warmup} warmup",
           f"One row of the published Nova 2 Lite LoRA SFT sweep, with its recipe and `eval_results.json` "
           f"(base {base:.2f} %, tuned {tuned:.2f} %); the Compare page's sweep table reproduces the published table.",
           (), _sweep_run(i))
    for i, (slug, dataset, rank, alpha, lr, steps, warmup, base, tuned) in enumerate(SWEEP)
)


def readme() -> str:
    lines = [
        "# Sample logs",
        "",
        "Seeded synthetic runs in the real formats, generated by `forge_monitor.samples` "
        "(`forge-monitor samples --out sample_logs` rewrites this folder byte for byte; a test checks it).",
        "Each Nova run has its recipe YAML in the real recipe shape next to the log. The curves follow "
        "`forge_monitor.synth.curves`: power-law loss with log-normal noise, warmup then cosine LR, RL reward "
        "rising to a plateau, KL growing from ~0.",
        "",
        "| run | what it is | what it shows | alerts it must raise (warning or above) | recipe findings (warning or above) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for sample in SAMPLES:
        alerts = ", ".join(f"`{a}`" for a in sample.expected_alerts) or "none (a healthy run stays quiet)"
        findings = ", ".join(f"`{r}`" for r in sample.expected_findings) or "none"
        lines.append(f"| `{sample.folder}` | {sample.title} | {sample.shows} | {alerts} | {findings} |")
    lines += ["", "Validation-loss lines of Nova logs (`Validation: iteration 2/2 | global_step: N | val_loss: X`) "
              "follow the NeMo convention; no public Nova log shows the real key (reference/formats.md 2.2).", ""]
    return "\n".join(lines)


def build_all() -> dict[str, str]:
    files: dict[str, str] = {"README.md": readme()}
    for sample in SAMPLES:
        for rel, text in sample.build().items():
            files[f"{sample.folder}/{rel}"] = text
    return files


def write_samples(folder: Path) -> list[Path]:
    written = []
    for rel, text in build_all().items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))  # byte for byte: tqdm's carriage returns included
        written.append(path)
    return written
