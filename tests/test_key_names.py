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
