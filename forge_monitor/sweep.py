"""The sweep table: hyperparameters, base and tuned target metric, relative change, place, alerts.

Built from runs whose ``RunInfo.final_metrics`` hold ``base_score`` and ``tuned_score`` (read from an
``eval_results.json`` next to the log), like the tables practitioners publish for HPO sweeps. Column
names cannot be confused (M5 of the UX review: "rank" was the LoRA rank and "place" the ranking); each
has a line of help, shown as the column's tooltip.
"""

from __future__ import annotations

import pandas as pd

# Column -> its tooltip, in display order: the run, the target metric, then the hyperparameters.
SWEEP_HELP = {
    "run": "the run's folder",
    "dataset": "the evaluation dataset (runs are placed within it)",
    "tuned score %": "target metric of the tuned model, from eval_results.json",
    "relative gain %": "(tuned - base) / base, in %",
    "place in dataset": "1 = the best tuned score among the runs on the same dataset",
    "base score %": "target metric of the base model before tuning",
    "LoRA rank": "LoRA adapter rank (r)",
    "LoRA alpha": "LoRA scaling (alpha); the update is scaled by alpha / rank",
    "global batch size": "samples per optimizer step, across all devices",
    "learning rate": "peak learning rate",
    "max steps": "optimizer steps the run was set to take",
    "warmup steps": "learning-rate warmup, in optimizer steps",
    "alerts": "warning and critical alerts the detectors raised on this run",
}
SWEEP_PINNED = ("run",)


def sweep_table(runs, reports) -> pd.DataFrame:
    """One row per run with base and tuned scores; ``run id`` (the full id) last, for the page to map
    a ticked row back to its run."""
    rows = []
    for run in runs:
        info = run.info
        base, tuned = info.final_metrics.get("base_score"), info.final_metrics.get("tuned_score")
        if not isinstance(base, (int, float)) or not isinstance(tuned, (int, float)):
            continue
        hp = info.hyperparameters
        report = reports.get(info.run_id)
        rows.append({
            "run": info.run_id.split("/")[0],
            "dataset": info.final_metrics.get("dataset", ""),
            "tuned score %": round(tuned, 2),
            "relative gain %": round(100 * (tuned - base) / base, 2) if base else None,
            "base score %": round(base, 2),
            "LoRA rank": hp.get("lora_rank"),
            "LoRA alpha": hp.get("lora_alpha"),
            "global batch size": hp.get("global_batch_size"),
            "learning rate": hp.get("learning_rate"),
            "max steps": hp.get("max_steps"),
            "warmup steps": hp.get("warmup_steps"),
            "alerts": len(report.at_least("warning")) if report else None,
            "run id": info.run_id,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    place = table.groupby("dataset")["tuned score %"].rank(ascending=False, method="min").astype(int)
    table.insert(table.columns.get_loc("base score %"), "place in dataset", place)
    return table.sort_values(["dataset", "place in dataset"]).reset_index(drop=True)
