"""Following a run live: incremental reads, detectors after each refresh, and an alert ledger.

Detectors judge each point against earlier points only, so a spike alert never changes once raised.
Whole-run judgements can change as data arrives (a reward flat for the first hundred steps may start
to rise). The ledger keeps every alert ever raised: an alert that no longer holds is marked
*resolved* with the step at which that was seen - never silently dropped.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from .alerts import Alert, Report
from .detectors import default_config, run_checks
from .ingest import Run


@dataclass
class LedgerEntry:
    alert: Alert
    first_raised_at: int  # last step of the data when the alert first appeared
    resolved_at: int | None = None  # last step of the data when it stopped holding

    @property
    def active(self) -> bool:
        return self.resolved_at is None


def same_alert(old, new) -> bool:
    """One alert seen again: the same detector and metric, and the same onset or overlapping steps.
    Takes Alerts, or anything with those attributes (the watcher's stored identities)."""
    if (old.detector, old.metric) != (new.detector, new.metric):
        return False
    return old.step == new.step or (new.step <= old.step_end and old.step <= new.step_end)


@dataclass
class AlertLedger:
    entries: list[LedgerEntry] = field(default_factory=list)

    def merge(self, report: Report, last_step: int) -> list[LedgerEntry]:
        """Fold a fresh report in; returns the entries that are new in this report."""
        fresh, seen = [], set()
        for alert in report.alerts:
            match = next((i for i, e in enumerate(self.entries) if i not in seen and same_alert(e.alert, alert)), None)
            if match is None:
                entry = LedgerEntry(alert, first_raised_at=last_step)
                self.entries.append(entry)
                seen.add(len(self.entries) - 1)
                fresh.append(entry)
            else:
                seen.add(match)
                self.entries[match] = replace(self.entries[match], alert=alert, resolved_at=None)
        for i, entry in enumerate(self.entries):
            if i not in seen and entry.active:
                self.entries[i] = replace(entry, resolved_at=last_step)
        return fresh

    @property
    def active(self) -> list[Alert]:
        return [e.alert for e in self.entries if e.active]


def detached(run: Run) -> Run:
    """A copy of ``run`` that can be followed live without touching the original.

    The dashboard caches one ``Run`` for every session; a live monitor changes its run (frame, info,
    the reader's cursors and counts), so each session follows its own copy. API clients (CloudWatch)
    are shared, not copied.
    """
    clients = getattr(run.live, "clients", None) or {}
    return copy.deepcopy(run, {id(client): client for client in clients.values()})


class LiveMonitor:
    """A run kept up to date: ``update()`` reads what was appended and re-runs the detectors."""

    def __init__(self, run: Run, config: dict | None = None):
        self.run = run
        self.config = config or default_config()
        self.ledger = AlertLedger()
        self.report: Report | None = None
        self.run.info.live = True
        self._check()

    def _check(self) -> list[LedgerEntry]:
        frame = self.run.live.frame
        self.run.frame = frame
        self.run.info.last_data_at = self.run.live.last_new_data
        self.report = run_checks(frame, self.run.info, self.config)
        last_step = int(frame["step"].max()) if len(frame) else 0
        return self.ledger.merge(self.report, last_step)

    def update(self) -> tuple[list[str], list[LedgerEntry]]:
        """Returns (reader messages such as a truncated file, alerts raised for the first time)."""
        messages = self.run.live.refresh()
        return messages, self._check()
