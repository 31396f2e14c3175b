"""Detector calibration on the real third-party runs: healthy ones stay quiet, faulty ones raise what
MANIFEST.md's evidence shows."""

from __future__ import annotations

import pytest

from forge_monitor.detectors import run_checks
from forge_monitor.ingest import load_paths, parse_definitions
from test_real_runs import EXOTIC

HEALTHY = ["sft-tinyllama-lora-healthy", "sft-gemma3-1b-healthy", "sft-mistral7b-lora-medbot-healthy",
           "cpt-luojiu-llama2-7b-3ep", "grpo-trl-qwen35-9b-healthy", "pretrain-gpt2-124m-llmc-healthy"]


def report_for(real_runs, folder):
    definitions = parse_definitions(EXOTIC[folder], folder) if folder in EXOTIC else None
    run = load_paths([str(real_runs / folder)], definitions=definitions).runs[0]
    return run_checks(run.frame, run.info)


@pytest.mark.parametrize("folder", HEALTHY)
def test_healthy_real_runs_raise_nothing_at_warning_or_above(real_runs, folder):
    report = report_for(real_runs, folder)
    assert report.at_least("warning") == [], [a.message for a in report.at_least("warning")]


def _only(report, detector):
    found = [a for a in report.at_least("warning") if a.detector == detector]
    assert found, f"{detector} not raised; got {[a.detector for a in report.alerts]}"
    return found


def test_kl_jump_at_step_71(real_runs):
    alerts = _only(report_for(real_runs, "grpo-trl-qwen35-9b-kl-spike"), "kl_spike")
    assert [a.step for a in alerts] == [71] and alerts[0].severity.value == "critical"


def test_infinity_grad_norm_at_step_33(real_runs):
    alert = _only(report_for(real_runs, "sft-llama2-qlora-inf-gradnorm"), "nonfinite")[0]
    assert (alert.metric, alert.step) == ("grad_norm", 33)


def test_nan_from_the_first_step(real_runs):
    alerts = _only(report_for(real_runs, "pretrain-gpt2-124m-llmc-nan"), "nonfinite")
    loss = next(a for a in alerts if a.metric == "train_loss")
    assert loss.step == 1 and loss.severity.value == "critical" and loss.evidence["from_first_step"]


@pytest.mark.parametrize("folder,best", [("vit-skin-cls-overfit", 2600), ("whisper-small-hi-overfit", 1000),
                                         ("sft-qwen25-7b-medical-late-overfit", 4500)])
def test_overfitting_runs_name_their_best_step(real_runs, folder, best):
    alerts = _only(report_for(real_runs, folder), "overfitting")
    assert best in {a.evidence["best_step"] for a in alerts}


def test_zero_signal_plateau(real_runs):
    alert = _only(report_for(real_runs, "grpo-trl-zero-signal"), "reward_plateau")[0]
    assert alert.evidence["kind"] == "no_signal" and alert.evidence["level"] == "floor"


def test_ceiling_plateau(real_runs):
    alert = _only(report_for(real_runs, "ppo-verl-gsm8k-qwen7b-plateau"), "reward_plateau")[0]
    assert alert.evidence["level"] == "ceiling"


def test_flat_reward_model_plateau(real_runs):
    alert = _only(report_for(real_runs, "grpo-minimind-rm-plateau"), "reward_plateau")[0]
    assert alert.evidence["kind"] == "flat"


def test_length_capped_multi_reward_run_is_possible_gaming(real_runs):
    alert = _only(report_for(real_runs, "grpo-trl-multireward-length-cap"), "reward_gaming")[0]
    assert len(alert.evidence["signals"]) >= 2 and "length at the cap" in alert.evidence["signals"]


def test_repetition_collapse(real_runs):
    _only(report_for(real_runs, "grpo-trl-qwen25-7b-collapse-repetition"), "entropy_collapse")


def test_llava_single_step_spike(real_runs):
    alert = _only(report_for(real_runs, "issue-llava918-loss-spike"), "loss_spike")[0]
    assert alert.evidence["peak"] == pytest.approx(4.2653)
    assert alert.step == 2566  # "at about step 2566" (MANIFEST.md): the tqdm counter beside the dict


# --- issue 16: read as a user would, with no metric definitions ----------------------------------

def report_without_definitions(real_runs, folder):
    run = load_paths([str(real_runs / folder)]).runs[0]
    return run_checks(run.frame, run.info)


@pytest.mark.parametrize("folder", HEALTHY)
def test_healthy_real_runs_stay_quiet_with_no_metric_definitions(real_runs, folder):
    report = report_without_definitions(real_runs, folder)
    assert report.at_least("warning") == [], [a.message for a in report.at_least("warning")]


def test_dpo_spiky_regime_covers_the_late_spikes(real_runs):
    alerts = _only(report_for(real_runs, "dpo-gemma2b-lora-spiky"), "loss_spike")
    regime = [a for a in alerts if a.evidence.get("kind") == "regime"]
    assert len(regime) == 1 and regime[0].step <= 83 and regime[0].step_end >= 193
    assert {171, 177, 193} <= set(regime[0].evidence["peak_steps"]) and regime[0].evidence["spikes"] >= 10
    assert "beta" in regime[0].remediation and "rewards/margins grew" in regime[0].remediation


def test_format_only_reward_is_possible_gaming_with_no_definitions(real_runs):
    alert = _only(report_without_definitions(real_runs, "grpo-minimind-r1-format-only"), "reward_gaming")[0]
    assert set(alert.evidence["signals"]) == {"proxy saturated", "task at the floor"}
    assert "Fmt" in alert.message and "Correct" in alert.message


def test_llmc_nan_run_is_caught_with_no_definitions(real_runs):
    alerts = _only(report_without_definitions(real_runs, "pretrain-gpt2-124m-llmc-nan"), "nonfinite")
    loss = next(a for a in alerts if a.metric == "train_loss")
    assert loss.step == 1 and loss.evidence["from_first_step"]


def test_minimind_reward_model_plateau_with_no_definitions(real_runs):
    alert = _only(report_without_definitions(real_runs, "grpo-minimind-rm-plateau"), "reward_plateau")[0]
    assert alert.evidence["kind"] == "flat"
