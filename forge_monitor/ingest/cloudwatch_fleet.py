"""Every SageMaker training job of a region followed at once, for the overview (the fleet).

``CloudWatchFleet(template, prefix, days)`` lists the training jobs whose name starts with
``prefix`` and that were created in the last ``days`` (ListTrainingJobs, 100 a page, every page)
and reads each one as ``scan --cloudwatch`` does. A refresh is bounded by what changed:

- one ListTrainingJobs call per 100 jobs: new jobs and every job's status (no DescribeTrainingJob
  per refresh);
- a job that has ended and was read after it ended: no call at all;
- a job in progress: one DescribeLogStreams, and GetLogEvents only for the streams whose
  lastIngestionTime moved since they were read (that field is eventually consistent, so every
  stream is also read at least every ``recheck_every`` seconds: a quiet job costs one call a
  refresh, plus one GetLogEvents per stream every 5 minutes);
- the detectors run again only for jobs that gained data.

Opening a job the first time costs DescribeTrainingJob, DescribeLogStreams and its GetLogEvents pages.

``HyperPodFleet(template, prefix, days)``: every job of a HyperPod cluster. Its jobs have no list API,
but every line a job writes starts with the job's name (``[rft-1] [2025-12-17 04:54:49,774] ...``), so
the cluster's log group is read once for all of its jobs: FilterLogEvents over the nodes' streams
from the last event seen (the first read: from ``days`` ago), each line handed to its job. A quiet
refresh is one FilterLogEvents call for the whole cluster; a job is listed once it logged a line.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .cloudwatch import (HYPERPOD_STREAMS, CloudWatchError, CloudWatchRun, CloudWatchSource, _call, make_clients,
                         open_cloudwatch)

ENDED = ("Completed", "Failed", "Stopped")
MAX_JOBS = 500  # the newest jobs followed at most; more are listed in a note


@dataclass
class FleetJob:
    name: str
    status: str
    run: object | None = None  # ingest.Run whose live is the CloudWatchRun
    report: object | None = None
    error: str | None = None  # why the job could not be read (listed, not hidden)
    final_read: bool = False  # read once more after it ended: nothing more will come


class _Fleet:
    """What both fleets hold: the template source (region, platform, cluster), the name prefix and the
    window, the clients, the jobs by name, and a lock (the dashboard shares a fleet between sessions)."""

    def __init__(self, template: CloudWatchSource, prefix: str = "", days: float | None = 7.0, clients=None,
                 *, max_jobs: int = MAX_JOBS, checks=None):
        from ..detectors import run_checks

        self.template = template
        self.prefix = prefix
        self.days = days
        self.clients = clients or make_clients(template)
        self.max_jobs = max_jobs
        self.jobs: dict[str, FleetJob] = {}
        self.notes: list[str] = []
        self.lock = threading.Lock()  # one refresh at a time
        self._checks = checks or run_checks


class CloudWatchFleet(_Fleet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.list_calls = 0

    @property
    def calls(self) -> int:
        """API calls made so far: the listing's and every job read (a job that failed to open is not counted)."""
        return self.list_calls + sum(j.run.live.calls for j in self.jobs.values() if j.run is not None)

    def list(self) -> list[dict]:
        """The jobs named by the prefix and the window, newest first: ListTrainingJobs, every page."""
        kwargs = {"MaxResults": 100, "SortBy": "CreationTime", "SortOrder": "Descending"}
        if self.prefix:
            kwargs["NameContains"] = self.prefix
        if self.days:
            kwargs["CreationTimeAfter"] = datetime.now(timezone.utc) - timedelta(days=self.days)
        found: list[dict] = []
        while True:
            self.list_calls += 1
            page = _call(self.template, "sagemaker:ListTrainingJobs", self.clients["sagemaker"].list_training_jobs, **kwargs)
            for job in page.get("TrainingJobSummaries", []):
                name = job["TrainingJobName"]
                if name.startswith(self.prefix):  # the service matches anywhere in the name
                    found.append({"name": name, "status": job.get("TrainingJobStatus", ""),
                                  "created": job.get("CreationTime")})
            token = page.get("NextToken")
            if not token or token == kwargs.get("NextToken"):
                break
            kwargs["NextToken"] = token
        found.sort(key=lambda j: j["created"] or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
        if len(found) > self.max_jobs:
            note = f"{len(found)} jobs match; the newest {self.max_jobs} are followed (narrow the prefix or the window)"
            if note not in self.notes:
                self.notes.append(note)
        return found[: self.max_jobs]

    def refresh(self) -> list[str]:
        """List, open new jobs, read on in the jobs that may have more. Returns the jobs that changed."""
        with self.lock:
            changed = []
            for summary in self.list():
                name, status = summary["name"], summary["status"]
                job = self.jobs.get(name)
                if job is None:
                    job = self.jobs[name] = FleetJob(name, status)
                    self._open(job)
                    changed.append(name)
                    continue
                if job.status != status:
                    changed.append(name)  # a job that ended without a new line is a changed row too
                job.status = status
                if job.run is None:
                    if job.error is not None and status not in ENDED:
                        self._open(job)  # no logs yet a minute ago: a job starting up
                        changed.append(name)
                    continue
                live = job.run.live
                if live.description.get("status") != status:  # a new dict: sessions holding the old one keep it whole
                    live.description = {**live.description, "status": status}
                if job.final_read:
                    continue
                if self._read_on(job):
                    changed.append(name)
                job.final_read = status in ENDED  # this read came after it ended: nothing more will come
            return list(dict.fromkeys(changed))

    def _open(self, job: FleetJob) -> None:
        try:
            run = open_cloudwatch(replace(self.template, job=job.name), self.clients)
        except CloudWatchError as err:
            job.error = str(err)
            return
        run.live.skip_quiet_streams = True
        run.live.description["status"] = job.status
        job.run, job.error = run, None
        job.report = self._checks(run.frame, run.info)
        job.final_read = job.status in ENDED

    def _read_on(self, job: FleetJob) -> bool:
        live = job.run.live
        before = live.last_new_data
        try:
            live.refresh()
        except CloudWatchError as err:
            job.error = str(err)
            return False
        if live.last_new_data == before:
            return False
        # A new Run with the new frame: the Run a session is drawing from the last Loaded is never changed.
        job.run = dataclasses.replace(job.run, frame=live.frame)
        job.report = self._checks(job.run.frame, job.run.info)
        return True


_JOB_LINE = re.compile(r"\s*\[(?P<job>[A-Za-z0-9][A-Za-z0-9._-]*)\] \[\d{4}-")


class HyperPodFleet(_Fleet):
    """Every job of one HyperPod cluster whose name starts with ``prefix``, with lines in the last ``days``."""

    def __init__(self, template: CloudWatchSource, *args, **kwargs):
        if not template.cluster:
            raise CloudWatchError("HyperPod needs the cluster name")
        super().__init__(template, *args, **kwargs)
        self._reader = CloudWatchRun(replace(template, job=""), self.clients)  # finds the group, counts the calls
        self._last_time: int | None = None
        self._seen_at_last: set[str] = set()  # event ids at the last time read (startTime is inclusive)

    @property
    def calls(self) -> int:
        return self._reader.calls

    def refresh(self) -> list[str]:
        """Read the cluster's new lines once and hand each to its job. Returns the jobs that changed."""
        with self.lock:
            lines: dict[str, list[tuple]] = {}
            for event in self._new_events():
                match = _JOB_LINE.match(event["message"])
                if match is None or not match["job"].startswith(self.prefix):
                    continue
                lines.setdefault(match["job"], []).append((event["timestamp"], event.get("logStreamName", ""),
                                                           event["message"]))
            changed = []
            for name, events in lines.items():
                job = self.jobs.get(name)
                if job is None:
                    if len(self.jobs) >= self.max_jobs:
                        note = f"more than {self.max_jobs} jobs in the cluster: the first {self.max_jobs} are followed"
                        if note not in self.notes:
                            self.notes.append(note)
                        continue
                    run = CloudWatchRun(replace(self.template, job=name), self.clients)
                    run.description["status"] = None  # HyperPod jobs have no status API: judged from the data
                    job = self.jobs[name] = FleetJob(name, "", run.to_run())
                live = job.run.live
                if live.feed([message for _, _, message in sorted(events, key=lambda e: (e[0], e[1]))]):
                    job.run = dataclasses.replace(job.run, frame=live.frame)
                    job.report = self._checks(job.run.frame, job.run.info)
                    changed.append(name)
                elif job.report is None:
                    job.report = self._checks(job.run.frame, job.run.info)
            return changed

    def _new_events(self) -> list[dict]:
        reader = self._reader
        group = reader._hyperpod_group()
        start = self._last_time if self._last_time is not None else \
            int((time.time() - (self.days or 14) * 86400) * 1000)
        kwargs = {"logGroupName": group, "logStreamNamePrefix": HYPERPOD_STREAMS, "startTime": start}
        if self.template.page_limit:
            kwargs["limit"] = self.template.page_limit
        events = []
        while True:
            page = reader._api("logs:FilterLogEvents", self.clients["logs"].filter_log_events, **kwargs)
            events.extend(e for e in page.get("events", []) if e.get("eventId") not in self._seen_at_last)
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
        if events:
            last = max(e["timestamp"] for e in events)
            at_last = {e.get("eventId") for e in events if e["timestamp"] == last}
            self._seen_at_last = at_last | (self._seen_at_last if last == self._last_time else set())
            self._last_time = last
        return events
