"""The tidy-frame contract and the canonical names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forge_monitor.schema import CANONICAL_METRICS, SOURCE_KEY_MAP, canonical_name, empty_frame, validate_frame


@pytest.mark.parametrize("key,canonical", [
    ("loss", "train_loss"), ("reduced_train_loss", "train_loss"), ("trl", "train_loss"),
    ("eval_loss", "val_loss"), ("tel", "val_loss"), ("actor/lr", "learning_rate"), ("norm", "grad_norm"),
    ("train_rm_score", "reward"), ("critic/rewards/mean", "reward"), ("val-score/rewards/mean@1", "val_reward"),
    ("KL_ref", "kl"), ("actor/ppo_kl", "approx_kl"), ("ent", "entropy"), ("completions/mean_length", "response_length"),
    ("response_length/clip_ratio", "truncated_ratio"), ("train_step_timing in s", "step_time"),
    ("eval_accuracy", "eval:accuracy"), ("eval_mmlu", "eval:mmlu"), ("eval_runtime", "eval_runtime"),
    ("something/else", "something/else"),
])
def test_canonical_names(key, canonical):
    assert canonical_name(key) == canonical


def test_every_mapping_target_is_canonical():
    assert set(SOURCE_KEY_MAP.values()) <= set(CANONICAL_METRICS)


def _frame(**overrides):
    data = {"run_id": ["r", "r"], "step": np.array([1, 2], dtype=np.int64), "metric": ["train_loss"] * 2,
            "value": [1.0, np.nan], "wall_time": [np.nan, np.nan]}
    data.update(overrides)
    return pd.DataFrame(data)


def test_validate_accepts_a_good_frame_with_nan():
    validate_frame(_frame())
    validate_frame(empty_frame())


@pytest.mark.parametrize("overrides,message", [
    ({"step": [1.0, 2.0]}, "step must be int64"),
    ({"step": np.array([1, 1], dtype=np.int64)}, "duplicated"),
    ({"metric": ["train_loss", None]}, "metric has 1 missing"),
    ({"value": ["a", "b"]}, "value must be float64"),
])
def test_validate_names_every_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        validate_frame(_frame(**overrides))


def test_validate_missing_column():
    with pytest.raises(ValueError, match="missing columns"):
        validate_frame(_frame().drop(columns="wall_time"))


def test_importing_the_library_does_not_import_streamlit_plotly_or_boto3():
    import subprocess
    import sys

    code = ("import sys, forge_monitor, forge_monitor.ingest, forge_monitor.schema, forge_monitor.cli, forge_monitor.samples; "
            "print([m for m in ('streamlit', 'plotly', 'boto3') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
