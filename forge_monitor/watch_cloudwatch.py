"""CloudWatch for ``forge-monitor watch``: named jobs, jobs found by name prefix, and the opt-in stop.

- A job named with ``--cloudwatch JOB`` is opened once (``open_cloudwatch``: DescribeTrainingJob and the
  whole log), then each refresh reads only what is new (``CloudWatchRun.refresh`` through ``LiveMonitor``).
- ``--cloudwatch-prefix PREFIX``: ListTrainingJobs (``NameContains`` + ``StatusEquals=InProgress``,
  NextToken paging), kept only when the name *starts* with the prefix (the service matches anywhere).
- A job whose DescribeTrainingJob status is no longer InProgress has been read to the end: it is dropped.
- The stop (``--stop-on DETECTOR[:SEVERITY]`` with ``--allow-stop``): StopTrainingJob for that exact job,
  only when DescribeTrainingJob says InProgress right then, at most once per job (kept in the state).
  Never a HyperPod job (its jobs are not SageMaker training jobs) and never a local file.
"""

from __future__ import annotations

from dataclasses import dataclass

from .notify import SEVERITIES

STOP_PERMISSION = "sagemaker:StopTrainingJob"


@dataclass(frozen=True)
class StopRule:
    detector: str
    severity: str = "critical"  # the lowest severity of that detector's alerts that stops the job

    def matches(self, alert: dict) -> bool:
        return alert["detector"] == self.detector and SEVERITIES.index(alert["severity"]) >= SEVERITIES.index(self.severity)


def parse_stop_rule(text: str) -> StopRule:
    """``DETECTOR[:SEVERITY]``; ValueError naming the value when the detector or severity is unknown."""
    from .detectors import REGISTRY

    detector, _, severity = text.strip().partition(":")
    severity = severity.strip().lower() or "critical"
    if detector not in REGISTRY:
        raise ValueError(f"--stop-on {text}: no detector {detector!r} (see `forge-monitor detectors`)")
    if severity not in SEVERITIES:
        raise ValueError(f"--stop-on {text}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return StopRule(detector, severity)


def is_cloudwatch(live) -> bool:
    from .ingest.cloudwatch import CloudWatchRun

    return isinstance(live, CloudWatchRun)


def cloudwatch_key(live) -> str:
    """The state's name of a CloudWatch run: ``cloudwatch:<region>:<job>``."""
    return f"cloudwatch:{live.clients['sagemaker'].meta.region_name}:{live.source.job}"


def in_progress_jobs(template, prefix: str, clients) -> list[str]:
    """Names of the SMTJ jobs InProgress that start with ``prefix``, every page."""
    from .ingest.cloudwatch import _call

    kwargs = {"NameContains": prefix, "StatusEquals": "InProgress", "MaxResults": 100,
              "SortBy": "CreationTime", "SortOrder": "Ascending"}
    names = []
    while True:
        page = _call(template, "sagemaker:ListTrainingJobs", clients["sagemaker"].list_training_jobs, **kwargs)
        names.extend(j["TrainingJobName"] for j in page.get("TrainingJobSummaries", [])
                     if j["TrainingJobName"].startswith(prefix))
        token = page.get("NextToken")
        if not token or token == kwargs.get("NextToken"):
            return names
        kwargs["NextToken"] = token


def stop_job(live, stopped: dict, key: str, alert: dict) -> str:
    """Stop the job of ``live`` for ``alert`` when that is allowed; returns the sentence for the
    notification (what was done, or why not). ``stopped`` (the watch state's) is updated."""
    from .ingest.cloudwatch import CloudWatchError, _call

    if not is_cloudwatch(live):
        return "not stopped: local files cannot be stopped"
    source = live.source
    if source.platform != "smtj":
        return "not stopped: HyperPod jobs are never stopped by forge-monitor"
    if key in stopped:
        return f"not stopped again: forge-monitor already stopped the training job {source.job} ({stopped[key]['reason']})"
    try:
        status = live.describe().get("status")
        if status != "InProgress":
            return f"not stopped: the training job {source.job} is {status}, not InProgress"
        _call(source, STOP_PERMISSION, live.clients["sagemaker"].stop_training_job, TrainingJobName=source.job)
    except CloudWatchError as err:
        return f"could not stop the training job {source.job}: {err}"
    stopped[key] = {"job": source.job, "reason": f"{alert['detector']} ({alert['severity']}) at step {alert['step']}"}
    return f"stopped the training job {source.job}"
