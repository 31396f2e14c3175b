"""Comparing runs (the Compare page, M4 of the UX review): one colour per run on every chart, short
names for the legend, the metrics to show first, and runs whose steps are not optimizer steps.

No plotting or streamlit here: the page asks, ``plotting.overlay_figure`` draws.
"""

from __future__ import annotations

import os

# 20 distinguishable colours (Tableau 20, dark shades first): a run keeps its colour in every chart.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5"]

# What to compare first, by what the runs log: the target of the technique, then its health signals.
FIRST_METRICS = ["train_loss", "val_loss", "reward", "val_reward", "kl", "entropy", "response_length",
                 "learning_rate", "grad_norm"]


def run_colors(run_ids) -> dict[str, str]:
    """A colour per run of the source, fixed by the run's place among all of them (sorted), not by the
    order runs were picked: picking or dropping another run never recolours one."""
    return {run_id: PALETTE[i % len(PALETTE)] for i, run_id in enumerate(sorted(run_ids))}


def short_names(run_ids) -> dict[str, str]:
    """Legend names without what every run shares at the end (``/train.log``); a name that would
    become empty or collide keeps its full id."""
    ids = list(run_ids)
    if len(ids) < 2:
        return {r: r for r in ids}
    parts = [r.split("/") for r in ids]
    tail = os.path.commonprefix([p[::-1] for p in parts])  # common trailing path components
    names = {}
    for run_id, p in zip(ids, parts):
        kept = p[: len(p) - len(tail)] if tail else p
        names[run_id] = "/".join(kept) or run_id
    if len(set(names.values())) < len(ids):
        return {r: r for r in ids}
    return names


def default_metrics(metrics, limit: int = 2) -> list[str]:
    """The metrics the Compare page opens on: the first ``limit`` of ``FIRST_METRICS`` present, with
    val_loss beside train_loss (both or neither counted as one panel each)."""
    present = [m for m in FIRST_METRICS if m in metrics]
    return present[:limit] or sorted(metrics)[:1]


def step_notes(runs) -> dict[str, str]:
    """Run id -> why its steps are not optimizer steps (logging events, row numbers), from its reading
    notes: such runs are not aligned with the others by step."""
    notes = {}
    for run in runs:
        for warning in run.info.warnings:
            if "steps are" in warning and ("order of the logged" in warning or "row numbers" in warning):
                notes[run.info.run_id] = warning
    return notes
