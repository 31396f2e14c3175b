"""Detectors on seeded synthetic runs with faults at known steps, on healthy runs, and live on prefixes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from forge_monitor.alerts import Severity, Status
from forge_monitor.detectors import REGISTRY, REQUIRED, config_help, default_config, load_config, run_checks
from forge_monitor.schema import RunInfo, validate_frame
from forge_monitor.synth import curves as cv


def make_frame(series: dict[str, tuple], run_id: str = "synthetic") -> pd.DataFrame:
    rows = []
    for metric, (steps, values) in series.items():
        rows.append(pd.DataFrame({"run_id": run_id, "step": np.asarray(steps, dtype=np.int64), "metric": metric,
                                  "value": np.asarray(values, dtype=np.float64), "wall_time": np.nan}))
    return validate_frame(pd.concat(rows, ignore_index=True))


def info_for(technique: str, **hyperparameters) -> RunInfo:
    return RunInfo(run_id="synthetic", source="test", format="synthetic", technique=technique, hyperparameters=hyperparameters)


def ids(report, at_least=Severity.WARNING):
    return sorted({a.detector for a in report.at_least(at_least)})


# --- healthy runs stay quiet --------------------------------------------------------------------

def healthy_sft(seed: int, n: int = 600, eval_every: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = cv.steps(n)
    ev = np.arange(eval_every, n + 1, eval_every)
    return make_frame({
        "train_loss": (s, cv.power_law_loss(rng, n, start=2.2, floor=0.9, noise=0.05)),
        "learning_rate": (s, cv.lr_schedule(n, 1e-5, n // 7, min_lr=1e-6)),
        "grad_norm": (s, cv.grad_norm(rng, n, start=3.0, end=0.5, noise=0.25)),
        "val_loss": (ev, 1.0 + 0.6 * np.exp(-ev / 200) + rng.normal(0, 0.003, len(ev))),
    })


def healthy_rft(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = cv.steps(n)
    reward = np.clip(cv.saturating(rng, n, start=0.3, plateau=0.7, tau=70, noise=0.06), 0, 1)
    return make_frame({
        "reward": (s, reward),
        "reward_std": (s, np.abs(rng.normal(0.3, 0.05, n))),
        "kl": (s, cv.growth(rng, n, start=0.001, end=0.05, power=0.8, noise=0.25)),
        "entropy": (s, cv.saturating(rng, n, start=0.8, plateau=0.55, tau=150, noise=0.03)),
        "response_length": (s, cv.saturating(rng, n, start=400, plateau=360, tau=100, noise=15)),
        "grad_norm": (s, np.abs(rng.lognormal(-1.0, 0.5, n))),
        "val_reward": (s[9::10], np.clip(cv.saturating(rng, n // 10, start=0.3, plateau=0.66, tau=7, noise=0.01), 0, 1)),
    })


@pytest.mark.parametrize("seed", range(6))
def test_healthy_sft_raises_nothing(seed):
    report = run_checks(healthy_sft(seed), info_for("sft"))
    assert ids(report) == [], [a.message for a in report.at_least("warning")]


@pytest.mark.parametrize("seed", range(6))
def test_noisy_healthy_rft_raises_nothing(seed):
    report = run_checks(healthy_rft(seed), info_for("rft"))
    assert ids(report) == [], [a.message for a in report.at_least("warning")]


def test_a_very_high_first_loss_is_not_a_spike():
    rng = np.random.default_rng(1)
    loss = cv.power_law_loss(rng, 300, start=2.0, floor=1.0, noise=0.04)
    loss[0] = 14.75  # the first logged loss of a fresh adapter (real: sft-gemma3-1b-healthy)
    report = run_checks(make_frame({"train_loss": (cv.steps(300), loss)}), info_for("sft"))
    assert ids(report) == []


# --- faults at known steps ----------------------------------------------------------------------

def test_loss_spike_is_caught_at_its_step_with_grad_norm_evidence():
    rng = np.random.default_rng(7)
    n = 500
    loss = cv.spike(cv.power_law_loss(rng, n, start=2.0, floor=1.0, noise=0.04), 320, 4.0, decay_steps=5)
    grad = cv.spike(cv.grad_norm(rng, n, start=2.0, end=0.5), 319, 15.0)
    frame = make_frame({"train_loss": (cv.steps(n), loss), "grad_norm": (cv.steps(n), grad)})
    report = run_checks(frame, info_for("sft", learning_rate=5e-5, data_mixing=True))
    spikes = [a for a in report.alerts if a.detector == "loss_spike"]
    assert len(spikes) == 1 and spikes[0].step == 320
    assert spikes[0].evidence["grad_norm_spike_step"] == 319 and spikes[0].evidence["persistent"] is False
    assert "5x the 1e-05 default while data mixing is on" in spikes[0].remediation
    assert "step 320" in spikes[0].message and "4." in spikes[0].message


def test_persistent_loss_spike_is_critical():
    rng = np.random.default_rng(8)
    loss = cv.spike(cv.power_law_loss(rng, 400, start=2.0, floor=1.0, noise=0.03), 250, 2.5, decay_steps=8, settle=1.4)
    report = run_checks(make_frame({"train_loss": (cv.steps(400), loss)}), info_for("sft"))
    alert = next(a for a in report.alerts if a.detector == "loss_spike")
    assert alert.step == 250 and alert.severity == Severity.CRITICAL and alert.evidence["persistent"] is True


def test_nonfinite_from_the_first_step_and_isolated_overflow():
    nan_frame = make_frame({"train_loss": (cv.steps(50), np.full(50, np.nan)), "grad_norm": (cv.steps(50), np.full(50, np.nan))})
    alerts = run_checks(nan_frame, info_for("cpt")).alerts
    loss = next(a for a in alerts if a.detector == "nonfinite" and a.metric == "train_loss")
    assert loss.severity == Severity.CRITICAL and loss.evidence["from_first_step"] and "stop it now" in loss.remediation
    grad = np.ones(70)
    grad[32] = np.inf
    overflow = make_frame({"train_loss": (cv.steps(70), np.linspace(2, 1, 70)), "grad_norm": (cv.steps(70), grad)})
    alert = next(a for a in run_checks(overflow, info_for("sft")).alerts if a.detector == "nonfinite")
    assert (alert.step, alert.severity) == (33, Severity.WARNING)


@pytest.mark.parametrize("technique,words", [("cpt", "at most one epoch"), ("sft", "fewer epochs")])
def test_overfitting_names_the_best_step_and_the_technique_rule(technique, words):
    rng = np.random.default_rng(3)
    n, every = 600, 50
    ev = np.arange(every, n + 1, every)
    val = cv.val_loss_overfit(rng, ev, start=1.6, best=1.0, best_step=300, rise=0.12)
    frame = make_frame({"train_loss": (cv.steps(n), cv.power_law_loss(rng, n, start=2, floor=0.5, noise=0.02)),
                        "val_loss": (ev, val)})
    alert = next(a for a in run_checks(frame, info_for(technique)).alerts if a.detector == "overfitting")
    assert alert.evidence["best_step"] == 300
    assert alert.evidence["detected_at_step"] <= 300 + 2 * every  # within two eval points of the minimum
    assert "step 300" in alert.remediation and words in alert.remediation


def test_kl_spike_step_and_remediation_by_platform():
    rng = np.random.default_rng(4)
    n = 200
    kl = cv.spike(cv.growth(rng, n, start=0.002, end=0.03, noise=0.15), 120, 30.0, decay_steps=2)
    frame = make_frame({"kl": (cv.steps(n), kl), "reward": (cv.steps(n), np.linspace(0.3, 0.6, n))})
    smtj = next(a for a in run_checks(frame, info_for("rft", kl_loss_coef=0.001)).alerts if a.detector == "kl_spike")
    assert smtj.step == 120 and "Raise the KL loss coefficient (now 0.001)" in smtj.remediation
    info = info_for("rft")
    info.platform = "hyperpod"
    hyperpod = next(a for a in run_checks(frame, info).alerts if a.detector == "kl_spike")
    assert "gradient clipping" in hyperpod.remediation


def test_reward_plateau_zero_signal_at_the_floor_says_sft_first():
    rng = np.random.default_rng(5)
    n = 120
    frame = make_frame({"reward": (cv.steps(n), np.where(rng.random(n) < 0.1, 0.05, 0.0)),
                        "frac_reward_zero_std": (cv.steps(n), np.where(rng.random(n) < 0.1, 0.8, 1.0))})
    alert = next(a for a in run_checks(frame, info_for("rft")).alerts if a.detector == "reward_plateau")
    assert alert.severity == Severity.CRITICAL and alert.evidence["level"] == "floor"
    assert "lacks discriminative power" in alert.remediation and "SFT first" in alert.remediation


def test_reward_that_rose_and_levelled_off_is_not_a_plateau():
    report = run_checks(healthy_rft(11), info_for("rft"))
    assert next(r for r in report.results if r.detector == "reward_plateau").status == Status.OK


def test_reward_gaming_needs_two_signals():
    rng = np.random.default_rng(6)
    n = 300
    s = cv.steps(n)
    reward = np.clip(cv.saturating(rng, n, start=0.3, plateau=0.9, tau=40, noise=0.02), 0, 1)
    ev = s[9::10]
    val = np.where(ev <= 100, 0.3 + 0.1 * ev / 100, 0.4 - 0.15 * (ev - 100) / 200)
    length = 300 + 7500 / (1 + np.exp(-(s - 170) / 25))
    clip = np.clip(0.6 / (1 + np.exp(-(s - 200) / 25)), 0, 1)
    one_signal = make_frame({"reward": (s, reward), "val_reward": (ev, val)})
    assert "reward_gaming" not in ids(run_checks(one_signal, info_for("rft")))
    two = make_frame({"reward": (s, reward), "val_reward": (ev, val), "response_length": (s, length), "truncated_ratio": (s, clip)})
    alert = next(a for a in run_checks(two, info_for("rft", max_new_tokens=8192)).alerts if a.detector == "reward_gaming")
    assert alert.message.startswith("possible reward gaming") and set(alert.evidence["signals"]) >= {"held-out divergence", "length at the cap"}
    assert "two independent judges" in alert.remediation and "step 100" in alert.remediation


def test_entropy_collapse_and_loss_plateau_and_forgetting():
    rng = np.random.default_rng(9)
    n = 150
    entropy = 0.02 + 0.6 * np.exp(-cv.steps(n) / 20)
    assert "entropy_collapse" in ids(run_checks(make_frame({"entropy": (cv.steps(n), entropy)}), info_for("rft")))
    flat = make_frame({"train_loss": (cv.steps(300), 2.0 * np.exp(rng.normal(0, 0.02, 300)))})
    assert "loss_plateau" in ids(run_checks(flat, info_for("sft")))
    ev = np.arange(100, 601, 100)
    forgetting = make_frame({"train_loss": (cv.steps(600), np.linspace(2, 1, 600)),
                             "eval:mmlu": (ev, np.linspace(0.70, 0.64, len(ev)))})
    alert = next(a for a in run_checks(forgetting, info_for("sft")).alerts if a.detector == "forgetting")
    assert alert.metric == "eval:mmlu" and "general data" in alert.remediation


def test_kl_drift_and_negative_kl():
    n = 100
    high = make_frame({"kl": (cv.steps(n), np.linspace(0.1, 4.0, n))})
    assert any(a.evidence["kind"] == "over" for a in run_checks(high, info_for("rft")).alerts if a.detector == "kl_drift")
    negative = make_frame({"kl": (cv.steps(n), np.full(n, -0.05))})
    alert = next(a for a in run_checks(negative, info_for("rft")).alerts if a.detector == "kl_drift")
    assert alert.evidence["kind"] == "negative" and "top_k=0" in alert.remediation


def test_stalled_gap_in_wall_time_and_live():
    frame = make_frame({"train_loss": (cv.steps(10), np.linspace(2, 1, 10))})
    frame["wall_time"] = 1.7e9 + frame["step"] * 60.0
    frame.loc[frame.step >= 6, "wall_time"] += 3 * 3600
    alert = next(a for a in run_checks(frame, info_for("sft")).alerts if a.detector == "stalled")
    assert (alert.step, alert.step_end) == (5, 6)
    info = info_for("sft")
    info.live = True
    frame["wall_time"] = 1.0  # long ago
    assert any(a.severity == Severity.CRITICAL for a in run_checks(frame, info).alerts if a.detector == "stalled")


# --- contract ------------------------------------------------------------------------------------

def test_missing_metrics_are_skipped_with_a_reason_never_ok():
    report = run_checks(make_frame({"learning_rate": (cv.steps(50), np.full(50, 1e-5))}), info_for("sft"))
    for result in report.results:
        assert result.status == Status.SKIPPED and result.reason, result


def test_a_broken_detector_is_an_error_and_the_others_still_run(monkeypatch):
    def boom(frame, info, config):
        raise RuntimeError("kaput")

    spec = REGISTRY["kl_spike"]
    monkeypatch.setitem(REGISTRY, "kl_spike", type(spec)(**{**spec.__dict__, "check": boom}))
    report = run_checks(healthy_rft(1), info_for("rft"))
    broken = next(r for r in report.results if r.detector == "kl_spike")
    assert broken.status == Status.ERROR and "kaput" in broken.reason
    assert len(report.results) == len(REGISTRY)


def test_registry_is_complete():
    required = {"nonfinite", "loss_spike", "overfitting", "kl_spike", "reward_plateau", "reward_gaming"}
    expected = {"grad_norm_spike", "kl_drift", "entropy_collapse", "loss_plateau", "forgetting", "stalled"}
    assert set(REQUIRED) == required and set(REGISTRY) == required | expected
    for detector_id, spec in REGISTRY.items():
        assert spec.title and spec.catches and spec.remediation and spec.metrics
        for field in config_help(spec.config_type):
            assert field["help"], f"{detector_id}.{field['name']} has no help text"


def test_config_from_toml(tmp_path):
    path = tmp_path / "thresholds.toml"
    path.write_text("[loss_spike]\nz_threshold = 6.0\nwindow = 50\n")
    config = load_config(path)
    assert config["loss_spike"].z_threshold == 6.0 and config["loss_spike"].window == 50
    assert config["kl_spike"] == default_config()["kl_spike"]
    for text, message in [("[nope]\nx = 1\n", "unknown detector 'nope'"), ("[loss_spike]\nzz = 1\n", "unknown setting"),
                          ("[loss_spike]\nwindow = -3\n", "LossSpikeConfig.window: -3 is below the minimum"),
                          ("[loss_spike]\nz_threshold = 'high'\n", "expected a number"), ("[loss_spike\n", "invalid TOML")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_config(path)


# --- live: a growing prefix ------------------------------------------------------------------------

def _prefix(frame: pd.DataFrame, upto: int) -> pd.DataFrame:
    return frame[frame.step <= upto].reset_index(drop=True)


@pytest.mark.parametrize("fault,detector,onset,max_delay", [
    ("loss", "loss_spike", 320, 0),
    ("kl", "kl_spike", 120, 0),
])
def test_live_spikes_fire_at_their_step_and_are_never_withdrawn(fault, detector, onset, max_delay):
    rng = np.random.default_rng(12)
    n = 400
    if fault == "loss":
        frame = make_frame({"train_loss": (cv.steps(n), cv.spike(cv.power_law_loss(rng, n, start=2, floor=1, noise=0.04), onset, 4.0, decay_steps=4))})
        info = info_for("sft")
    else:
        frame = make_frame({"kl": (cv.steps(n), cv.spike(cv.growth(rng, n, start=0.002, end=0.03, noise=0.15), onset, 30.0, decay_steps=2))})
        info = info_for("rft")
    first_seen = None
    for upto in range(onset - 5, n + 1, 7 if fault == "loss" else 5):
        upto = max(upto, 1)
        found = [a for a in run_checks(_prefix(frame, min(upto, n)), info).alerts if a.detector == detector]
        if found and first_seen is None:
            first_seen = upto
        if first_seen is not None:
            assert any(a.step == onset for a in found), f"alert withdrawn at prefix {upto}"
    exact = [a for a in run_checks(_prefix(frame, onset), info).alerts if a.detector == detector]
    assert exact and exact[0].step == onset  # raised on the very step the spike arrived


@pytest.mark.parametrize("toml,message", [
    ("[loss_spike]\nwindow = 5.5\n", "LossSpikeConfig.window: expected a whole number, got 5.5"),
    ("[nonfinite]\nisolated_max = 2.0\n", "expected a whole number"),
    ("[entropy_collapse]\ncritical_fraction = 0.5\n", "critical_fraction: 0.5 must be at most collapse_fraction (0.1)"),
    ("[overfitting]\ncritical_rise = 0.001\n", "critical_rise: 0.001 must be at least min_rise (0.01)"),
])
def test_config_rejects_fractional_counts_and_contradicting_thresholds(tmp_path, toml, message):
    """Audit L6: a float window made loss_spike fail on every run; a critical threshold below the
    warning one was accepted."""
    from forge_monitor.detectors import load_config

    path = tmp_path / "thresholds.toml"
    path.write_text(toml)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(path)


def test_config_that_is_not_utf8_names_the_file(tmp_path):
    from forge_monitor.detectors import load_config

    path = tmp_path / "thresholds.toml"
    path.write_bytes(b"[loss_spike]\n# caf\xe9\nwindow = 5\n")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not UTF-8"):
        load_config(path)


def test_config_whole_numbers_for_float_thresholds_are_fine(tmp_path):
    """A whole number where a float is expected (critical_rise = 1) compares as a number."""
    path = tmp_path / "thresholds.toml"
    path.write_text("[overfitting]\ncritical_rise = 1\n[entropy_collapse]\ncritical_fraction = 0\n")
    config = load_config(path)
    assert config["overfitting"].critical_rise == 1 and config["entropy_collapse"].critical_fraction == 0


def test_config_from_a_fifo_is_refused_not_waited_on(tmp_path):
    """Audit L7: load_config on a FIFO blocked forever (only the CLI guarded it)."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "thresholds.toml"
    os.mkfifo(fifo)
    code = f"from forge_monitor.detectors import load_config\ntry:\n    load_config({str(fifo)!r})\nexcept ValueError as err:\n    print(err)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "not a regular file" in done.stdout, done.stderr
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ValueError, match="nested too deeply|invalid TOML"):
        load_config(deep)


# --- issue 16: the failure shapes that used to go unreported -------------------------------------

def _dpo(seed: int, n: int = 240, floor: float = 0.012) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = cv.steps(n)
    loss = (floor + (0.693 - floor) * np.exp(-s / 35)) * np.exp(rng.normal(0, 0.3, n) * (1 - np.exp(-s / 30)))
    grad = np.maximum(20 * np.exp(-s / 50), 0.8) * np.exp(rng.normal(0, 0.3, n))
    return s, loss, grad


def test_spiky_regime_is_reported_as_one_alert_where_it_starts():
    s, loss, grad = _dpo(3)
    spikes = list(range(120, 241, 6))
    for at in spikes:
        loss[at - 1], grad[at - 1] = 0.6, 45.0
    frame = make_frame({"train_loss": (s, loss), "grad_norm": (s, grad), "rewards/margins": (s, 6 * (1 - np.exp(-s / 60)))})
    alerts = [a for a in run_checks(frame, info_for("dpo", beta=0.1, max_grad_norm=10)).alerts if a.detector == "loss_spike"]
    regime = [a for a in alerts if a.evidence.get("kind") == "regime"]
    assert len(regime) == 1 and regime[0].step == 120 and regime[0].severity == Severity.CRITICAL
    assert regime[0].evidence["spikes"] == len(spikes) and f"{len(spikes)} spikes in the last" in regime[0].message
    assert "grad norm 45-45 at the spikes" in regime[0].message
    assert all(a.step < 120 for a in alerts if a is not regime[0])  # the single spikes inside it are folded in
    for words in ("Lower the LR", "max_grad_norm is 10", "higher beta (now 0.1)", "Inspect the batches at steps 120, 126"):
        assert words in regime[0].remediation


def test_a_few_isolated_spikes_and_a_noisy_dpo_loss_are_no_regime():
    s, loss, grad = _dpo(4, floor=0.15)
    info = info_for("dpo")
    assert "loss_spike" not in ids(run_checks(make_frame({"train_loss": (s, loss), "grad_norm": (s, grad)}), info))
    for at in (70, 150, 220):
        loss[at - 1] *= 4.0
    alerts = [a for a in run_checks(make_frame({"train_loss": (s, loss), "grad_norm": (s, grad)}), info).alerts
              if a.detector == "loss_spike"]
    assert not [a for a in alerts if a.evidence.get("kind") == "regime"]


@pytest.mark.parametrize("metric", ["actor/pg_loss", "critic/vf_loss", "actor/entropy", "critic/advantages/mean", "Actor Loss"])
def test_nonfinite_in_any_metric_that_matters(metric):
    n = 100
    s = cv.steps(n)
    bad = np.full(n, 0.1)
    bad[60:] = np.nan
    frame = make_frame({"reward": (s, np.linspace(0.2, 0.6, n)), "kl": (s, np.full(n, 0.01)), metric: (s, bad)})
    alert = next(a for a in run_checks(frame, info_for("rft")).alerts if a.detector == "nonfinite")
    assert (alert.metric, alert.step, alert.severity) == (metric, 61, Severity.CRITICAL)
    assert "computed from the policy's outputs" in alert.remediation


def test_informational_nan_stays_quiet():
    n = 100
    s = cv.steps(n)
    speed = np.full(n, 12.5)
    speed[:3] = np.nan  # Nova prints avg_samples/sec: nan in the first steps of healthy runs
    frame = make_frame({"train_loss": (s, np.linspace(2, 1, n)), "avg_samples/sec": (s, speed),
                        "perf/mfu/actor": (s, np.where(s % 50 == 0, np.nan, 0.4)), "reward_std": (s, np.where(s < 5, np.nan, 0.3))})
    assert "nonfinite" not in ids(run_checks(frame, info_for("sft")), at_least=Severity.INFO)


def _rl_to(top: float, *, seed: int, n: int = 200, lose_variance: bool, stat: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    s = cv.steps(n)
    reward = np.clip(cv.saturating(rng, n, start=0.3, plateau=top, tau=30, noise=0.02), 0, 1)
    if stat == "frac_reward_zero_std":
        values = 0.1 + (0.65 * (1 - np.exp(-s / 40)) if lose_variance else 0.15) + rng.normal(0, 0.03, n)
    else:
        values = (0.35 * np.exp(-s / 50) + 0.03 if lose_variance else 0.3) + rng.normal(0, 0.01, n)
    return make_frame({"reward": (s, reward), stat: (s, np.clip(values, 0, 0.97))})


@pytest.mark.parametrize("stat", ["frac_reward_zero_std", "reward_std"])
def test_reward_plateau_at_the_ceiling_once_the_groups_lose_their_variance(stat):
    alert = next(a for a in run_checks(_rl_to(1.0, seed=1, lose_variance=True, stat=stat), info_for("rft")).alerts
                 if a.detector == "reward_plateau")
    assert alert.evidence["kind"] == "ceiling" and "plateau at the ceiling" in alert.message
    assert "harder prompts" in alert.remediation and stat in alert.message
    quiet = run_checks(_rl_to(0.92, seed=2, lose_variance=False, stat=stat), info_for("rft"))
    assert "reward_plateau" not in ids(quiet)


def test_reward_frozen_at_the_floor_after_the_entropy_collapsed():
    rng = np.random.default_rng(8)
    n = 200
    s = cv.steps(n)
    reward = np.clip(cv.saturating(rng, n, start=0.2, plateau=0.55, tau=30, noise=0.03), 0, 1)
    reward[99:] = np.abs(rng.normal(0.004, 0.002, n - 99))
    entropy = np.where(s < 100, 0.8, 0.01) * np.exp(rng.normal(0, 0.05, n))
    alert = next(a for a in run_checks(make_frame({"reward": (s, reward), "entropy": (s, entropy)}), info_for("rft")).alerts
                 if a.detector == "reward_plateau")
    assert alert.evidence["kind"] == "frozen_floor" and alert.severity == Severity.CRITICAL and alert.step == 100
    assert "entropy collapsed" in alert.message and "before step 100" in alert.remediation
    steady = make_frame({"reward": (s, reward), "entropy": (s, np.full(n, 0.7))})  # no collapse: a rise then a drop, not this
    assert not [a for a in run_checks(steady, info_for("rft")).alerts if a.evidence.get("kind") == "frozen_floor"]


def test_reward_gaming_without_a_held_out_reward():
    n = 300
    s = cv.steps(n)
    rng = np.random.default_rng(12)
    rise = np.clip(cv.saturating(rng, n, start=0.3, plateau=0.85, tau=50, noise=0.01), 0, 1)
    score = np.where(s < 130, 0.3 + 0.3 * s / 130, 0.6 - 0.35 * (s - 130) / 170)
    capped = make_frame({"reward": (s, rise), "critic/score/mean": (s, score),
                         "response_length": (s, 300 + 1500 / (1 + np.exp(-(s - 130) / 20)))})
    alert = next(a for a in run_checks(capped, info_for("ppo", max_new_tokens=2048)).alerts if a.detector == "reward_gaming")
    assert set(alert.evidence["signals"]) == {"length at the cap", "task score falling"}
    assert "of the 2048-token cap" in alert.message and "critic/score/mean peaked" in alert.message
    collapse = make_frame({"reward": (s, rise), "response_length": (s, 2 + 180 / (1 + np.exp((s - 130) / 10))),
                           "rewards/format/mean": (s, np.clip(0.4 + 0.6 * s / n, 0, 1)),
                           "rewards/correct/mean": (s, np.where(s < 130, 0.35, 0.35 - 0.3 * (s - 130) / 170))})
    alert = next(a for a in run_checks(collapse, info_for("rft")).alerts if a.detector == "reward_gaming")
    assert {"length collapse", "component divergence"} <= set(alert.evidence["signals"])
    assert "near-empty completions" in alert.remediation
    format_only = make_frame({"reward": (s, 0.38 + 0.02 * s / n + rng.normal(0, 0.02, n)), "Fmt": (s, np.ones(n)),
                              "Correct": (s, np.where(rng.random(n) < 0.02, 0.125, 0.0))})
    alert = next(a for a in run_checks(format_only, info_for("rft")).alerts if a.detector == "reward_gaming")
    assert set(alert.evidence["signals"]) == {"proxy saturated", "task at the floor"}
    tracking = make_frame({"reward": (s, rise), "critic/score/mean": (s, rise - 0.01), "Fmt": (s, np.ones(n)),
                           "response_length": (s, 300 * (1 + 0.3 * s / n))})
    assert "reward_gaming" not in ids(run_checks(tracking, info_for("ppo", max_new_tokens=2048)))


def _long_loss(seed: int, *, plateau_at: int | None, schedule: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 4000
    curve = cv.power_law_loss(rng, n, start=2.6, floor=1.0, alpha=0.6, t0=50, noise=0.0)
    if plateau_at:
        curve[plateau_at:] = curve[plateau_at - 1]
    lr = (cv.lr_schedule(n, 2e-5, 200, kind="linear", constant=3400) if schedule == "wsd"
          else cv.lr_schedule(n, 2e-5, 200, kind="cosine"))
    s = np.arange(5, n + 1, 5)
    return make_frame({"train_loss": (s, curve[s - 1] * np.exp(rng.normal(0, 0.02, len(s)))), "learning_rate": (s, lr[s - 1])})


@pytest.mark.parametrize("technique", ["sft", "cpt"])
def test_slow_loss_plateau_with_the_lr_at_its_peak(technique):
    alert = next(a for a in run_checks(_long_loss(5, plateau_at=1600, schedule="wsd"), info_for(technique, max_steps=4000)).alerts
                 if a.detector == "loss_plateau")
    assert alert.evidence["kind"] == "slow" and 1400 <= alert.step <= 2600
    assert "slow loss plateau" in alert.message and "of its peak" in alert.message and "steps left" in alert.message
    assert ("at most one epoch" in alert.remediation) == (technique == "cpt")


def test_a_cpt_flattening_at_the_end_of_its_schedule_is_no_plateau():
    assert "loss_plateau" not in ids(run_checks(_long_loss(6, plateau_at=None, schedule="cosine"), info_for("cpt")))
    # The same stall with the LR decayed towards its floor is the schedule ending, not a plateau.
    frame = _long_loss(7, plateau_at=1600, schedule="cosine")
    frame.loc[frame.metric == "learning_rate", "value"] = 2e-5 * np.exp(-frame.loc[frame.metric == "learning_rate", "step"] / 600)
    assert "loss_plateau" not in ids(run_checks(frame, info_for("cpt")))
