"""The tidy frame a reader returns is the user's to change (a public data contract): its columns are
writable arrays, never read-only views into the parser's memory."""

from __future__ import annotations

import math

from forge_monitor.ingest import load_paths
from forge_monitor.synth.writers import nova_pipe


def test_a_loaded_frame_can_be_changed_in_place(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(nova_pipe([(s, {"lr": 1e-5, "global_step": s, "reduced_train_loss": 2 * math.exp(-s / 50)})
                              for s in range(1, 40)], total=40, step_seconds=2))
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 40)))
    for path in (log, jsonl):
        frame = load_paths([str(path)]).runs[0].frame
        frame.loc[frame.index[0], "value"] = 5.0
        frame["step"] += 1
        frame.iloc[1, frame.columns.get_loc("wall_time")] = 1.0
        assert frame["value"].iloc[0] == 5.0 and frame["step"].iloc[0] == 2
