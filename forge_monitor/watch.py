"""``forge-monitor watch``: follow local runs and CloudWatch jobs, and send each new alert once.

Every refresh: the folders named are searched again for runs that appeared (``find_runs``, which only
sniffs file heads), every run already followed reads what was appended (``LiveMonitor.update()``, the
incremental readers), and the alert ledger says which alerts are new. New alerts of one run go out as
one message per route (``notify.Outbox``). CloudWatch jobs (named, or found by name prefix) and the
opt-in stop of a training job are in ``watch_cloudwatch``.

State (``--state DIR``, ``watch-state.json``, replaced atomically) keeps, per run, the identities of
the alerts already handed to the notifier (the step at which they resolved, whether the "resolved"
notice went out, when the alert was last sent for ``--repeat``), plus the messages
still queued for a target that was down. A restarted watcher finds the same alerts again and matches
them to the state (the ledger's identity: detector, metric, overlapping steps), so nothing is sent twice.

Read cursors: ``runs/`` in the state folder holds a snapshot of each local run (``ingest.snapshot``:
the rows read and each file's byte offset), written at most every ``checkpoint_every`` seconds for a
run that gained data, and when the watch ends. A restarted watcher loads it and reads on from the
saved offsets instead of parsing whole logs again. CloudWatch jobs are read again from their start.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from .ingest import RunSpec, find_runs, open_run
from .ingest.discover import failure_reason
from .ingest.snapshot import load_snapshot, save_snapshot
from .alerts import Severity
from .live import LiveMonitor, same_alert
from .notify import Outbox, log
from .watch_cloudwatch import cloudwatch_key, in_progress_jobs, is_cloudwatch, parse_stop_rule, stop_job  # noqa: F401 - parse_stop_rule is API

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
    two watched folders may both hold ``job-x/train.log``. A CloudWatch run: ``cloudwatch:<region>:<job>``."""
    if is_cloudwatch(monitor.run.live):
        return cloudwatch_key(monitor.run.live)
    if monitor.run.info.source.startswith("mlflow:"):
        return monitor.run.info.source  # mlflow:<server>:<run id>
    return str(Path(monitor.run.info.source).resolve())


class WatchState:
    """The JSON state file: ``{"version", "runs": {log path: [identity + resolved_at]}, "pending": {...},
    "stopped": {run key: {"job", "reason"}}}`` (``stopped``: the jobs this watch stopped, never stopped again)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / STATE_FILE
        self.runs: dict[str, list[dict]] = {}
        self.pending: dict[str, list[dict]] = {}
        self.stopped: dict[str, dict] = {}
        self.sends: dict[str, list] = {}  # route hash -> send times inside the rate window
        self._written: str | None = None
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ValueError(f"{self.path}: not a forge-monitor watch state ({err})") from None
            runs, pending, stopped = (data.get("runs", {}), data.get("pending", {}), data.get("stopped", {})) \
                if isinstance(data, dict) else (None, None, None)
            if (data.get("version") if isinstance(data, dict) else None) != STATE_VERSION or not isinstance(runs, dict) \
                    or not isinstance(pending, dict) or not all(isinstance(v, list) for v in runs.values()) \
                    or not isinstance(stopped, dict):
                raise ValueError(f"{self.path}: not a forge-monitor watch state (version {STATE_VERSION}); "
                                 "move it away or pass another --state")
            self.runs = {str(k): list(v) for k, v in runs.items()}
            self.pending = dict(pending)
            self.stopped = dict(stopped)
            sends = data.get("sends", {})
            self.sends = {str(k): list(v) for k, v in sends.items() if isinstance(v, list)} if isinstance(sends, dict) else {}

    def known(self, run_id: str, identity: dict) -> dict | None:
        return next((old for old in self.runs.get(run_id, []) if _same(old, identity)), None)

    def save(self, pending: dict, sends: dict | None = None) -> None:
        self.pending = pending
        if sends is not None:
            self.sends = sends
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": STATE_VERSION, "runs": self.runs, "pending": pending, "stopped": self.stopped,
                           "sends": self.sends}, indent=1)
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
    """Follows the files and folders in ``paths`` and the CloudWatch jobs named in ``cloudwatch`` or
    found by the name prefixes in ``prefixes`` (``template``: platform, cluster, region... of them all;
    ``clients``: boto3 clients for them); ``refresh()`` once, ``run()`` until stopped. ``stop_on``:
    the StopRules whose new alerts stop a CloudWatch training job (empty: nothing is ever stopped)."""

    relist_every = 6  # refreshes between ListTrainingJobs calls (prefixes) and job status checks
    checkpoint_every = 120.0  # seconds between snapshots of a local run that gained data

    def __init__(self, paths, outbox: Outbox, state: WatchState, *, dashboard_url: str | None = None,
                 config: dict | None = None, definitions=None, cloudwatch=(), prefixes=(), template=None,
                 clients=None, stop_on=(), repeat: float | None = None, clock=time.time, mlflow=None):
        self.paths = [Path(p) for p in paths]
        self.jobs = list(dict.fromkeys(cloudwatch))  # the CloudWatch jobs to follow (named, then found)
        self.prefixes = list(prefixes)
        self.mlflow = mlflow  # an MLflowSource: its runs are followed (new ones found every relist_every refreshes)
        self._mlflow_client = None
        self.template = template
        self.clients = clients
        self.stop_on = list(stop_on)
        self.repeat = repeat  # seconds after which an alert still open is sent again; None: never
        self.clock = clock  # wall clock: notified_at is kept in the state across restarts
        self._finished: set[str] = set()  # jobs read to the end and dropped
        self._refreshes = 0
        self.outbox = outbox
        self.state = state
        self.dashboard_url = dashboard_url
        self.config = config
        self.definitions = definitions
        self.monitors: dict[str, LiveMonitor] = {}  # primary path -> monitor
        self._said: dict[str, str] = {}  # path -> the last problem logged for it (logged once)
        self._saved: dict[str, tuple] = {}  # local run key -> (what was saved, when) for its snapshot
        self.stop_event = threading.Event()
        outbox.restore(state.pending, state.sends)

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

    def _source(self, job: str):
        from dataclasses import replace

        return replace(self.template, job=job)

    def _relist(self) -> None:
        from .ingest.cloudwatch import CloudWatchError

        for prefix in self.prefixes:
            try:
                names = in_progress_jobs(self._source(prefix), prefix, self.clients)
            except CloudWatchError as err:
                self._say(f"--cloudwatch-prefix {prefix}", f"{err}; listing again later")
                continue
            self._said.pop(f"--cloudwatch-prefix {prefix}", None)
            for name in names:
                if name not in self.jobs and name not in self._finished:
                    log(f"found training job {name} (InProgress, prefix {prefix!r})")
                    self.jobs.append(name)

    def _open_jobs(self) -> int:
        from .ingest.cloudwatch import open_cloudwatch

        queued = 0
        for job in list(self.jobs):
            if any(is_cloudwatch(m.run.live) and m.run.live.source.job == job for m in self.monitors.values()):
                continue
            try:
                monitor = LiveMonitor(open_cloudwatch(self._source(job), self.clients), self.config)
            except Exception as err:  # noqa: BLE001 - one job's failure is that job's problem
                self._say(job, f"{failure_reason(err)}; looking again on every refresh")
                continue
            self._said.pop(job, None)
            key = _state_key(monitor)
            queued += self._follow(key, monitor, f"CloudWatch job {job} ({key}, "
                                                 f"{monitor.run.info.format or 'no metric lines yet'}")
            self._drop_if_finished(key, monitor, monitor.run.live.description.get("status"))
        return queued

    def _open_mlflow(self) -> int:
        """The MLflow runs the source names that are not followed yet: a named run (``--run``) whatever
        its status, else the experiment's newest runs that are RUNNING (a run that starts later is found
        here). Each is read in full once; a run that has ended is read to its end and dropped."""
        from .ingest.discover import infer_details
        from .ingest.mlflow import MLflowClient, MLflowError, MLflowRun, find_runs

        where = f"--mlflow {self.mlflow.tracking_uri or 'MLFLOW_TRACKING_URI'}"
        try:
            self._mlflow_client = self._mlflow_client or MLflowClient(self.mlflow)
            found = find_runs(self._mlflow_client, self.mlflow)
        except MLflowError as err:
            self._say(where, f"{err}; looking again later")
            return 0
        self._said.pop(where, None)
        queued = 0
        for payload, experiment in found:
            run_uuid = payload["info"]["run_id"]
            key = f"mlflow:{self._mlflow_client.where}:{run_uuid}"
            if key in self.monitors or run_uuid in self._finished:
                continue
            if not self.mlflow.run and payload["info"].get("status") not in ("RUNNING", "SCHEDULED"):
                continue  # found by experiment: only runs in progress are followed (as --cloudwatch-prefix does)
            label = f"{experiment}/{payload['info'].get('run_name') or run_uuid}"
            live = MLflowRun(self._mlflow_client, payload, experiment, label)
            try:
                live.refresh()
            except MLflowError as err:
                self._say(key, f"{err}; looking again later")
                continue
            infer_details(live.info, live.frame, Path(label), ["mlflow"])
            monitor = LiveMonitor(live.to_run(), self.config)
            queued += self._follow(key, monitor, f"MLflow run {label} ({run_uuid}")
            self._drop_if_finished(key, monitor, self._status(monitor))
        return queued

    def _follow(self, key: str, monitor: LiveMonitor, what: str) -> int:
        """Start following a run just read in full: log it, then hand over the alerts it already has."""
        self.monitors[key] = monitor
        steps = monitor.run.frame["step"]
        log(f"following {what}, {'steps ' + str(int(steps.min())) + '-' + str(int(steps.max())) if len(steps) else 'no steps yet'})")
        queued = self._take(monitor, monitor.ledger.entries)
        self._mark_resolved(monitor)
        return queued

    def _status(self, monitor: LiveMonitor) -> str | None:
        """DescribeTrainingJob's status now (SMTJ), an MLflow run's status as of its last read
        (``InProgress`` while RUNNING), or None when unknown (HyperPod, a logs-only job, a local file)."""
        live = monitor.run.live
        if monitor.run.info.source.startswith("mlflow:"):
            status = (live.payload.get("info") or {}).get("status")
            return None if status is None else "InProgress" if status in ("RUNNING", "SCHEDULED") else status
        if not is_cloudwatch(live) or live.source.platform != "smtj" or not live.description:
            return None
        try:
            return live.describe().get("status")
        except Exception:  # noqa: BLE001 - unknown now; the next check asks again
            return None

    def _drop_if_finished(self, key: str, monitor: LiveMonitor, status: str | None) -> None:
        if status is None or status == "InProgress":
            return
        job = monitor.run.live.run_uuid if key.startswith("mlflow:") else monitor.run.live.source.job
        name = monitor.run.info.run_id if key.startswith("mlflow:") else job
        log(f"{name}: finished ({status}); read to the end, no longer followed")
        self.monitors.pop(key, None)
        self._finished.add(job)
        self.jobs = [j for j in self.jobs if j != job]

    def refresh(self) -> int:
        """One pass: new runs, new lines, new alerts queued and sent. Returns the alerts queued."""
        queued, check = 0, self._refreshes % self.relist_every == 0
        self._refreshes += 1
        if check:
            self._relist()
        opened = set(self.monitors)
        queued += self._open_jobs()
        if self.mlflow is not None and check:
            queued += self._open_mlflow()
        opened = set(self.monitors) - opened
        for spec in self._specs():
            key = str(spec.primary)
            if key in self.monitors:
                continue
            try:
                monitor = LiveMonitor(self._open_local(spec), self.config)
            except Exception as err:  # noqa: BLE001 - one file's failure is that file's problem
                self._say(key, f"{failure_reason(err)}; looking again on every refresh")
                continue
            self._said.pop(key, None)
            queued += self._follow(key, monitor, f"{spec.run_id} ({monitor.run.info.format}")
        for key, monitor in list(self.monitors.items()):
            if key in opened:
                continue  # read in full just now
            status = self._status(monitor) if check else None  # before the read: a job that ended is read to its end
            try:
                messages, fresh = monitor.update()
            except Exception as err:  # noqa: BLE001
                self._say(key, failure_reason(err))
                continue
            for text in messages:
                log(f"{monitor.run.info.run_id}: {text}")
            queued += self._take(monitor, fresh)
            self._mark_resolved(monitor)
            self._repeat_open(monitor)
            self._drop_if_finished(key, monitor, status)
        self.outbox.flush()
        self.save_state()
        self.checkpoint()
        return queued

    def save_state(self) -> None:
        self.state.save(self.outbox.pending(), self.outbox.sends())

    def _snapshot_path(self, key: str) -> Path:
        return self.state.path.parent / "runs" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.parquet"

    def _open_local(self, spec: RunSpec):
        """The run as saved at the last checkpoint (read on from there by the next update), else read in full."""
        key = str(Path(spec.primary).resolve())
        run, why = load_snapshot(spec, self._snapshot_path(key), definitions=self.definitions)
        if run is None:
            if why != "no snapshot":
                log(f"{spec.run_id}: saved read position not used ({why}); reading the run in full")
            return open_run(spec, definitions=self.definitions)
        self._saved[key] = (self._position(run), time.monotonic())
        read = sum(c.offset for c in run.live.cursors.values() if c is not None)
        size = sum(p.stat().st_size for p in run.live.cursors if p.exists())
        steps = run.frame["step"]
        log(f"{spec.run_id}: resumed from the saved state ({'steps ' + str(int(steps.min())) + '-' + str(int(steps.max())) if len(steps) else 'no steps'}, "
            f"{read:,} of {size:,} bytes read before); reading on from there")
        return run

    @staticmethod
    def _position(run) -> tuple:
        return tuple((str(p), c.offset, c.inode) if c is not None else (str(p),) for p, c in run.live.cursors.items())

    def checkpoint(self, *, force: bool = False) -> None:
        """Snapshot each local run that gained data since its last snapshot, at most every
        ``checkpoint_every`` seconds (``force``: now, as the watch ends). A failed write is said, not fatal."""
        now = time.monotonic()
        for key, monitor in self.monitors.items():
            if is_cloudwatch(monitor.run.live) or key.startswith("mlflow:"):
                continue  # remote runs are read again from their start (their cursors are the service's)
            # Monitors are keyed by the path as searched (``runs/job/train.log`` for ``watch runs/``); the
            # snapshot by the state's key, the resolved path, as _open_local looks for it.
            state_key = _state_key(monitor)
            position = self._position(monitor.run)
            saved = self._saved.get(state_key)
            if saved is not None and (saved[0] == position or (not force and now - saved[1] < self.checkpoint_every)):
                continue
            try:
                save_snapshot(monitor.run, self._snapshot_path(state_key))
            except Exception as err:  # noqa: BLE001 - a full disk must not end the watch; the logs are still there
                self._say(f"{key} (snapshot)", f"cannot save the read position: {failure_reason(err)}")
                continue
            self._saved[state_key] = (position, now)

    def _take(self, monitor: LiveMonitor, entries) -> int:
        """New alerts, and alerts whose severity rose since they were handed to the notifier (an
        ``info`` that a later point makes a ``warning`` reaches the routes that skipped it)."""
        run_id, key = monitor.run.info.run_id, _state_key(monitor)
        new = []
        for entry in self._escalated(monitor, key):
            new.append({**entry.alert.to_dict(), "escalated_from": entry.escalated_from})
        for entry in entries:
            identity = _identity(entry.alert)
            if self.state.known(key, identity) is not None:
                continue  # handed to the notifier before (this process or an earlier one)
            self.state.runs.setdefault(key, []).append({**identity, "resolved_at": entry.resolved_at,
                                                        "notified_at": self.clock()})
            new.append(entry.alert.to_dict())
        self._stop_for(monitor, key, new)
        if new:
            log(f"{run_id}: {len(new)} new alert(s): " + ", ".join(f"{a['detector']} ({a['severity']}) at step {a['step']}" for a in new))
            self.outbox.submit(run_id, new, self.dashboard_url)
        return len(new)

    def _escalated(self, monitor: LiveMonitor, key: str) -> list:
        """Open alerts now more severe than when they were last handed over; the state is updated."""
        out = []
        for entry in monitor.ledger.entries:
            if not entry.active:
                continue
            stored = self.state.known(key, _identity(entry.alert))
            now = getattr(entry.alert.severity, "value", entry.alert.severity)
            if stored is not None and Severity(now) > Severity(stored["severity"]):
                out.append(SimpleNamespace(alert=entry.alert, escalated_from=stored["severity"]))
                stored["severity"], stored["notified_at"] = now, self.clock()
        return out

    def _stop_for(self, monitor: LiveMonitor, key: str, alerts: list[dict]) -> None:
        """The first new alert that matches a --stop-on rule stops the job (or says why not)."""
        alert = next((a for a in alerts if any(rule.matches(a) for rule in self.stop_on)), None)
        if alert is None:
            return
        alert["action"] = stop_job(monitor.run.live, self.state.stopped, key, alert)
        log(f"{monitor.run.info.run_id}: {alert['detector']} at step {alert['step']}: {alert['action']}")
        if key in self.state.stopped:
            self.save_state()  # at once: a crash now must not lead to a second stop

    def _mark_resolved(self, monitor: LiveMonitor) -> None:
        """Copy the ledger's resolved step into the state, and send a "resolved" notice once per alert.

        An alert stored by an earlier process that this process's ledger does not hold did not show up
        when the logs were read again from the start: it no longer holds, so it resolved while nobody
        watched (at the last step read)."""
        key, run_id = _state_key(monitor), monitor.run.info.run_id
        frame = monitor.run.frame
        last_step = int(frame["step"].max()) if len(frame) else 0
        for stored in self.state.runs.get(key, []):
            if "resolved_notified" not in stored:  # kept before resolved notices existed: no backlog of old ones
                stored["resolved_notified"] = stored.get("resolved_at") is not None
            entry = next((e for e in monitor.ledger.entries if _same(stored, _identity(e.alert))), None)
            resolved_at = entry.resolved_at if entry is not None else stored.get("resolved_at") or last_step
            stored["resolved_at"] = resolved_at
            if resolved_at is not None and not stored.get("resolved_notified"):
                stored["resolved_notified"] = True  # once, even if it opens again and resolves again
                if self.outbox.submit_resolved(run_id, stored, resolved_at, self.dashboard_url):
                    log(f"{run_id}: {stored['detector']} (open since step {stored['step']}) resolved at step {resolved_at}")

    def _repeat_open(self, monitor: LiveMonitor) -> None:
        """--repeat: an alert still open and last sent ``repeat`` seconds ago or more is sent again."""
        if not self.repeat:
            return
        key, run_id, now = _state_key(monitor), monitor.run.info.run_id, self.clock()
        due = []
        for entry in monitor.ledger.entries:
            stored = self.state.known(key, _identity(entry.alert))
            if entry.active and stored is not None and stored.get("resolved_at") is None \
                    and now - stored.setdefault("notified_at", now) >= self.repeat:
                stored["notified_at"] = now
                due.append(entry.alert.to_dict())
        if due:
            log(f"{run_id}: {len(due)} alert(s) still open, sent again (--repeat)")
            self.outbox.submit(run_id, due, self.dashboard_url,
                               still_open=f"sent again every {self.repeat / 3600:g} h")

    def run(self, interval: float, *, once: bool = False) -> None:
        while True:
            started = time.monotonic()
            self.refresh()
            if once or self._wait_until(started + interval):
                break

    def _wait_until(self, next_refresh: float) -> bool:
        """Wait for the next refresh, waking earlier when the outbox has something due (a group window
        ending, a retry): a grouped alert goes out when its window ends, not at the refresh after.
        Returns True when stopped."""
        while True:
            due = self.outbox.next_due()
            wake = next_refresh if due is None else min(next_refresh, time.monotonic() + due - self.outbox.clock())
            if self.stop_event.wait(max(0.0, wake - time.monotonic())):
                return True
            if time.monotonic() >= next_refresh:
                return False
            self.outbox.flush()
            self.save_state()

    def stop(self, *_args) -> None:
        self.stop_event.set()
