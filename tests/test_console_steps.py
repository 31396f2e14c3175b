"""HF/TRL console dicts without a step take it from the tqdm counter printed beside them, when the
counters give the dicts increasing steps; where the two streams were buffered apart (every dict after
the bar's end), the order of the dicts is the step, as before."""

from __future__ import annotations

from pathlib import Path

from forge_monitor.ingest import LiveRun
from forge_monitor.schema import RunInfo

BAR = " 24%|██▍       | {n}/10485 [3:15:13<10:06:35,  4.59s/it]\n"


def _dict(loss: float) -> str:
    return f"{{'loss': {loss}, 'learning_rate': 0.0001768, 'epoch': 0.24}}\n\n"


def _read(path: Path, chunks: list[str]) -> tuple[list, list]:
    """Write ``chunks`` one by one, reading after each (a live follow); returns (steps, warnings)."""
    info = RunInfo(run_id="r", source=str(path), format="")
    live = LiveRun(info, [[path]])
    path.write_text("")
    for chunk in chunks:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(chunk)
        live.refresh()
    frame = live.frame
    return frame[frame.metric == "train_loss"].step.tolist(), info.warnings


def test_steps_from_the_tqdm_counter_also_when_read_in_pieces(tmp_path):
    text = [_dict(0.66) + BAR.format(n=2564) + BAR.format(n=2565), _dict(0.80) + BAR.format(n=2565) + BAR.format(n=2566),
            _dict(4.26) + BAR.format(n=2566) + BAR.format(n=2567), _dict(0.77) + BAR.format(n=2567)]
    whole, notes = _read(tmp_path / "whole.log", ["".join(text)])
    pieces, _ = _read(tmp_path / "pieces.log", text)
    assert whole == pieces == [2564, 2565, 2566, 2567]
    assert any("tqdm progress counter" in n for n in notes)


def test_buffered_apart_the_counters_are_not_used(tmp_path):
    bars = "".join(BAR.format(n=n) for n in range(1, 201))
    steps, notes = _read(tmp_path / "buffered.log", [bars + "".join(_dict(1.0 - i / 100) for i in range(5))])
    assert steps == [1, 2, 3, 4, 5]  # all five after "200/10485": the counter says nothing about them
    assert any("order of the logged dicts" in n for n in notes)
