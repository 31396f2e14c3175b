"""CloudWatch: Nova jobs on SageMaker training jobs (SMTJ) and HyperPod, live and post-mortem.

- SMTJ logs: group ``/aws/sagemaker/TrainingJobs``, every stream ``<job>/algo-<n>-<epoch>`` read
  with GetLogEvents from the head, following the forward token until it comes back unchanged.
  Every host of a multi-node job prints the progress lines, so hosts are read apart and merged by
  step, never by time: a step going back is a restart only within one host's streams (a resumed
  job's new ``algo-<n>-<epoch>`` stream continues that host's older one). Where several hosts log
  the same metric at the same step, the lowest-numbered host's value is kept (``algo-1``: the
  first stream, the one the Nova Forge SDK reads), except that a NaN or inf of any host wins over a
  finite value (evidence is never hidden); ``CloudWatchRun.hosts`` and one reading note say which
  host gave what.
- HyperPod logs: group ``/aws/sagemaker/Clusters/<cluster>/<id>`` (found by prefix), per-node
  streams; the job's lines found with FilterLogEvents (``nextToken`` paging), kept only when they
  start with the job's own ``[job]`` prefix (the filter term also matches ``rft-10`` for ``rft-1``).
- The lines go through the same parsers as local files, so the same lines give the same tidy frame.
- A refresh reads only what is new: the saved forward token per stream (about one call per quiet
  stream), or for HyperPod the last event time with event ids de-duplicated.
- DescribeTrainingJob: status, hyperparameters (into RunInfo), metric definitions, final metrics.
- CloudWatch Metrics: instance metrics (``Host`` = ``<job>/algo-<n>``) and the job's algorithm metrics
  (``TrainingJobName``) with GetMetricData: up to 500 queries a call, NextToken paging, PartialData.

Only read-only calls. Every failure becomes one ``CloudWatchError`` whose message names what to fix.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import RunInfo, empty_frame
from .detect import FormatError, sniff
from .reader import FileCursor, LiveRun, parse_lines

SMTJ_GROUP = "/aws/sagemaker/TrainingJobs"
HYPERPOD_PREFIX = "/aws/sagemaker/Clusters/"
HYPERPOD_STREAMS = "SagemakerHyperPodTrainingJob"
NAMESPACE = "/aws/sagemaker/TrainingJobs"
INSTANCE_METRICS = ("CPUUtilization", "MemoryUtilization", "GPUUtilization", "GPUMemoryUtilization", "DiskUtilization")
MAX_QUERIES = 500
READ_ONLY_ACTIONS = ("logs:DescribeLogGroups", "logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents",
                     "cloudwatch:GetMetricData", "sagemaker:DescribeTrainingJob", "sagemaker:ListTrainingJobs")


class CloudWatchError(Exception):
    """One clear message naming what to fix (profile, region, permission, job name)."""


@dataclass
class CloudWatchSource:
    job: str
    platform: str = "smtj"  # smtj | hyperpod
    cluster: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None  # AWS_ENDPOINT_URL is honoured by boto3 itself
    page_limit: int | None = None  # events per page (None: the service default)

    @property
    def where(self) -> str:
        return f"region {self.region or os.environ.get('AWS_REGION') or os.environ.get('AWS_DEFAULT_REGION') or '(default)'}" + (
            f", profile {self.profile}" if self.profile else "")


def make_clients(source: CloudWatchSource) -> dict:
    import boto3
    from botocore.config import Config

    try:
        session = boto3.Session(profile_name=source.profile, region_name=source.region)
    except Exception as err:  # ProfileNotFound, or an AWS config file that does not parse
        if source.profile is None:
            raise CloudWatchError(f"cannot read the AWS configuration (~/.aws/config, AWS_CONFIG_FILE): {err}") from None
        raise CloudWatchError(f"AWS profile {source.profile!r} not found: check ~/.aws/config or --profile ({err})") from None
    if session.region_name is None:
        raise CloudWatchError("no AWS region set: pass --region (or set AWS_REGION / AWS_DEFAULT_REGION)")
    config = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=30)
    kwargs = {"config": config}
    if source.endpoint_url:
        kwargs["endpoint_url"] = source.endpoint_url
    from botocore.exceptions import InvalidRegionError

    try:
        return {name: session.client(name, **kwargs) for name in ("logs", "cloudwatch", "sagemaker")}
    except InvalidRegionError:
        raise CloudWatchError(f"{source.region!r} is not an AWS region name (such as us-east-1)") from None
    except ValueError as err:  # botocore: "Invalid endpoint: ..."
        raise CloudWatchError(f"{err}: pass a URL such as http://127.0.0.1:5000 as the endpoint") from None


def explain(err: Exception, source: CloudWatchSource, action: str) -> CloudWatchError:
    """Translate a botocore failure into a message that names the fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
        return CloudWatchError(f"no AWS credentials found ({source.where}): set AWS_PROFILE or --profile, or run "
                               "`aws configure` / `aws sso login`")
    if isinstance(err, EndpointConnectionError):
        return CloudWatchError(f"cannot reach the AWS endpoint for {action} ({source.where}): check the region and the "
                               "network (or --endpoint-url / AWS_ENDPOINT_URL)")
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        text = err.response.get("Error", {}).get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                    "UnrecognizedClientException"):
            return CloudWatchError(f"AWS credentials are expired or invalid ({source.where}): refresh them "
                                   "(`aws sso login`, new session token) and retry")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            policy = ("the separate stop policy (README, 'Stopping a training job')" if action == "sagemaker:StopTrainingJob"
                      else "the minimal read-only IAM policy")
            return CloudWatchError(f"permission denied for {action} ({source.where}): grant it to your role - the README "
                                   f"lists {policy}")
        missing = any(phrase in text.lower() for phrase in ("not found", "does not exist", "could not find"))
        if code == "ResourceNotFoundException" or (code == "ValidationException" and missing):
            return CloudWatchError(f"{action}: {text or 'not found'} - check the job name {source.job!r}, the platform "
                                   f"({source.platform}) and the {source.where}")
        if code in _THROTTLED:
            return CloudWatchError(f"CloudWatch kept throttling {action} after retries ({source.where}): refresh less "
                                   "often, or raise the account's API quota")
        return CloudWatchError(f"{action} failed ({code}): {text} ({source.where})")
    return CloudWatchError(f"{action} failed: {err} ({source.where})")


_THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded")


def _call(source, action: str, fn, *, attempts: int = 3, **kwargs):
    """One read-only call. botocore's adaptive retries come first; a throttle that still gets through
    is retried here a few times with backoff before it becomes a message."""
    for attempt in range(attempts):
        try:
            return fn(**kwargs)
        except CloudWatchError:
            raise
        except Exception as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code", "") if hasattr(err, "response") else ""
            if code in _THROTTLED and attempt + 1 < attempts:
                time.sleep(0.2 * 2 ** attempt)
                continue
            raise explain(err, source, action) from None


def list_jobs(source: CloudWatchSource, name_contains: str = "", clients=None, limit: int = 50) -> list[dict]:
    """Training jobs whose name contains ``name_contains`` (newest first), for a job picker."""
    clients = clients or make_clients(source)
    kwargs = {"MaxResults": min(limit, 100), "SortBy": "CreationTime", "SortOrder": "Descending"}
    if name_contains:
        kwargs["NameContains"] = name_contains
    response = _call(source, "sagemaker:ListTrainingJobs", clients["sagemaker"].list_training_jobs, **kwargs)
    return [{"name": j["TrainingJobName"], "status": j.get("TrainingJobStatus")} for j in response.get("TrainingJobSummaries", [])]


_HOST_STREAM = re.compile(r"^(?P<host>.+/algo-(?P<number>\d+))-(?P<epoch>\d+)$")


@dataclass
class _StreamState:
    token: str | None = None
    line: int = 1  # the stream's next line number: a restart or a skipped line is named by it
    carry: dict = field(default_factory=dict)
    ingested: int | None = None  # DescribeLogStreams' lastIngestionTime, as last listed
    ingested_read: int | None = None  # ... as it was when the stream was last read
    read_at: float = 0.0  # time.monotonic() of the last GetLogEvents


@dataclass
class _Host:
    """One host's streams, read as one step sequence (a restart is a step going back in it)."""

    name: str
    rank: tuple
    live: LiveRun
    streams: list[str] = field(default_factory=list)  # in epoch order
    seq: int = 0


def _host_summary(host: _Host, frame: pd.DataFrame, repeated, differing) -> dict:
    steps = frame["step"]
    return {"host": host.name, "streams": list(host.streams),
            "steps": {"first": int(steps.min()), "last": int(steps.max()), "count": int(steps.nunique())},
            "values": len(frame), "values_kept": int((~repeated).sum()), "values_repeated": int(repeated.sum()),
            "values_differing": 0 if differing is None else int(differing.sum())}


def host_of(stream: str) -> tuple[str, tuple, int]:
    """``<job>/algo-<n>-<epoch>`` -> (``<job>/algo-<n>``, precedence key, epoch). algo-2 ranks before
    algo-10; a stream named otherwise is a host of its own, after them."""
    match = _HOST_STREAM.match(stream)
    if match is None:
        return stream, (1, 0, stream), 0
    return match["host"], (0, int(match["number"]), match["host"]), int(match["epoch"])


@dataclass
class CloudWatchRun:
    """A job followed in CloudWatch. Has the ``refresh()`` / ``frame`` / ``last_new_data`` of LiveRun."""

    source: CloudWatchSource
    clients: dict | None = None
    info: RunInfo = None
    calls: int = 0  # API calls made, so the cost of a quiet refresh can be checked
    # Fleet mode: a stream whose lastIngestionTime did not move since it was read is not read again,
    # except every ``recheck_every`` seconds (that field is eventually consistent: it can lag behind
    # new events, typically by less than an hour, so it never decides alone for long).
    skip_quiet_streams: bool = False
    recheck_every: float = 300.0
    notes: list[str] = field(default_factory=list)
    description: dict = field(default_factory=dict)

    def __post_init__(self):
        self.clients = self.clients or make_clients(self.source)
        self.info = RunInfo(run_id=self.source.job, source=f"cloudwatch:{self.source.platform}:{self.source.job}",
                            format="", platform=self.source.platform)
        self._streams: dict[str, _StreamState] = {}
        self._hosts: dict[str, _Host] = {}
        self._frame: pd.DataFrame | None = None
        self.hosts: list[dict] = []  # per host: streams, steps, values kept / repeated / differing
        self._hosts_note: str | None = None
        self._hyperpod_lines = _StreamState()  # HyperPod: all nodes' lines, merged by time
        self._group: str | None = None
        self._seen_ids: set[str] = set()
        self._last_time: int | None = None
        self._format: str | None = None

    # --- LiveRun-compatible surface -----------------------------------------------------------
    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = self._merge_hosts()
        return self._frame

    @property
    def last_new_data(self):
        return max((h.live.last_new_data for h in self._hosts.values() if h.live.last_new_data), default=None)

    def refresh(self) -> list[str]:
        batches = self._read_smtj() if self.source.platform == "smtj" else self._read_hyperpod()
        if batches and self._ingest(batches):
            self._frame = self._merge_hosts()  # now, so the note about hosts in RunInfo is current
        return []

    def feed(self, messages: list[str]) -> int:
        """Lines of this job read elsewhere (a HyperPod cluster read once for all of its jobs), added as
        a refresh adds its own. Returns the rows added."""
        added = self._ingest({"": messages}) if messages else 0
        if added:
            self._frame = self._merge_hosts()
        return added

    # --- logs -------------------------------------------------------------------------------------
    def _api(self, action: str, fn, **kwargs):
        self.calls += 1
        return _call(self.source, action, fn, **kwargs)

    def _read_smtj(self) -> dict[str, list[str]]:
        """The new messages of every stream, each stream in its own order."""
        logs = self.clients["logs"]
        self._discover_streams()
        batches = {}
        now = time.monotonic()
        for name, state in self._streams.items():
            if self.skip_quiet_streams and state.token is not None and state.ingested is not None \
                    and state.ingested == state.ingested_read and now - state.read_at < self.recheck_every:
                continue  # listed as quiet since its last read
            state.ingested_read, state.read_at = state.ingested, now
            token, events = state.token, []
            while True:
                kwargs = {"logGroupName": SMTJ_GROUP, "logStreamName": name, "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                if self.source.page_limit:
                    kwargs["limit"] = self.source.page_limit
                page = self._api("logs:GetLogEvents", logs.get_log_events, **kwargs)
                events.extend(e["message"] for e in page.get("events", []))
                new_token = page.get("nextForwardToken")
                if not new_token or new_token == token:  # the token came back: nothing more, for now
                    break
                token = new_token
            state.token = token
            if events:
                batches[name] = events
        return batches

    def _discover_streams(self) -> None:
        logs = self.clients["logs"]
        kwargs = {"logGroupName": SMTJ_GROUP, "logStreamNamePrefix": f"{self.source.job}/"}
        found = []
        while True:
            page = self._api("logs:DescribeLogStreams", logs.describe_log_streams, **kwargs)
            found.extend((s["logStreamName"], s.get("lastIngestionTime")) for s in page.get("logStreams", []))
            if not page.get("nextToken") or page.get("nextToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if not found and not self._streams:
            raise CloudWatchError(f"no log streams for job {self.source.job!r} in {SMTJ_GROUP} ({self.source.where}): "
                                  "check the job name and region; a job that has not started has no logs yet")
        for name, ingested in found:
            self._streams.setdefault(name, _StreamState()).ingested = ingested

    def _hyperpod_group(self) -> str:
        if self._group:
            return self._group
        if not self.source.cluster:
            raise CloudWatchError("HyperPod needs the cluster name (--cluster, or the dashboard's cluster field)")
        prefix = f"{HYPERPOD_PREFIX}{self.source.cluster}/"
        page = self._api("logs:DescribeLogGroups", self.clients["logs"].describe_log_groups, logGroupNamePrefix=prefix)
        groups = [g["logGroupName"] for g in page.get("logGroups", [])]
        if not groups:
            raise CloudWatchError(f"no log group {prefix}<id> ({self.source.where}): check the cluster name and region")
        self._group = groups[0]
        return self._group

    def _read_hyperpod(self) -> dict[str, list[str]]:
        """The job's new lines of all nodes merged by time, as one stream: a HyperPod job resumed
        after a node was replaced may go on in another node's stream, so nodes are not told apart."""
        group = self._hyperpod_group()
        # The filter finds the job's term anywhere (``rft-1`` also in ``rft-10``'s lines); a line is the
        # job's only when it starts with the job's own prefix, ``[rft-1] [2025-12-17 04:54:49,774]``.
        self._job_prefix = re.compile(r"\s*\[" + re.escape(self.source.job) + r"\] ")
        kwargs = {"logGroupName": group, "logStreamNamePrefix": HYPERPOD_STREAMS, "filterPattern": f'"{self.source.job}"'}
        if self._last_time is not None:
            kwargs["startTime"] = self._last_time  # inclusive: the event ids below drop what was seen
        if self.source.page_limit:
            kwargs["limit"] = self.source.page_limit
        events = []
        while True:
            page = self._api("logs:FilterLogEvents", self.clients["logs"].filter_log_events, **kwargs)
            for event in page.get("events", []):
                if event.get("eventId") in self._seen_ids or not self._job_prefix.match(event["message"]):
                    continue
                self._seen_ids.add(event.get("eventId"))
                events.append((event["timestamp"], event.get("logStreamName", ""), event["message"]))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        if not events:
            return {}
        self._last_time = max(e[0] for e in events)
        return {"": [message for _, _, message in sorted(events, key=lambda e: (e[0], e[1]))]}

    def _state(self, stream: str) -> _StreamState:
        return self._streams[stream] if stream else self._hyperpod_lines

    def _host(self, stream: str) -> _Host:
        name, rank, _ = host_of(stream)
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(name, rank, LiveRun(self.info, [], definitions=None))
            self._hosts = dict(sorted(self._hosts.items(), key=lambda item: item[1].rank))
        if stream not in host.streams:
            host.streams = sorted([*host.streams, stream], key=lambda s: (host_of(s)[2], s))
        return host

    def _ingest(self, batches: dict[str, list[str]]) -> int:
        """Parse each stream's new lines on its own and add them to its host. Returns rows added."""
        texts = {name: "".join(m if m.endswith("\n") else m + "\n" for m in messages) for name, messages in batches.items()}
        if self._format is None:
            reason = ""
            for text in texts.values():
                try:
                    self._format = sniff(Path("cloudwatch.log"), text.encode("utf-8"))
                    break
                except FormatError as err:
                    reason = f"log lines not recognized yet: {err}"
            if self._format is None:
                if reason not in self.notes:
                    self.notes.append(reason)
                for name, text in texts.items():  # dropped, but later lines keep their place in the stream
                    self._state(name).line += text.count("\n")
                return 0
            self.info.format = self._format
        for name in texts:
            self._host(name)
        added = 0
        for host in self._hosts.values():  # in rank order; each host's streams in epoch order
            for name in host.streams:
                if name in texts:
                    added += self._add_stream(host, name, texts[name])
        return added

    def _add_stream(self, host: _Host, name: str, text: str) -> int:
        state, lines = self._state(name), text.count("\n")
        cursor = FileCursor(path="", format=self._format, line=state.line, seq=host.seq)
        records = parse_lines(self._format, text, self.info, cursor, state.carry, None, lines)
        self.info.lines_read += lines
        state.line += lines
        if not records.height:
            return 0
        host.seq = int(records["seq"].max()) + 1
        known = len(self.info.restarts)
        added = host.live.add_records(records)
        for restart in self.info.restarts[known:] if name else []:  # name the stream: its line is findable there
            self.info.warnings.append(f"{name}: step {restart.from_step} went back to step {restart.to_step} at line "
                                      f"{restart.line} of the stream, read as a restart from a checkpoint (the newer "
                                      "values are kept)")
        return added

    def _merge_hosts(self) -> pd.DataFrame:
        """One value per (metric, step): the lowest-numbered host that logged it. Fills ``hosts``
        and keeps one reading note about them current."""
        frames = [(host, host.live.frame) for host in self._hosts.values() if len(host.live.frame)]
        if len(frames) < 2:  # one host (the common case): nothing to merge, nothing to copy
            self.hosts = [_host_summary(*frames[0], np.zeros(len(frames[0][1]), bool), None)] if frames else []
            return frames[0][1] if frames else empty_frame()
        stacked = pd.concat([frame.assign(_host=i) for i, (_, frame) in enumerate(frames)], ignore_index=True)
        repeated = stacked.duplicated(["metric", "step"], keep="first").to_numpy()
        kept = stacked[~repeated]
        first = kept.set_index(["metric", "step"])["value"]
        again = stacked[repeated]
        theirs = first.reindex(pd.MultiIndex.from_frame(again[["metric", "step"]])).to_numpy()
        ours = again["value"].to_numpy()
        differing = np.zeros(len(stacked), dtype=bool)
        differing[repeated] = ~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs)))
        # NaN and inf are evidence: a non-finite value any host logged is kept over a finite one of a
        # lower-numbered host (a diverging rank must not be hidden by rank 0's value).
        evidence = ~np.isfinite(ours) & np.isfinite(theirs)
        if evidence.any():
            found = again.loc[evidence, ["metric", "step", "value"]].drop_duplicates(["metric", "step"])
            where = pd.MultiIndex.from_frame(kept[["metric", "step"]]).get_indexer(
                pd.MultiIndex.from_frame(found[["metric", "step"]]))
            kept = kept.copy()
            kept.iloc[where, kept.columns.get_loc("value")] = found["value"].to_numpy()
        owner = stacked["_host"].to_numpy()
        self.hosts = [_host_summary(host, frame, repeated[owner == i], differing[owner == i])
                      for i, (host, frame) in enumerate(frames)]
        self._note_hosts()
        merged = kept.drop(columns="_host").sort_values(["metric", "step"], kind="stable", ignore_index=True)
        return merged.astype({"run_id": "category", "metric": "category"})

    def _note_hosts(self) -> None:
        parts = []
        for h in self.hosts:
            part = (f"{h['host']} steps {h['steps']['first']}-{h['steps']['last']} ({h['steps']['count']} steps, "
                    f"{h['values_kept']} of {h['values']} values kept")
            if h["values_repeated"]:
                part += f"; {h['values_repeated']} repeat a lower-numbered host's, {h['values_differing']} with another value"
            parts.append(part + ")")
        note = (f"{len(self.hosts)} hosts log metrics, merged by step; where hosts log the same step the "
                "lowest-numbered host's value is kept (a NaN or inf of any host over a finite value): " + "; ".join(parts))
        warnings = self.info.warnings
        if self._hosts_note in warnings:
            warnings[warnings.index(self._hosts_note)] = note
        else:
            warnings.append(note)
        self._hosts_note = note

    # --- job description and metrics -----------------------------------------------------------
    def describe(self) -> dict:
        """DescribeTrainingJob (SMTJ only): status, hyperparameters into RunInfo, definitions, final metrics."""
        if self.source.platform != "smtj":
            return {}
        job = self._api("sagemaker:DescribeTrainingJob", self.clients["sagemaker"].describe_training_job,
                        TrainingJobName=self.source.job)
        from ..recipes import summarize_recipe

        hyper = job.get("HyperParameters") or {}
        # Serverless jobs name their technique (SFT, DPO, RLVR) and LoRA in ServerlessJobConfig, not
        # in the hyperparameters: the recipe checks need both.
        recipe = {**hyper, "ServerlessJobConfig": job["ServerlessJobConfig"]} if job.get("ServerlessJobConfig") else hyper
        if hyper:
            summary = summarize_recipe(recipe)
            self.info.hyperparameters.update(summary["hyperparameters"])
            if summary["technique"] not in ("unknown", None):
                self.info.technique = summary["technique"]
            self.info.training_mode = summary["training_mode"] or self.info.training_mode
        for item in job.get("FinalMetricDataList", []) or []:
            self.info.final_metrics[item["MetricName"]] = item["Value"]
        self.description = {
            "status": job.get("TrainingJobStatus"), "secondary_status": job.get("SecondaryStatus"),
            "hyperparameters": hyper, "recipe": recipe, "metric_definitions": (job.get("AlgorithmSpecification") or {}).get("MetricDefinitions", []),
            "start": job.get("TrainingStartTime"), "end": job.get("TrainingEndTime"),
            "final_metrics": {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", []) or []},
        }
        self.info.live = self.description["status"] == "InProgress"
        return self.description

    def metrics(self, *, start: datetime | None = None, end: datetime | None = None, period: int = 60) -> pd.DataFrame:
        """Instance and algorithm metrics over time: columns ``time, metric, host, value``."""
        description = self.description or self.describe()
        end = end or description.get("end") or datetime.now(timezone.utc)
        start = start or description.get("start") or end - timedelta(hours=3)
        start = start.replace(second=0, microsecond=0)  # AWS floors to the minute; moto does not
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
        if datetime.now(timezone.utc) - start > timedelta(days=15):
            period = max(period, 300)
            self.notes.append("metrics older than 15 days exist only at 5-minute resolution in CloudWatch")
        hosts = sorted({"/".join(name.split("/")[:2]).rsplit("-", 1)[0] for name in self._streams}) or [f"{self.source.job}/algo-1"]
        queries, labels = [], {}
        for host in hosts:
            for metric in INSTANCE_METRICS:
                labels[f"q{len(queries)}"] = (metric, host)
                queries.append({"Id": f"q{len(queries)}", "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": [{"Name": "Host", "Value": host}]},
                    "Period": period, "Stat": "Average"}})
        for definition in description.get("metric_definitions", []):
            labels[f"q{len(queries)}"] = (definition["Name"], "")
            queries.append({"Id": f"q{len(queries)}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": definition["Name"],
                           "Dimensions": [{"Name": "TrainingJobName", "Value": self.source.job}]},
                "Period": period, "Stat": "Average"}})
        return get_metric_data(self, queries, labels, start, end)

    def to_run(self):
        from .discover import Run

        return Run(self.info, self.frame, self)


def get_metric_data(run: CloudWatchRun, queries: list[dict], labels: dict, start, end) -> pd.DataFrame:
    """GetMetricData in batches of 500 queries, following NextToken; PartialData is noted."""
    rows = []
    cloudwatch = run.clients["cloudwatch"]
    for offset in range(0, len(queries), MAX_QUERIES):
        kwargs = {"MetricDataQueries": queries[offset:offset + MAX_QUERIES], "StartTime": start, "EndTime": end,
                  "ScanBy": "TimestampAscending"}
        while True:
            page = run._api("cloudwatch:GetMetricData", cloudwatch.get_metric_data, **kwargs)
            for result in page.get("MetricDataResults", []):
                metric, host = labels[result["Id"]]
                if result.get("StatusCode") == "PartialData":
                    note = f"{metric}: CloudWatch returned partial data; more arrives with the next refresh"
                    if note not in run.notes:
                        run.notes.append(note)
                for stamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    rows.append({"time": stamp, "metric": metric, "host": host, "value": float(value)})
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    frame = pd.DataFrame(rows, columns=["time", "metric", "host", "value"])
    return frame.sort_values(["metric", "host", "time"]).reset_index(drop=True) if len(frame) else frame


def open_cloudwatch(source: CloudWatchSource, clients=None):
    """Read a job for the first time. Returns an ingest ``Run`` whose ``live`` is the CloudWatchRun."""
    run = CloudWatchRun(source, clients)
    if source.platform == "smtj":
        try:
            run.describe()
        except CloudWatchError as err:
            if "check the job name" not in str(err):
                raise
            run.notes.append("the job has no DescribeTrainingJob record here; reading its logs only")
    run.refresh()
    if not len(run.frame):
        run.notes.append("no metric lines in the job's logs yet")
    run.info.warnings.extend(run.notes)
    return run.to_run()


def iam_policy() -> dict:
    """The minimal read-only IAM policy the README prints."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(READ_ONLY_ACTIONS), "Resource": "*"}]}

