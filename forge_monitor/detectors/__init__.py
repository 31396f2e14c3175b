"""Detectors: one module each, an explicit registry, and ``run_checks(frame, run_info, config)``.

Detectors run on the full-resolution tidy frame - never on smoothed or downsampled data. A detector
whose metrics are absent returns SKIPPED with the reason; one that fails returns ERROR with the
reason, and the others still run.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path

from ..alerts import CheckResult, Report, Status
from ..schema import RunInfo
from . import (
    _stats, entropy_collapse, forgetting, grad_norm_spike, kl_drift, kl_spike, loss_plateau, loss_spike,
    nonfinite, overfitting, reward_gaming, reward_plateau, stalled,
)
from .base import DetectorSpec, check_config, config_help

REGISTRY: dict[str, DetectorSpec] = {
    spec.id: spec
    for spec in (
        DetectorSpec("nonfinite", "Non-finite values", "NaN or +-inf in the loss, gradient norm, KL or reward, and in any "
                     "other loss, policy or value loss, entropy, advantage, return or logp metric (never in throughput, "
                     "timings, counts or spreads: Nova's avg_samples/sec starts as NaN in healthy runs)",
                     nonfinite.WATCHED + nonfinite.ALSO_WATCHED, (), "Resume from the last finite checkpoint; lower the LR, check precision "
                     "(bf16 over fp16) and the data at the first bad step.", nonfinite.NonfiniteConfig, nonfinite.check, True),
        DetectorSpec("loss_spike", "Loss spike", "A sudden jump of the training loss; transient or persistent; a "
                     "leading grad-norm spike as evidence; a spiky regime (spikes recurring every few steps) as one "
                     "alert, 'N spikes in the last M steps', where it starts", ("train_loss", "grad_norm"), ("cpt", "sft", "dpo", "unknown"),
                     "The LR is the first suspect, above all with data mixing; warmup ~15 % of steps; inspect the data "
                     "at that step; restart a bit earlier and skip those batches. A spiky regime: lower the LR, clip "
                     "near the typical gradient norm, for DPO raise beta, inspect the batches at the spikes.", loss_spike.LossSpikeConfig,
                     loss_spike.check, True),
        DetectorSpec("overfitting", "Overfitting", "Validation loss rising while training loss still falls; names the "
                     "best step", ("val_loss", "train_loss"), ("cpt", "sft", "dpo", "unknown"), "Fewer epochs (CPT: at "
                     "most one), more regularization or more diverse data, keep the best checkpoint, check downstream "
                     "evals before stopping.", overfitting.OverfittingConfig, overfitting.check, True),
        DetectorSpec("kl_spike", "KL spike", "A sudden jump of KL to the reference policy", ("kl", "reward"),
                     ("rft", "ppo", "dpo", "unknown"), "Raise the KL loss coefficient, lower the LR, look at the reward "
                     "at that step.", kl_spike.KlSpikeConfig, kl_spike.check, True),
        DetectorSpec("reward_plateau", "Reward plateau", "Reward flat from the start, or no learning signal "
                     "(zero-variance groups); at the floor or the ceiling; a reward pinned at the ceiling while the "
                     "groups lose their variance; a reward frozen at the floor after the entropy collapsed", ("reward", "frac_reward_zero_std", "reward_std"),
                     ("rft", "ppo", "unknown"), "Floor: SFT first (RFT cannot close large competence gaps); ceiling: "
                     "diminishing returns; zero variance: the reward function lacks discriminative power.",
                     reward_plateau.RewardPlateauConfig, reward_plateau.check, True),
        DetectorSpec("reward_gaming", "Possible reward gaming", "Reward up while held-out reward (val_reward) falls, "
                     "length inflating to the cap (no truncation ratio needed), completions collapsing to a token or "
                     "two, KL ballooning, rise-then-drop, reward components diverging, a task score (critic/score, an "
                     "accuracy) falling beside the reward, a format reward saturated while the task sits at its floor "
                     "(two or more signals)", ("reward", "val_reward", "response_length", "truncated_ratio", "kl"), ("rft", "ppo", "unknown"),
                     "Fix the reward function before any hyperparameter; validate with two independent judges; length "
                     "penalty; stronger KL.", reward_gaming.RewardGamingConfig, reward_gaming.check, True),
        DetectorSpec("grad_norm_spike", "Gradient-norm spike", "The gradient norm jumps far above its recent level "
                     "(an early warning of loss spikes)", ("grad_norm",), (), "Tighten clipping, lower the LR, inspect "
                     "the batch at that step.", grad_norm_spike.GradNormSpikeConfig, grad_norm_spike.check),
        DetectorSpec("kl_drift", "KL drift", "KL climbing past a budget and staying there, or negative KL", ("kl",),
                     ("rft", "ppo", "unknown"), "Raise the KL coefficient, lower the LR; for negative KL fix the "
                     "sampling settings.", kl_drift.KlDriftConfig, kl_drift.check),
        DetectorSpec("entropy_collapse", "Entropy collapse", "Policy entropy falling to a small fraction of its early "
                     "level", ("entropy",), ("rft", "ppo", "unknown"), "Raise the upper clip, add an entropy bonus or "
                     "temperature, lower the LR.", entropy_collapse.EntropyCollapseConfig, entropy_collapse.check),
        DetectorSpec("loss_plateau", "Loss plateau", "Training loss not coming down since the start (LR too low, LoRA "
                     "under-adapting), or a slow plateau in SFT/CPT: learned, then stalled while the LR is still near "
                     "its peak (not a schedule's end)", ("train_loss",), ("cpt", "sft", "dpo", "unknown"), "Start from the default LR; "
                     "for LoRA raise the rank first. A slow plateau: stop or decay earlier, check the data (CPT: one "
                     "epoch), raise the LoRA rank.", loss_plateau.LossPlateauConfig, loss_plateau.check),
        DetectorSpec("forgetting", "Forgetting", "A general-capability eval (MMLU, IFEval, GPQA) falling while training "
                     "improves", ("eval:mmlu", "eval:ifeval", "eval:gpqa"), (), "Mix in general data (~50 % customer "
                     "data), pick an earlier checkpoint, keep the default LR.", forgetting.ForgettingConfig, forgetting.check),
        DetectorSpec("stalled", "Stalled", "No new data for a long time (live), or a long gap between steps",
                     ("wall_time",), (), "Check the job: data loader, collective timeout, checkpoint upload.",
                     stalled.StalledConfig, stalled.check),
    )
}

REQUIRED = tuple(spec.id for spec in REGISTRY.values() if spec.required)


def default_config() -> dict[str, object]:
    return {detector_id: spec.config_type() for detector_id, spec in REGISTRY.items()}


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict[str, object]:
    """Defaults, updated from a TOML file (``[loss_spike] z_threshold = 6``) and/or a dict.

    Unknown detectors or fields and out-of-range values raise ValueError naming them.
    """
    table = {}
    if path is not None:
        from ..recipes.safe_yaml import read_bounded  # a regular file of at most 1 MB: never a FIFO or /dev/zero

        try:
            table = tomllib.loads(read_bounded(path, f"config {path}").decode("utf-8"))
        except OSError as err:
            raise ValueError(f"cannot read config {path}: {err.strerror or err}") from None
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); a TOML file must be UTF-8") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML: {err}") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to read") from None
    for key, value in (overrides or {}).items():
        table.setdefault(key, {}).update(value)
    config = default_config()
    for detector_id, values in table.items():
        if detector_id not in REGISTRY:
            raise ValueError(f"unknown detector {detector_id!r} in config; known: {', '.join(REGISTRY)}")
        if not isinstance(values, dict):
            raise ValueError(f"[{detector_id}] must be a table of settings")
        known = {f.name for f in fields(REGISTRY[detector_id].config_type)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"[{detector_id}] unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        config[detector_id] = replace(config[detector_id], **values)
        check_config(config[detector_id])
    return config


TECHNIQUE_NAMES = {"cpt": "CPT", "sft": "SFT", "rft": "RFT", "ppo": "PPO", "dpo": "DPO", "unknown": "unknown-technique"}


def applies_to(spec: DetectorSpec, technique: str) -> bool:
    """Whether a detector applies to a technique (an empty list: every technique)."""
    return not spec.techniques or technique in spec.techniques


def _applicability(spec: DetectorSpec, run_info: RunInfo, result: CheckResult) -> CheckResult:
    """A detector that could not check a run whose technique it does not apply to is *not applicable*,
    not "could not check": its missing metrics are no gap in the run (an SFT run logs no KL). A detector
    that did check (OK or ALERT) keeps its answer whatever the technique."""
    technique = run_info.technique or "unknown"
    if result.status != Status.SKIPPED or applies_to(spec, technique):
        return result
    names = ", ".join(TECHNIQUE_NAMES.get(t, t) for t in spec.techniques if t != "unknown")
    return replace(result, applicable=False,
                   reason=f"applies to {names} runs; this run is {TECHNIQUE_NAMES.get(technique, technique)}")


def run_checks(frame, run_info: RunInfo, config: dict | None = None, *, only=None) -> Report:
    """Run every registered detector (or ``only`` those ids) on one run's full-resolution frame."""
    config = config or default_config()
    results = []
    try:
        for detector_id, spec in REGISTRY.items():
            if only is not None and detector_id not in only:
                continue
            try:
                result = spec.check(frame, run_info, config[detector_id])
            except Exception as err:  # one broken detector must not cost the others
                result = CheckResult(detector_id, Status.ERROR, (), f"{type(err).__name__}: {err}")
            results.append(_applicability(spec, run_info, result))
    finally:
        _stats.clear_cache()
    return Report(run_info.run_id, tuple(results))


__all__ = ["REGISTRY", "REQUIRED", "applies_to", "default_config", "load_config", "run_checks", "config_help"]
