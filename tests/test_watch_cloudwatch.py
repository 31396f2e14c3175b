"""``forge-monitor watch`` on CloudWatch training jobs, against a real moto server over HTTP.

Where moto is unfaithful (issue 12): every moto training job is ``Completed`` from the start, so a
job that is still training is made ``InProgress`` in moto's in-process backend (the server runs in
this process); moto has no StopTrainingJob (HTTP 500), so that one operation is answered by a
``before-call`` hook on the client (the mechanism botocore's Stubber uses, which would otherwise stub
every SageMaker call) that records the call and sets moto's job to ``Stopping``, as AWS does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT
from forge_monitor.ingest.cloudwatch import SMTJ_GROUP, CloudWatchSource
from forge_monitor.notify import Outbox, Route
from forge_monitor.watch import Watcher, WatchState, parse_stop_rule
from test_cloudwatch import NOW_MS, aws, create_job, moto_url, put_lines, sample_lines  # noqa: F401 - fixtures

SPIKY = "nova-sft-datamix-high-lr"  # critical loss spikes at steps 141, 230 and 301
HEALTHY = "nova-cpt-healthy"


def set_status(job: str, status: str) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].training_jobs[job].training_job_status = status


def status_of(aws, job: str) -> str:
    return aws["sagemaker"].describe_training_job(TrainingJobName=job)["TrainingJobStatus"]


@pytest.fixture
def stops(aws):
    """StopTrainingJob calls made through ``aws["sagemaker"]`` (job names, in order)."""
    calls: list[str] = []

    def record(params, **_):  # the API parameters, as Stubber reads them
        calls.append(params["TrainingJobName"])
        set_status(params["TrainingJobName"], "Stopping")

    def answer(**_):  # a response here means no HTTP request is made (as in Stubber)
        from botocore.awsrequest import AWSResponse

        return AWSResponse(None, 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    events = aws["sagemaker"].meta.events
    events.register("before-parameter-build.sagemaker.StopTrainingJob", record)
    events.register("before-call.sagemaker.StopTrainingJob", answer)
    return calls


def job(aws, name: str, folder: str, *, status: str = "InProgress", lines: int | None = None) -> None:
    create_job(aws["sagemaker"], name)
    set_status(name, status)
    put_lines(aws["logs"], SMTJ_GROUP, f"{name}/algo-1-1", sample_lines(folder)[:lines], start_ms=NOW_MS)


def watcher(aws, tmp_path, *, jobs=(), prefixes=(), stop_on=(), platform="smtj", paths=()):
    outbox = Outbox([Route("stdout://", "warning")], dry_run=True)
    template = CloudWatchSource("", platform=platform, cluster="c" if platform == "hyperpod" else None)
    return Watcher(paths, outbox, WatchState(tmp_path / "state"), cloudwatch=list(jobs), prefixes=list(prefixes),
                   template=template, clients={k: aws[k] for k in aws},
                   stop_on=[parse_stop_rule(r) for r in stop_on])


def test_cli_watch_cloudwatch_job_once_dry_run_prints_one_message(aws, moto_url, tmp_path):
    job(aws, "spiky-job", SPIKY, status="Completed")
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", "--cloudwatch", "spiky-job", "--region",
                           "us-east-1", "--once", "--dry-run", "--state", str(tmp_path / "s")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("--- would send") == 1, done.stdout
    assert "Run: spiky-job" in done.stdout and "Detector: loss_spike" in done.stdout
    saved = json.loads((tmp_path / "s" / "watch-state.json").read_text())
    assert list(saved["runs"]) == ["cloudwatch:us-east-1:spiky-job"]
    assert "spiky-job: finished (Completed)" in done.stderr  # read to the end once, then dropped


def test_each_refresh_reads_only_what_is_new(aws, tmp_path):
    job(aws, "growing-job", HEALTHY, lines=100)
    w = watcher(aws, tmp_path, jobs=["growing-job"])
    w.refresh()
    monitor = w.monitors["cloudwatch:us-east-1:growing-job"]
    first = int(monitor.run.frame["step"].max())
    lines = sample_lines(HEALTHY)[100:150]
    aws["logs"].put_log_events(logGroupName=SMTJ_GROUP, logStreamName="growing-job/algo-1-1",
                               logEvents=[{"timestamp": NOW_MS + 5000 + i, "message": m} for i, m in enumerate(lines)])
    before, read = monitor.run.live.calls, monitor.run.info.lines_read
    w.refresh()
    assert int(monitor.run.frame["step"].max()) > first
    assert monitor.run.info.lines_read - read == 50  # only the new lines
    assert monitor.run.live.calls - before == 3  # DescribeLogStreams; GetLogEvents until the token repeats


def test_prefix_discovery_picks_up_a_job_started_later_and_drops_a_finished_one(aws, tmp_path, capsys):
    job(aws, "sweep-a", HEALTHY, lines=50)
    job(aws, "other-sweep-x", HEALTHY, lines=50)  # contains the prefix, does not start with it
    job(aws, "sweep-old", HEALTHY, lines=50, status="Completed")  # not InProgress: not followed
    w = watcher(aws, tmp_path, prefixes=["sweep-"])
    w.relist_every = 2
    w.refresh()
    assert set(w.monitors) == {"cloudwatch:us-east-1:sweep-a"}
    job(aws, "sweep-b", SPIKY)
    w.refresh()  # not a re-listing refresh
    assert "cloudwatch:us-east-1:sweep-b" not in w.monitors
    assert w.refresh() >= 1  # re-listed: sweep-b is followed, and its spikes are new alerts
    assert set(w.monitors) == {"cloudwatch:us-east-1:sweep-a", "cloudwatch:us-east-1:sweep-b"}
    set_status("sweep-a", "Completed")
    w.refresh()
    w.refresh()
    assert set(w.monitors) == {"cloudwatch:us-east-1:sweep-b"}
    assert "sweep-a: finished (Completed)" in capsys.readouterr().err


def test_stop_on_a_critical_loss_spike_stops_the_job_once(aws, tmp_path, stops, capsys):
    job(aws, "stop-me", SPIKY)
    w = watcher(aws, tmp_path, jobs=["stop-me"], stop_on=["loss_spike"])
    w.refresh()
    assert stops == ["stop-me"]
    assert status_of(aws, "stop-me") in ("Stopping", "Stopped")
    out = capsys.readouterr().out
    assert out.count("--- would send") == 1 and "Action: stopped the training job stop-me" in out, out
    saved = json.loads((tmp_path / "state" / "watch-state.json").read_text())
    assert saved["stopped"]["cloudwatch:us-east-1:stop-me"]["job"] == "stop-me"
    w.refresh()
    set_status("stop-me", "InProgress")  # even if it were still training: a restart does not stop it again
    again = watcher(aws, tmp_path, jobs=["stop-me"], stop_on=["loss_spike"])
    again.refresh()
    assert stops == ["stop-me"]
    assert "--- would send" not in capsys.readouterr().out


def test_a_job_that_is_not_in_progress_is_not_stopped(aws, tmp_path, stops, capsys):
    job(aws, "done-job", SPIKY, status="Completed")
    watcher(aws, tmp_path, jobs=["done-job"], stop_on=["loss_spike:warning"]).refresh()
    assert stops == []
    assert "Action: not stopped: the training job done-job is Completed, not InProgress" in capsys.readouterr().out


def test_a_spike_below_the_stop_severity_or_another_detector_does_not_stop(aws, tmp_path, stops):
    job(aws, "warned-job", SPIKY)
    watcher(aws, tmp_path, jobs=["warned-job"], stop_on=["nonfinite", "grad_norm_spike:critical"]).refresh()
    assert stops == [] and status_of(aws, "warned-job") == "InProgress"


def test_hyperpod_and_local_runs_are_never_stopped(aws, tmp_path, stops, capsys):
    group = "/aws/sagemaker/Clusters/c/abc123"
    # the sample's lines start with its job's own prefix, [sft-datamix-lr5e-5], as HyperPod's do
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/node-1", sample_lines(SPIKY), start_ms=NOW_MS)
    local = tmp_path / "local" / "train.log"
    local.parent.mkdir()
    local.write_text("\n".join(sample_lines(SPIKY)) + "\n")
    watcher(aws, tmp_path, jobs=["sft-datamix-lr5e-5"], platform="hyperpod", stop_on=["loss_spike"], paths=[local]).refresh()
    out = capsys.readouterr().out
    assert stops == []
    assert "Action: not stopped: HyperPod jobs are never stopped by forge-monitor" in out
    assert "Action: not stopped: local files cannot be stopped" in out


@pytest.mark.parametrize("args, says", [
    (["--stop-on", "loss_spike"], "--allow-stop"),
    (["--stop-on", "no_such_detector", "--allow-stop"], "no_such_detector"),
    (["--stop-on", "loss_spike:fatal", "--allow-stop"], "fatal"),
    (["--cloudwatch-prefix", "x", "--platform", "hyperpod", "--cluster", "c"], "--cloudwatch-prefix"),
    ([], "needs PATH"),
])
def test_stop_usage_errors_exit_2_with_one_line(tmp_path, args, says):
    cloudwatch = [] if "--cloudwatch-prefix" in args or not args else ["--cloudwatch", "j"]
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", *cloudwatch, "--region", "us-east-1",
                           "--dry-run", "--once", "--state", str(tmp_path / "s"), *args],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_denied_stop_points_at_the_stop_policy_not_the_read_only_one():
    from botocore.exceptions import ClientError

    from forge_monitor.ingest.cloudwatch import CloudWatchSource, explain

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "StopTrainingJob")
    message = str(explain(denied, CloudWatchSource("j"), "sagemaker:StopTrainingJob"))
    assert "permission denied for sagemaker:StopTrainingJob" in message and "stop policy" in message
    assert "read-only" in str(explain(denied, CloudWatchSource("j"), "logs:GetLogEvents"))
