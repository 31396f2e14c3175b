"""``forge-monitor watch``: follow local runs and send each new alert once.

Every refresh: the folders named are searched again for runs that appeared (``find_runs``, which only
sniffs file heads), every run already followed reads what was appended (``LiveMonitor.update()``, the
incremental readers), and the alert ledger says which alerts are new. New alerts of one run go out as
one message per route (``notify.Outbox``).

State (``--state DIR``, ``watch-state.json``, replaced atomically) keeps, per run, the identities of
the alerts already handed to the notifier (and the step at which they resolved), plus the messages
still queued for a target that was down. Read cursors are not kept: a restarted watcher reads the logs
again from the start, finds the same alerts, and matches them to the state (the ledger's identity:
detector, metric, overlapping steps), so nothing is sent twice.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from .ingest import RunSpec, find_runs, open_run
from .ingest.discover import failure_reason
from .live import LiveMonitor, same_alert
from .notify import Outbox, log

STATE_FILE = "watch-state.json"
STATE_VERSION = 1


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "forge-monitor"


def _identity(alert) -> dict:
    return {"detector": alert.detector, "metric": alert.metric, "step": int(alert.step),
            "step_end": int(alert.step_end), "severity": getattr(alert.severity, "value", alert.severity)}


def _same(old: dict, new: dict) -> bool:
    """The ledger's identity (``live.same_alert``) on stored identities."""
    return same_alert(SimpleNamespace(**old), SimpleNamespace(**new))


def _state_key(monitor: LiveMonitor) -> str:
    """A run in the state is its log's absolute path: run ids are relative to the folder searched, so
    two watched folders may both hold ``job-x/train.log``."""
    return str(Path(monitor.run.info.source).resolve())


class WatchState:
    """The JSON state file: ``{"version", "runs": {log path: [identity + resolved_at]}, "pending": {...}}``."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / STATE_FILE
        self.runs: dict[str, list[dict]] = {}
        self.pending: dict[str, list[dict]] = {}
        self._written: str | None = None
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ValueError(f"{self.path}: not a forge-monitor watch state ({err})") from None
            runs, pending = (data.get("runs", {}), data.get("pending", {})) if isinstance(data, dict) else (None, None)
            if (data.get("version") if isinstance(data, dict) else None) != STATE_VERSION or not isinstance(runs, dict) \
                    or not isinstance(pending, dict) or not all(isinstance(v, list) for v in runs.values()):
                raise ValueError(f"{self.path}: not a forge-monitor watch state (version {STATE_VERSION}); "
                                 "move it away or pass another --state")
            self.runs = {str(k): list(v) for k, v in runs.items()}
            self.pending = dict(pending)

    def known(self, run_id: str, identity: dict) -> dict | None:
        return next((old for old in self.runs.get(run_id, []) if _same(old, identity)), None)

    def save(self, pending: dict) -> None:
        self.pending = pending
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": STATE_VERSION, "runs": self.runs, "pending": pending}, indent=1)
        if text == self._written:
            return  # nothing changed since the last write
        fd, temp = tempfile.mkstemp(prefix=".watch-state.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
            self._written = text
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class Watcher:
    """Follows the files and folders in ``paths``; ``refresh()`` once, ``run()`` until stopped."""

    def __init__(self, paths, outbox: Outbox, state: WatchState, *, dashboard_url: str | None = None,
                 config: dict | None = None, definitions=None):
        self.paths = [Path(p) for p in paths]
        self.outbox = outbox
        self.state = state
        self.dashboard_url = dashboard_url
        self.config = config
        self.definitions = definitions
        self.monitors: dict[str, LiveMonitor] = {}  # primary path -> monitor
        self._said: dict[str, str] = {}  # path -> the last problem logged for it (logged once)
        self.stop_event = threading.Event()
        outbox.restore(state.pending)

    def _specs(self) -> list[RunSpec]:
        specs = []
        for path in self.paths:
            if path.is_dir():
                found, problems = find_runs(path, definitions=self.definitions)
                specs.extend(found)
                for problem in problems:
                    self._say(f"{path}/{problem.path}", problem.reason)
            elif path.exists():
                specs.append(RunSpec(path.as_posix(), [[path]], path))
            else:
                self._say(str(path), "no such file or directory (yet); looking again on every refresh")
        return specs

    def _say(self, where: str, reason: str) -> None:
        if self._said.get(where) != reason:
            self._said[where] = reason
            log(f"{where}: {reason}")

    def refresh(self) -> int:
        """One pass: new runs, new lines, new alerts queued and sent. Returns the alerts queued."""
        queued = 0
        for spec in self._specs():
            key = str(spec.primary)
            if key in self.monitors:
                continue
            try:
                monitor = LiveMonitor(open_run(spec, definitions=self.definitions), self.config)
            except Exception as err:  # noqa: BLE001 - one file's failure is that file's problem
                self._say(key, f"{failure_reason(err)}; looking again on every refresh")
                continue
            self._said.pop(key, None)
            self.monitors[key] = monitor
            steps = monitor.run.frame["step"]
            log(f"following {spec.run_id} ({monitor.run.info.format}, "
                f"{'steps ' + str(int(steps.min())) + '-' + str(int(steps.max())) if len(steps) else 'no steps yet'})")
            queued += self._take(monitor, monitor.ledger.entries)
        for key, monitor in self.monitors.items():
            try:
                messages, fresh = monitor.update()
            except Exception as err:  # noqa: BLE001
                self._say(key, failure_reason(err))
                continue
            for text in messages:
                log(f"{monitor.run.info.run_id}: {text}")
            queued += self._take(monitor, fresh)
            self._mark_resolved(monitor)
        self.outbox.flush()
        self.state.save(self.outbox.pending())
        return queued

    def _take(self, monitor: LiveMonitor, entries) -> int:
        run_id, key = monitor.run.info.run_id, _state_key(monitor)
        new = []
        for entry in entries:
            identity = _identity(entry.alert)
            if self.state.known(key, identity) is not None:
                continue  # handed to the notifier before (this process or an earlier one)
            self.state.runs.setdefault(key, []).append({**identity, "resolved_at": entry.resolved_at})
            new.append(entry.alert.to_dict())
        if new:
            log(f"{run_id}: {len(new)} new alert(s): " + ", ".join(f"{a['detector']} ({a['severity']}) at step {a['step']}" for a in new))
            self.outbox.submit(run_id, new, self.dashboard_url)
        return len(new)

    def _mark_resolved(self, monitor: LiveMonitor) -> None:
        key = _state_key(monitor)
        for entry in monitor.ledger.entries:
            stored = self.state.known(key, _identity(entry.alert))
            if stored is not None:
                stored["resolved_at"] = entry.resolved_at

    def run(self, interval: float, *, once: bool = False) -> None:
        while True:
            started = time.monotonic()
            self.refresh()
            if once or self.stop_event.wait(max(0.0, interval - (time.monotonic() - started))):
                break

    def stop(self, *_args) -> None:
        self.stop_event.set()
