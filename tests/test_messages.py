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


def test_recipe_check_loads_an_example_and_shows_whole_numbers_as_integers():
    """Review L8: an empty Recipe check page offers an example; warmup_steps 60, not 60.0."""
    from streamlit.testing.v1 import AppTest

    from conftest import PROJECT_ROOT

    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90).run()
    at.switch_page("pages/recipe.py").run()
    assert not at.exception and not at.dataframe  # empty until a recipe is given
    at.button(key="recipe_example").click().run()
    assert not at.exception, at.exception
    assert "lr_off_default_with_mixing" in " ".join(m.value for m in at.markdown)
    view = at.dataframe[0].value
    values = dict(zip(view["field"], view["value"]))
    whole = [v for k, v in values.items() if k in ("warmup_steps", "max_steps")]
    assert whole and all("." not in v for v in whole), values
