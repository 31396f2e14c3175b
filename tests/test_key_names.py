"""Metric key names: canonical names are fixed points in every format; key names met in real logs."""

from __future__ import annotations

import pytest

from forge_monitor.ingest import load_paths
from forge_monitor.schema import CANONICAL_METRICS, canonical_name
from forge_monitor.synth import writers

# Values a metric could take (positive, and distinct per metric so a mix-up shows).
VALUES = {name: 0.125 * (index + 1) for index, name in enumerate([*CANONICAL_METRICS, "eval:accuracy"])}
STEPS = (1, 2, 3)


def _rows(names):
    return [(step, {name: VALUES[name] * step for name in names}) for step in STEPS]


def _tensorboard(path, names):
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(path)) as writer:
        for step, values in _rows(names):
            for name, value in values.items():
                writer.add_scalar(name, value, step)


def _write(fmt: str, folder, names) -> None:
    """One file of ``fmt`` in ``folder`` whose keys are exactly ``names``."""
    rows = _rows(names)
    if fmt == "jsonl":
        (folder / "metrics.jsonl").write_text("".join(
            "{" + ", ".join([f'"step": {s}'] + [f'"{k}": {v}' for k, v in vals.items()]) + "}\n" for s, vals in rows))
    elif fmt == "csv":
        (folder / "metrics.csv").write_text(
            ",".join(["step", *names]) + "\n" + "".join(",".join([str(s), *(str(v) for v in vals.values())]) + "\n" for s, vals in rows))
    elif fmt == "nova_pipe":
        (folder / "train.log").write_text(writers.nova_pipe([(s, {"global_step": s, **v}) for s, v in rows], total=3, step_seconds=1.0))
    elif fmt == "nova_progress":
        (folder / "train.log").write_text(writers.nova_progress(rows, step_seconds=1.0, samples_per_step=8))
    elif fmt == "verl":
        (folder / "train.log").write_text(writers.verl(rows, step_seconds=1.0))
    elif fmt == "hf_trainer_state":
        (folder / "trainer_state.json").write_text(writers.trainer_state(rows, header={"global_step": 3}))
    elif fmt == "hf_console":
        (folder / "stdout.log").write_text("".join("{" + ", ".join([f"'step': {s}"] + [f"'{k}': {v}" for k, v in vals.items()]) + "}\n"
                                                   for s, vals in rows))
    elif fmt == "tensorboard":
        _tensorboard(folder / "runs", names)
    else:
        raise AssertionError(fmt)


TEXT_FORMATS = ("nova_pipe", "nova_progress", "verl")  # key:value grammars: a key cannot hold a colon
FORMATS = ("jsonl", "csv", "hf_trainer_state", "hf_console", "tensorboard", *TEXT_FORMATS)


def test_every_canonical_name_maps_to_itself():
    for name in CANONICAL_METRICS:
        assert canonical_name(name) == name
    for name in ("eval:accuracy", "eval:mmlu", "eval:reward"):
        assert canonical_name(name) == name


@pytest.mark.parametrize("fmt", FORMATS)
def test_canonical_names_read_back_as_themselves_in_every_format(tmp_path, fmt):
    names = list(CANONICAL_METRICS)
    if fmt not in TEXT_FORMATS:
        names.append("eval:accuracy")
    _write(fmt, tmp_path, names)
    result = load_paths([str(tmp_path)])
    assert not result.errors and not result.problems, (result.errors, result.problems)
    assert len(result.runs) == 1
    run = result.runs[0]
    assert run.info.format == fmt
    frame = run.frame
    read = set(frame.metric.astype(str))
    assert set(names) <= read, f"{fmt}: not read as themselves: {sorted(set(names) - read)}"
    for name in names:
        series = frame[frame.metric == name].set_index("step").value
        assert list(series.index) == list(STEPS), (fmt, name)
        assert series.iloc[-1] == pytest.approx(VALUES[name] * 3, rel=1e-2), (fmt, name)  # tqdm prints 3 digits


# --- key names met in real logs ----------------------------------------------------------------

LIGHTNING_CSV = (  # Lightning CSVLogger metrics.csv: rows per logging call, empty cells elsewhere
    "epoch,lr-AdamW,step,train_loss_epoch,train_loss_step,val_loss\n"
    "0,0.001,49,,0.9,\n"
    "0,,99,,0.8,\n"
    "0,,99,,,0.85\n"
    "0,,99,0.95,,\n"
    "1,0.0009,149,,0.7,\n"
)


def _one_run(path):
    result = load_paths([str(path)])
    assert not result.errors and not result.problems, (result.errors, result.problems)
    (run,) = result.runs
    return run


def _series(run, metric):
    frame = run.frame
    return frame[frame.metric == metric].set_index("step").value.to_dict()


def test_lightning_csvlogger_names(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(LIGHTNING_CSV)
    run = _one_run(path)
    assert _series(run, "train_loss") == {49: 0.9, 99: 0.8, 149: 0.7}  # the per-step value, not the epoch mean
    assert _series(run, "train_loss_epoch") == {99: 0.95}
    assert _series(run, "val_loss") == {99: 0.85}
    assert _series(run, "learning_rate") == {49: 0.001, 149: 0.0009}


@pytest.mark.parametrize("key,expected", [
    ("train_loss_step", ("train_loss", 1.0)), ("train_loss_epoch", ("train_loss_epoch", 1.0)),
    ("val_loss_epoch", ("val_loss", 1.0)), ("val_loss_step", ("val_loss_step", 1.0)),
    ("val_acc_epoch", ("eval:acc", 1.0)), ("lr-AdamW", ("learning_rate", 1.0)), ("lr-SGD/pg1", ("learning_rate", 1.0)),
    ("lr-AdamW/pg2", ("lr-AdamW/pg2", 1.0)), ("lr-AdamW-momentum", ("lr-AdamW-momentum", 1.0)),
    ("train/lr(1e-3)", ("learning_rate", 1e-3)), ("train/loss", ("train_loss", 1.0)), ("val/loss", ("val_loss", 1.0)),
    ("global_step", ("global_step", 1.0)), ("step_time", ("step_time", 1.0)),
])
def test_canonical_key_of_real_names(key, expected):
    from forge_monitor.schema import canonical_key

    assert canonical_key(key) == expected


def test_verl_sft_console_names_and_the_lr_unit(tmp_path):
    path = tmp_path / "sft.log"
    path.write_text("step:1 - train/loss:2.5 - train/lr(1e-3):0.01\n"
                    "step:2 - train/loss:2.3 - train/lr(1e-3):0.02\n"
                    "step:2 - val/loss:2.4\n")
    run = _one_run(path)
    assert run.info.format == "verl"
    assert _series(run, "train_loss") == {1: 2.5, 2: 2.3}
    assert _series(run, "val_loss") == {2: 2.4}
    assert _series(run, "learning_rate") == pytest.approx({1: 1e-5, 2: 2e-5})  # the LR in units of 1e-3


def test_trainer_state_predict_row_is_skipped_with_its_reason(tmp_path):
    import json

    history = [{"loss": 2.0, "step": 10, "epoch": 0.1}, {"eval_loss": 1.9, "step": 10, "epoch": 0.1},
               {"train_runtime": 5.0, "train_loss": 1.8, "step": 20, "epoch": 1.0},
               {"predict_loss": 1.7, "predict_runtime": 3.0, "predict_samples_per_second": 10.0}]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"global_step": 20, "log_history": history}))
    run = _one_run(path)
    assert _series(run, "train_loss") == {10: 2.0}
    (skipped,) = run.info.skipped
    assert skipped.line == 4 and "predict_* results with no step" in skipped.reason
    assert run.info.final_metrics["predict_loss"] == 1.7


LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "4d" * 32 + "\nsize 12345\n"


def test_a_git_lfs_pointer_is_named_as_such(tmp_path):
    events = tmp_path / "runs" / "events.out.tfevents.1700000000.host.1.0"
    events.parent.mkdir()
    events.write_text(LFS)
    state = tmp_path / "out" / "trainer_state.json"
    state.parent.mkdir()
    state.write_text(LFS)
    folder = load_paths([str(tmp_path)])
    assert not folder.runs
    assert sorted(p.path for p in folder.problems) == [f"{tmp_path}/out/trainer_state.json", f"{tmp_path}/runs/{events.name}"]
    assert all(p.reason.startswith("a Git LFS pointer, not the data") for p in folder.problems)
    named = load_paths([str(events)])
    assert not named.runs and named.errors[0].reason.startswith("a Git LFS pointer, not the data")
