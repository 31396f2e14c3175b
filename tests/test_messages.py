"""Alert messages that read right (usability review L3): no self-contradiction, no "epoch 0.00" for
a checkpoint at the end of the first epoch, an onset that says which signal started it."""

from __future__ import annotations

from conftest import SAMPLE_LOGS
from forge_monitor.detectors import run_checks
from forge_monitor.ingest import load_paths


def _alert(folder: str, detector: str):
    run = load_paths([str(SAMPLE_LOGS / folder)]).runs[0]
    return next(a for a in run_checks(run.frame, run.info).alerts if a.detector == detector)


def test_a_no_signal_plateau_says_the_share_that_held_not_zero_percent():
    message = _alert("trl-grpo-console", "reward_plateau").message
    assert "0 % of the last" not in message
    assert "on average 91 % of the prompt groups had no reward variance over the last 45 steps" in message


def test_a_whole_number_epoch_is_said_in_words():
    remediation = _alert("nova-sft-2epoch-overfit", "overfitting").remediation
    assert "epoch 0.00" not in remediation
    assert "Keep the checkpoint nearest step 312 (val_loss 0.9824, at the end of the first epoch)." in remediation


def test_reward_gaming_names_the_signal_its_onset_comes_from():
    alert = _alert("nova-rft-reward-gaming", "reward_gaming")
    assert alert.step == 74 and "the first (length at the cap) from step 74" in alert.message
