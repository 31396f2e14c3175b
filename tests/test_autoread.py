"""Text logs of no known format, read by their shape when no metric definitions are given (issue 16)."""

from __future__ import annotations

import math

import pytest

from forge_monitor.ingest import FormatError, load_paths, parse_definitions, sniff
from forge_monitor.ingest.autoread import metric_name, read_line


def _value(frame, metric, step):
    return float(frame[(frame.metric == metric) & (frame.step == step)].value.iloc[0])


def _only(path, **kwargs):
    result = load_paths([str(path)], **kwargs)
    assert not result.errors and not result.problems, (result.errors, result.problems)
    return result.runs[0]


@pytest.mark.parametrize("template,step_of", [
    ("s:{s} trl:{loss:.4f} lr:0.0003 norm:{norm:.2f}", lambda s: s),  # llm.c
    ("step {s:4d}/500 | loss {loss:.6f} (+nanz)| norm {norm:.4f} (+nanz)| lr 6.00e-04 | 3598.49 ms | 37.5% bf16 MFU", lambda s: s),
    ("Epoch:[1/3]({s}/500), Loss: {loss:.4f}, Grad Norm: {norm:.3f}, Tokens/s: 12.5k", lambda s: s),  # (N/M) counter
    ("2026-03-01 21:00:00 INFO iter={s} loss={loss:.4f} grad_norm={norm:.3f} mem=31.2GB", lambda s: s),
    ("Step {s}: loss={loss:.4f}, grad_norm={norm:.3f}", lambda s: s),
])
def test_key_value_lines_with_a_step_counter_are_read(tmp_path, template, step_of):
    path = tmp_path / "train.log"
    lines = ["starting run, 8 GPUs, seed 42", "config: batch 32, lr 3e-4"]
    lines += [template.format(s=s, loss=3.0 - 0.001 * s, norm=1.0 + s / 1000) for s in range(1, 41)]
    path.write_text("\n".join(lines) + "\n")
    run = _only(path)
    assert run.info.format == "autoread"
    frame = run.frame
    assert _value(frame, "train_loss", step_of(7)) == pytest.approx(2.993)
    assert _value(frame, "grad_norm", step_of(40)) == pytest.approx(1.04)
    assert frame[frame.metric == "train_loss"].step.nunique() == 40
    # Values a unit is glued to (37.5%, 12.5k, 31.2GB, 3598.49 ms) are not metrics.
    assert not {"MFU", "Tokens/s", "mem"} & set(frame.metric)
    warning = next(w for w in run.info.warnings if w.startswith("read without metric definitions"))
    assert "train_loss" in warning and "from 40 lines" in warning


def test_a_step_less_line_takes_the_last_step_and_a_rare_key_recurring_twice_is_kept(tmp_path):
    path = tmp_path / "main.log"
    lines = []
    for s in range(1, 21):
        lines.append(f"step {s}/20 | loss {2 - s / 100:.3f} | lr 1e-4")
        if s % 10 == 0:
            lines.append(f"val loss {1.9 - s / 200:.3f}")
    lines.append("val loss nan")
    path.write_text("\n".join(lines) + "\n")
    frame = _only(path).frame
    assert _value(frame, "val_loss", 10) == pytest.approx(1.85) and _value(frame, "val_loss", 20) != _value(frame, "val_loss", 10)
    assert len(frame[frame.metric == "val_loss"]) == 2 and math.isnan(_value(frame, "val_loss", 20))  # nan replaced step 20's


def test_metric_definitions_still_win(tmp_path):
    path = tmp_path / "main.log"
    path.write_text("".join(f"s:{s} trl:{3 - s / 100:.3f} norm:1.5\n" for s in range(1, 21)))
    definitions = parse_definitions({"StepRegex": r"^s:(\d+)", "MetricDefinitions": [{"Name": "my_loss", "Regex": r"trl:([0-9.]+)"}]})
    run = _only(path, definitions=definitions)
    assert run.info.format == "metric_definitions" and set(run.frame.metric) == {"my_loss"}
    assert not any(w.startswith("read without metric definitions") for w in run.info.warnings)


@pytest.mark.parametrize("text", [
    "meeting notes\nwe trained for 3 epochs: it went fine\n",
    "".join(f" 24%|##4       | {s}/10485 [3:15:13<10:06:35,  4.59s/it]\n" for s in range(2560, 2600)),  # bars only
    "".join(f"s:{s} trl:{3 - s / 100:.3f}\n" for s in range(1, 5)),  # four lines prove nothing
    "".join(f"Step {s}: downloaded 30.5MB, 12% done\n" for s in range(1, 30)),  # numbers with units
])
def test_files_without_recurring_metric_lines_stay_unrecognized(tmp_path, text):
    path = tmp_path / "thing.log"
    path.write_text(text)
    with pytest.raises(FormatError, match="unrecognized format"):
        sniff(path, path.read_bytes())


def test_a_followed_log_reads_appended_lines_once(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"s:{s} trl:{3 - s / 100:.3f} lr:1e-4\n" for s in range(1, 11)))
    run = _only(path)
    with open(path, "a") as handle:
        handle.write("".join(f"s:{s} trl:{3 - s / 100:.3f} lr:1e-4\n" for s in range(11, 21)))
    run.live.refresh()
    loss = run.live.frame[run.live.frame.metric == "train_loss"]
    assert loss.step.tolist() == list(range(1, 21)) and not run.info.restarts
    assert _value(run.live.frame, "train_loss", 20) == pytest.approx(2.8)
    assert "from 20 lines" in next(w for w in run.info.warnings if w.startswith("read without metric definitions"))


def test_key_names_go_through_the_canonical_map():
    assert metric_name("Avg Response Len") == "response_length" and metric_name("KL_ref") == "kl"
    assert metric_name("Actor Loss") == "policy_loss" and metric_name("INFO training loss") == "train_loss"
    assert metric_name("Reward") == "reward" and metric_name("Correct") == "Correct"
    assert read_line("Epoch:[1/1](12/9751), Reward: -2.3041, Adv Std: 0.9258") == (12, {"Reward": -2.3041, "Adv Std": 0.9258})
