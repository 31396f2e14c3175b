"""Incidents: the alerts that share a cause and a step window, told as one.

A grad-norm spike at step 140 and the loss spike it led at step 141 are one incident, not two cards.
Alerts are chained in order of onset: an alert whose onset lies within ``window`` steps of the last
onset of the open incident joins it. Long-window findings (overfitting, a plateau) start far from
spikes and stay incidents of their own. The incident's lead is its most severe alert (the earliest
among equals); its message is the incident's one line, and every alert keeps its own evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .alerts import Alert, Severity
from .frame_facts import remembered

DEFAULT_WINDOW = 5  # steps between onsets that still make one incident


@dataclass(frozen=True)
class Incident:
    alerts: tuple[Alert, ...]  # in order of onset

    @property
    def lead(self) -> Alert:
        return min(self.alerts, key=lambda a: (-Severity(a.severity).rank, a.step))

    @property
    def severity(self) -> Severity:
        return Severity(self.lead.severity)

    @property
    def step(self) -> int:
        return min(a.step for a in self.alerts)

    @property
    def step_end(self) -> int:
        return max(a.step_end for a in self.alerts)

    @property
    def detectors(self) -> list[str]:
        """Detector ids in order of onset, each once (what fired first comes first)."""
        return list(dict.fromkeys(a.detector for a in self.alerts))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(a.metric for a in self.alerts))

    @property
    def span(self) -> str:
        return f"step {self.step}" + (f"–{self.step_end}" if self.step_end != self.step else "")

    @property
    def key(self) -> str:
        """Stable across live refreshes while the incident's first alert stays the same."""
        first = self.alerts[0]
        return f"{first.detector}@{first.step}"

    def focus(self, first_step: int, last_step: int) -> tuple[float, float]:
        """The step range to zoom every chart to: the incident with some context either side."""
        pad = max(5.0, 0.05 * max(last_step - first_step, 1), 0.5 * (self.step_end - self.step))
        lo, hi = max(first_step, self.step - pad), min(max(last_step, self.step_end), self.step_end + pad)
        return float(lo), float(hi if hi > lo else lo + 1)


def step_window(steps) -> int:
    """The grouping window for a run: ``DEFAULT_WINDOW`` steps, or two logging intervals when the run
    logs more sparsely (a spike logged every 10 steps lands one point after the grad-norm spike)."""
    import numpy as np

    # The tidy frame holds each metric's steps in order: its positive step differences are the logging
    # intervals, found in one pass (a sort of every row's step cost seconds on a million-step run).
    gaps = np.diff(np.asarray(steps))
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return DEFAULT_WINDOW
    return int(max(DEFAULT_WINDOW, 2 * float(np.median(gaps))))


def frame_window(frame) -> int:
    """``step_window`` of a run's frame, worked out once per frame (``frame_facts``: a pass over every
    row, 0.05-0.08 s on a 1,000,000-step run, which a run page would otherwise pay on every rerun)."""
    return remembered(frame, "step_window", lambda f: step_window(f["step"]))


def group_incidents(alerts, *, window: int = DEFAULT_WINDOW) -> list[Incident]:
    """Alerts (any order) -> incidents in order of onset."""
    ordered = sorted(alerts, key=lambda a: (a.step, -Severity(a.severity).rank, a.detector))
    groups: list[list[Alert]] = []
    for alert in ordered:
        if groups and alert.step - groups[-1][-1].step <= window:
            groups[-1].append(alert)
        else:
            groups.append([alert])
    return [Incident(tuple(group)) for group in groups]


def round_sig(value, digits: int = 4):
    """A number to ``digits`` significant figures (evidence is read by people: 0.8427, not
    0.8427221606199756); anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, float):
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            return round_sig(value.item(), digits)
        if isinstance(value, (list, tuple)):
            return [round_sig(v, digits) for v in value]
        if isinstance(value, dict):
            return {k: round_sig(v, digits) for k, v in value.items()}
        return value
    if not math.isfinite(value) or value == 0:
        return value
    return float(f"{value:.{digits}g}")


def evidence_rows(evidence: dict, digits: int = 4) -> list[tuple[str, str]]:
    """(name, value) pairs of an alert's evidence, numbers rounded for reading."""
    rows = []
    for key, value in evidence.items():
        value = round_sig(value, digits)
        if isinstance(value, float):
            text = f"{value:g}"
        elif isinstance(value, (list, tuple)):
            text = "; ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        else:
            text = str(value)
        rows.append((str(key), text))
    return rows
