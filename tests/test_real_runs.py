"""The 22 real third-party runs of ../shared/real-runs, read in place, checked against MANIFEST.md."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from forge_monitor.ingest import load_paths, parse_definitions

# run folder -> (format, logged steps, first step, last step, canonical metrics that must be there)
EXPECTED = {
    "sft-tinyllama-lora-healthy": ("hf_trainer_state", 196, 15, 2800, {"train_loss", "val_loss", "grad_norm", "learning_rate"}),
    "sft-gemma3-1b-healthy": ("hf_trainer_state", 76, 50, 3765, {"train_loss", "val_loss", "grad_norm", "learning_rate"}),
    "sft-mistral7b-lora-medbot-healthy": ("hf_trainer_state", 642, 25, 16050, {"train_loss", "grad_norm", "learning_rate"}),
    "cpt-luojiu-llama2-7b-3ep": ("hf_trainer_state", 1742, 5, 8710, {"train_loss", "learning_rate"}),
    "sft-baize-tcm-9ep-memorize": ("hf_trainer_state", 6687, 1, 6687, {"train_loss", "grad_norm", "learning_rate"}),
    "sft-qwen25-7b-medical-late-overfit": ("llamafactory_jsonl", 675, 10, 6750, {"train_loss", "val_loss", "learning_rate", "epoch"}),
    "sft-llama2-qlora-inf-gradnorm": ("hf_trainer_state", 70, 1, 70, {"train_loss", "grad_norm", "learning_rate"}),
    "vit-skin-cls-overfit": ("hf_trainer_state", 892, 10, 8920, {"train_loss", "val_loss", "eval:accuracy", "grad_norm"}),
    "whisper-small-hi-overfit": ("hf_trainer_state", 200, 25, 5000, {"train_loss", "val_loss", "eval:wer"}),
    "dpo-gemma2b-lora-spiky": ("hf_trainer_state", 200, 1, 200, {"train_loss", "grad_norm", "rewards/margins"}),
    "grpo-trl-qwen35-9b-healthy": ("hf_console", 200, 1, 200, {"reward", "reward_std", "kl", "response_length", "grad_norm"}),
    "grpo-trl-qwen35-9b-kl-spike": ("hf_console", 200, 1, 200, {"reward", "reward_std", "kl", "response_length", "grad_norm"}),
    "grpo-trl-qwen25-7b-collapse-gibberish": ("hf_console", 40, 1, 40, {"reward", "frac_reward_zero_std", "entropy", "response_length", "truncated_ratio"}),
    "grpo-trl-qwen25-7b-collapse-repetition": ("hf_console", 40, 1, 40, {"reward", "frac_reward_zero_std", "entropy", "response_length", "truncated_ratio"}),
    "ppo-verl-gsm8k-qwen7b-plateau": ("verl", 335, 101, 435, {"approx_kl", "clip_fraction", "policy_loss", "grad_norm"}),
    "grpo-trl-multireward-length-cap": ("hf_trainer_state", 40, 5, 200, {"reward", "kl", "response_length", "truncated_ratio", "frac_reward_zero_std"}),
    "grpo-trl-zero-signal": ("hf_trainer_state", 100, 1, 100, {"reward", "reward_std", "frac_reward_zero_std", "kl", "entropy"}),
    # Steps from the tqdm counters printed beside the dicts (issue 16), as the manifest reads them.
    "issue-llava918-loss-spike": ("hf_console", 6, 2564, 2569, {"train_loss", "learning_rate", "epoch"}),
}

EXOTIC = {
    # folder -> (metric definitions the user would write, steps, checks)
    "pretrain-gpt2-124m-llmc-healthy": {
        "StepRegex": r"^s:(\d+) ",
        "MetricDefinitions": [{"Name": "train_loss", "Regex": r" trl:([0-9.eE+-]+|nan)"},
                              {"Name": "val_loss", "Regex": r" tel:([0-9.eE+-]+|nan)"},
                              {"Name": "learning_rate", "Regex": r" lr:([0-9.eE+-]+)"},
                              {"Name": "grad_norm", "Regex": r" norm:([0-9.eE+-]+|nan)"}],
    },
    "pretrain-gpt2-124m-llmc-nan": {
        "StepRegex": r"^step\s+(\d+)/",
        "MetricDefinitions": [{"Name": "train_loss", "Regex": r"\| loss\s+([0-9.eE+-]+|nan)"},
                              {"Name": "grad_norm", "Regex": r"\| norm\s+([0-9.eE+-]+|nan)"},
                              {"Name": "val_loss", "Regex": r"^val loss ([0-9.eE+-]+|nan)"}],
    },
    "grpo-minimind-rm-plateau": {
        "StepRegex": r"\((\d+)/\d+\)",
        "MetricDefinitions": [{"Name": "reward", "Regex": r"Reward: (-?[0-9.]+)"},
                              {"Name": "kl", "Regex": r"KL_ref: (-?[0-9.]+)"},
                              {"Name": "response_length", "Regex": r"Avg Response Len: ([0-9.]+)"}],
    },
    "grpo-minimind-r1-format-only": {
        "StepRegex": r"\((\d+)/\d+\)",
        "MetricDefinitions": [{"Name": "reward", "Regex": r"Reward: (-?[0-9.]+)"},
                              {"Name": "eval:format", "Regex": r"Fmt: ([0-9.]+)"},
                              {"Name": "eval:correct", "Regex": r"Correct: ([0-9.]+)"},
                              {"Name": "kl", "Regex": r"KL_ref: (-?[0-9.]+)"}],
    },
}


def _only_run(path, **kwargs):
    result = load_paths([str(path)], **kwargs)
    assert not result.errors, result.errors
    assert len(result.runs) == 1, [r.info.run_id for r in result.runs]
    return result.runs[0]


def test_all_22_real_runs_ingest_without_an_exception(real_runs):
    folders = sorted(p for p in real_runs.iterdir() if p.is_dir())
    assert len(folders) == 22
    result = load_paths([str(real_runs)])
    # The four text logs of no known format are read by their shape (issue 16): none is left over.
    assert {r.info.run_id.split("/")[0] for r in result.runs} == set(EXPECTED) | set(EXOTIC)
    assert not result.problems and not result.errors
    auto = {r.info.run_id.split("/")[0] for r in result.runs if r.info.format == "autoread"}
    assert auto == set(EXOTIC)


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_real_run_matches_the_manifest(real_runs, folder):
    fmt, count, first, last, metrics = EXPECTED[folder]
    run = _only_run(real_runs / folder)
    frame = run.frame
    assert run.info.format == fmt
    assert frame.step.nunique() == count
    assert (frame.step.min(), frame.step.max()) == (first, last)
    assert metrics <= set(frame.metric)
    assert run.info.lines_skipped == 0 and not run.info.restarts


def _at(frame, metric, step):
    return float(frame[(frame.metric == metric) & (frame.step == step)].value.iloc[0])


def test_manifest_evidence_points(real_runs):
    kl = _only_run(real_runs / "grpo-trl-qwen35-9b-kl-spike").frame
    assert _at(kl, "kl", 71) == pytest.approx(17.76, abs=0.01) and _at(kl, "kl", 70) == pytest.approx(0.37, abs=0.01)
    assert _at(kl, "grad_norm", 71) == pytest.approx(154.6, abs=0.1)
    inf = _only_run(real_runs / "sft-llama2-qlora-inf-gradnorm").frame
    assert math.isinf(_at(inf, "grad_norm", 33)) and _at(inf, "train_loss", 33) == pytest.approx(0.3391)
    gemma = _only_run(real_runs / "sft-gemma3-1b-healthy").frame
    assert _at(gemma, "train_loss", 50) == pytest.approx(14.75, abs=0.01)
    assert _at(gemma, "val_loss", 3765) == pytest.approx(0.7327, abs=1e-4)
    late = _only_run(real_runs / "sft-qwen25-7b-medical-late-overfit").frame
    assert _at(late, "val_loss", 4500) == pytest.approx(1.5518, abs=1e-4)
    val = late[late.metric == "val_loss"]
    assert len(val) == 13 and int(val.step[val.value.idxmin()]) == 4500
    vit = _only_run(real_runs / "vit-skin-cls-overfit").frame
    vit_val = vit[vit.metric == "val_loss"]
    assert len(vit_val) == 89 and int(vit_val.step[vit_val.value.idxmin()]) == 2600
    llava = _only_run(real_runs / "issue-llava918-loss-spike").frame
    assert llava[llava.metric == "train_loss"].value.tolist() == [0.6623, 0.8022, 4.2653, 0.77, 0.556, 0.8223]
    assert llava[llava.metric == "train_loss"].step.tolist() == list(range(2564, 2570))  # the spike at 2566
    zero = _only_run(real_runs / "grpo-trl-zero-signal").frame
    assert (zero[zero.metric == "frac_reward_zero_std"].value == 1.0).sum() == 84
    length = _only_run(real_runs / "grpo-trl-multireward-length-cap").frame
    assert _at(length, "reward", 200) == pytest.approx(-0.487, abs=1e-3)
    ppo = _only_run(real_runs / "ppo-verl-gsm8k-qwen7b-plateau").frame
    assert "critic/score/mean" in set(ppo.metric)


@pytest.mark.parametrize("folder", sorted(EXOTIC))
def test_exotic_logs_parse_with_metric_definitions(real_runs, folder):
    # Definitions, when given, still win over reading the file by its shape.
    run = _only_run(real_runs / folder, definitions=parse_definitions(EXOTIC[folder], folder))
    frame = run.frame
    assert run.info.format == "metric_definitions"
    if folder == "pretrain-gpt2-124m-llmc-healthy":
        assert frame[frame.metric == "train_loss"].step.nunique() == 19552
        val = frame[frame.metric == "val_loss"]
        assert len(val) == 80 and _at(frame, "val_loss", 0) == pytest.approx(11.0095)
        assert val.value.min() == pytest.approx(3.2731, abs=1e-4)
    elif folder == "pretrain-gpt2-124m-llmc-nan":
        loss = frame[frame.metric == "train_loss"]
        assert len(loss) == 902 and loss.value.isna().all()  # MANIFEST says 901; the file holds steps 1-902
        assert frame[frame.metric == "val_loss"].value.isna().all()
    elif folder == "grpo-minimind-rm-plateau":
        assert frame[frame.metric == "reward"].step.nunique() == 9751
        assert _at(frame, "reward", 1) == pytest.approx(-2.3041)
    else:
        assert frame[frame.metric == "reward"].step.nunique() == 500
        assert (frame[frame.metric == "eval:format"].value == 1.0).mean() > 0.99


# folder -> (canonical metric read by shape, the definitions' name for it, steps, key named in the warning)
AUTO = {
    "pretrain-gpt2-124m-llmc-healthy": [("train_loss", "train_loss", 19552, "'trl'"), ("val_loss", "val_loss", 80, "'tel'"),
                                        ("grad_norm", "grad_norm", 19552, "'norm'"), ("learning_rate", "learning_rate", 19552, "'lr'")],
    "pretrain-gpt2-124m-llmc-nan": [("train_loss", "train_loss", 902, "'loss'"), ("grad_norm", "grad_norm", 901, "'norm'"),
                                    ("val_loss", "val_loss", 3, "'val loss'")],
    "grpo-minimind-rm-plateau": [("reward", "reward", 9751, "'Reward'"), ("kl", "kl", 9751, "'KL_ref'"),
                                 ("response_length", "response_length", 9751, "'Avg Response Len'")],
    "grpo-minimind-r1-format-only": [("reward", "reward", 500, "'Reward'"), ("Fmt", "eval:format", 500, "'Fmt'"),
                                     ("Correct", "eval:correct", 500, "'Correct'"), ("kl", "kl", 500, "'KL_ref'")],
}


@pytest.mark.parametrize("folder", sorted(AUTO))
def test_text_logs_without_definitions_are_read_by_their_shape(real_runs, folder):
    auto = _only_run(real_runs / folder)
    regex = _only_run(real_runs / folder, definitions=parse_definitions(EXOTIC[folder], folder))
    assert auto.info.format == "autoread" and auto.info.lines_skipped == 0 and not auto.info.restarts
    warning = next(w for w in auto.info.warnings if w.startswith("read without metric definitions"))
    for name, regex_name, count, key in AUTO[folder]:
        mine = auto.frame[auto.frame.metric == name].set_index("step").value
        theirs = regex.frame[regex.frame.metric == regex_name].set_index("step").value
        assert len(mine) == count, (name, len(mine))
        # The same numbers at the same steps as the user's own regexes read (NaN equal to NaN).
        assert mine.index.equals(theirs.index) and np.allclose(mine.to_numpy(), theirs.to_numpy(), equal_nan=True), name
        assert re.search(re.escape(key) + r"\)? from " + str(count) + " lines", warning), (key, warning)
