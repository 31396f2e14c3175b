"""The sweep table: hyperparameters, base and tuned target metric, relative change, rank, alerts.

Built from runs whose ``RunInfo.final_metrics`` hold ``base_score`` and ``tuned_score`` (read from an
``eval_results.json`` next to the log), like the tables practitioners publish for HPO sweeps.
"""

from __future__ import annotations

import pandas as pd


def sweep_table(runs, reports) -> pd.DataFrame:
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
            "rank": hp.get("lora_rank"),
            "alpha": hp.get("lora_alpha"),
            "GBS": hp.get("global_batch_size"),
            "LR": hp.get("learning_rate"),
            "max steps": hp.get("max_steps"),
            "warmup": hp.get("warmup_steps"),
            "base %": round(base, 2),
            "tuned %": round(tuned, 2),
            "relative gain %": round(100 * (tuned - base) / base, 2) if base else None,
            "alerts": len(report.at_least("warning")) if report else None,
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["place"] = table.groupby("dataset")["tuned %"].rank(ascending=False, method="min").astype(int)
    return table.sort_values(["dataset", "place"]).reset_index(drop=True)
