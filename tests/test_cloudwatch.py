"""CloudWatch against a real moto server over HTTP, and a botocore Stubber where moto is unfaithful
(GetMetricData never pages; throttling, access denied and expired credentials need exact responses)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import boto3
import numpy as np
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from conftest import SAMPLE_LOGS
from forge_monitor.detectors import run_checks
from forge_monitor.ingest import load_paths
from forge_monitor.ingest.cloudwatch import (
    SMTJ_GROUP, CloudWatchError, CloudWatchRun, CloudWatchSource, get_metric_data, list_jobs, open_cloudwatch,
)
from forge_monitor.schema import validate_frame

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_url, monkeypatch):
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    kw = dict(endpoint_url=moto_url, config=Config(retries={"max_attempts": 1}), **CREDS)
    return {name: boto3.client(name, **kw) for name in ("logs", "cloudwatch", "sagemaker")}


def sample_lines(folder: str) -> list[str]:
    return next((SAMPLE_LOGS / folder).glob("*.log")).read_text().splitlines()


def put_lines(logs, group: str, stream: str, lines: list[str], *, start_ms: int, batch: int = 500) -> None:
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    for i in range(0, len(lines), batch):
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": start_ms + 10 * (i + k), "message": line} for k, line in enumerate(lines[i:i + batch])])


def create_job(sagemaker, name: str, hyperparameters: dict | None = None, definitions=()) -> None:
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/sagemaker",
        AlgorithmSpecification={"TrainingImage": "nova", "TrainingInputMode": "File", "MetricDefinitions": list(definitions)},
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"}, StoppingCondition={"MaxRuntimeInSeconds": 3600},
        ResourceConfig={"InstanceType": "ml.p5.48xlarge", "InstanceCount": 2, "VolumeSizeInGB": 100},
        HyperParameters=hyperparameters or {})


def local_frame(folder: str, tmp_path):
    path = tmp_path / folder / "train.log"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(sample_lines(folder)) + "\n")
    run = load_paths([str(path)]).runs[0]
    return run


def comparable(frame):
    return frame.drop(columns="run_id").astype({"metric": str}).sort_values(["metric", "step"]).reset_index(drop=True)


NOW_MS = int(time.time() * 1000) - 3_600_000  # moto, like CloudWatch, drops events older than 14 days


@pytest.mark.parametrize("folder", ["nova-sft-lora-healthy", "nova-cpt-healthy", "nova-rft-reward-gaming"])
def test_smtj_job_gives_the_same_frame_and_alerts_as_the_local_file(aws, tmp_path, folder):
    job = f"{folder}-job"
    lines = sample_lines(folder)
    half = len(lines) // 2  # two instances' streams, merged by time
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1700000000", lines[:half], start_ms=NOW_MS)
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-2-1700000000", lines[half:], start_ms=NOW_MS + 10 * half)
    run = open_cloudwatch(CloudWatchSource(job, page_limit=97), {k: aws[k] for k in aws})  # several pages per stream
    local = local_frame(folder, tmp_path)
    assert comparable(run.frame).equals(comparable(local.frame))
    mine = [(a.detector, a.step, a.message) for a in run_checks(run.frame, run.info).alerts]
    theirs = [(a.detector, a.step, a.message) for a in run_checks(local.frame, local.info).alerts]
    assert mine == theirs


def test_json_line_events_give_the_same_frame_as_the_local_jsonl_file(aws, tmp_path):
    # A training script that prints one JSON object per step to stdout: CloudWatch hands the lines
    # over as text, files as bytes; both must reach the same JSONL parser (text used to crash it).
    lines = [json.dumps({"step": s, "loss": round(2.0 / s, 5), "grad_norm": 1.0}) for s in range(1, 301)]
    lines[120] = '{"step": 121, "loss": NaN, "grad_norm": 1.0}'
    put_lines(aws["logs"], SMTJ_GROUP, "json-job/algo-1-1700000000", lines, start_ms=NOW_MS)
    run = open_cloudwatch(CloudWatchSource("json-job", page_limit=97), {k: aws[k] for k in aws})
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(lines) + "\n")
    local = load_paths([str(path)]).runs[0]
    assert run.info.format == local.info.format == "jsonl"
    assert comparable(run.frame).equals(comparable(local.frame))
    assert len(run.frame[run.frame.metric == "train_loss"]) == 300


def test_quiet_refresh_costs_about_one_call_per_stream_and_new_events_arrive(aws):
    job = "live-job"
    lines = sample_lines("nova-cpt-healthy")
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1", lines[:100], start_ms=NOW_MS)
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-2-1", lines[100:150], start_ms=NOW_MS + 1000)
    cw = CloudWatchRun(CloudWatchSource(job), aws)
    cw.refresh()
    steps_before = cw.frame["step"].max()
    before = cw.calls
    cw.refresh()
    assert cw.calls - before == 1 + 2  # one DescribeLogStreams, one GetLogEvents per stream
    aws["logs"].put_log_events(logGroupName=SMTJ_GROUP, logStreamName=f"{job}/algo-2-1",
                               logEvents=[{"timestamp": NOW_MS + 5000 + i, "message": m} for i, m in enumerate(lines[150:160])])
    cw.refresh()
    assert cw.frame["step"].max() > steps_before
    assert len(cw.frame[cw.frame.metric == "train_loss"]) == cw.frame[cw.frame.metric == "train_loss"].step.nunique()


# --- multi-host SMTJ jobs: every host prints the progress lines -----------------------------------

def pipe_line(step: int, loss: float, total: int = 12_000) -> str:
    return (f"[2026-03-01 21:16:40,581] [INFO] Training epoch 0, iteration {step}/{total} | lr: 1e-05 | "
            f"global_step: {step} | reduced_train_loss: {loss:.6f}")


def algo1_loss(step: int) -> float:
    return 2.0 / (1 + 0.001 * step)


def put_events(logs, stream: str, events: list[tuple[int, str]], batch: int = 2_000) -> None:
    """Events of one stream, in time order; the stream is created when missing."""
    try:
        logs.create_log_group(logGroupName=SMTJ_GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=SMTJ_GROUP, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    for i in range(0, len(events), batch):
        logs.put_log_events(logGroupName=SMTJ_GROUP, logStreamName=stream,
                            logEvents=[{"timestamp": t, "message": m} for t, m in events[i:i + batch]])


def host_events(steps, *, lag_ms: int = 0, offset: float = 0.0, start_ms: int = NOW_MS) -> list[tuple[int, str]]:
    # Step s at 10*s ms; a lag of 15 ms puts a host's step s after the other host's step s+1, so
    # merged by time the steps go back at every line while the hosts overlap.
    return [(start_ms + 10 * s + lag_ms, pipe_line(s, algo1_loss(s) + offset)) for s in steps]


def train_loss(frame):
    loss = frame[frame.metric == "train_loss"]
    return dict(zip(loss.step.tolist(), loss.value.tolist()))


def test_second_host_repeating_steps_is_not_a_restart(aws):
    # Issue 10.2: a 12,000-step job read back with 11,999 steps (101 lost) when algo-2 repeated 1-100.
    job, n = "two-host-job", 12_000
    put_events(aws["logs"], f"{job}/algo-1-1700000000", host_events(range(1, n + 1)))
    put_events(aws["logs"], f"{job}/algo-2-1700000000", host_events(range(1, 101), lag_ms=15, offset=0.5))
    run = open_cloudwatch(CloudWatchSource(job), {k: aws[k] for k in aws})
    loss = train_loss(validate_frame(run.frame))
    assert sorted(loss) == list(range(1, n + 1))
    assert run.info.restarts == []
    assert all(loss[s] == pytest.approx(algo1_loss(s), abs=1e-6) for s in range(1, 201))  # algo-1's values
    hosts = {h["host"]: h for h in run.live.hosts}
    assert hosts[f"{job}/algo-1"]["steps"] == {"first": 1, "last": n, "count": n}
    assert hosts[f"{job}/algo-2"]["steps"] == {"first": 1, "last": 100, "count": 100}
    assert hosts[f"{job}/algo-2"]["values_kept"] == 0 and hosts[f"{job}/algo-2"]["values_differing"] == 100
    assert any("algo-1" in w and "algo-2" in w and "lowest-numbered host" in w for w in run.info.warnings)


def test_a_step_going_back_within_one_stream_is_still_a_restart(aws):
    job = "restart-job"
    steps = [*range(1, 51), *range(30, 61)]  # resumed from the checkpoint at step 30
    algo1 = [(NOW_MS + 10 * i, pipe_line(s, algo1_loss(s) + (0.25 if i >= 50 else 0.0), 60)) for i, s in enumerate(steps)]
    put_events(aws["logs"], f"{job}/algo-1-1700000000", algo1)
    put_events(aws["logs"], f"{job}/algo-2-1700000000", host_events(range(1, 61), lag_ms=15, offset=0.5))
    run = open_cloudwatch(CloudWatchSource(job, page_limit=17), {k: aws[k] for k in aws})
    loss = train_loss(run.frame)
    assert sorted(loss) == list(range(1, 61))
    assert [(r.from_step, r.to_step) for r in run.info.restarts] == [(50, 30)]
    assert loss[29] == pytest.approx(algo1_loss(29), abs=1e-6)
    assert all(loss[s] == pytest.approx(algo1_loss(s) + 0.25, abs=1e-6) for s in range(30, 61))  # the newest segment
    assert any("restart" in w and f"{job}/algo-1-1700000000" in w for w in run.info.warnings)


def test_a_new_stream_of_the_same_host_continues_it(aws):
    # A resumed job (managed spot) starts the same host again: a new <job>/algo-1-<epoch> stream.
    job = "resumed-job"
    put_events(aws["logs"], f"{job}/algo-1-1700000000", host_events(range(1, 51)))
    put_events(aws["logs"], f"{job}/algo-1-1700009999", host_events(range(40, 81), offset=0.25, start_ms=NOW_MS + 1000))
    run = open_cloudwatch(CloudWatchSource(job), {k: aws[k] for k in aws})
    loss = train_loss(run.frame)
    assert sorted(loss) == list(range(1, 81))
    assert [(r.from_step, r.to_step) for r in run.info.restarts] == [(50, 40)]
    assert loss[40] == pytest.approx(algo1_loss(40) + 0.25, abs=1e-6)


def test_live_refresh_of_a_second_host_repeating_steps_is_not_a_restart(aws):
    job = "live-two-host-job"
    one, two = f"{job}/algo-1-1700000000", f"{job}/algo-2-1700000000"
    put_events(aws["logs"], one, host_events(range(1, 151)))
    cw = CloudWatchRun(CloudWatchSource(job), aws)
    cw.refresh()
    assert sorted(train_loss(cw.frame)) == list(range(1, 151))
    put_events(aws["logs"], two, host_events(range(1, 101), lag_ms=15, offset=0.5))  # algo-2 shows up late
    put_events(aws["logs"], one, host_events(range(151, 201)))
    cw.refresh()
    put_events(aws["logs"], two, host_events(range(101, 221), lag_ms=15, offset=0.5))  # and gets ahead of algo-1
    cw.refresh()
    loss = train_loss(cw.frame)
    assert cw.info.restarts == []
    assert sorted(loss) == list(range(1, 221))
    assert all(loss[s] == pytest.approx(algo1_loss(s), abs=1e-6) for s in range(1, 201))
    assert all(loss[s] == pytest.approx(algo1_loss(s) + 0.5, abs=1e-6) for s in range(201, 221))  # only algo-2 has them
    put_events(aws["logs"], one, host_events(range(190, 231), offset=0.25, start_ms=NOW_MS + 5000))  # algo-1 resumes at 190
    cw.refresh()
    loss = train_loss(cw.frame)
    assert [(r.from_step, r.to_step) for r in cw.info.restarts] == [(200, 190)]
    assert sorted(loss) == list(range(1, 231))
    assert all(loss[s] == pytest.approx(algo1_loss(s) + 0.25, abs=1e-6) for s in range(190, 231))


def test_hyperpod_job_lines_found_with_filter_log_events(aws, tmp_path):
    folder = "nova-rft-hyperpod-kl-spike"
    lines = sample_lines(folder)  # each line starts with [rft-hp-lora] - the job name
    group = "/aws/sagemaker/Clusters/my-cluster/abc123"
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig-group/hyperpod-i-0001", lines[:200], start_ms=NOW_MS)
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig-group/hyperpod-i-0002", lines[200:], start_ms=NOW_MS + 2000)
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig-group/hyperpod-i-0003",
              ["[other-job] [2026-03-01 21:00:00,000] [INFO] Training epoch 0, iteration 1/9 | global_step: 1 | kl: 99"],
              start_ms=NOW_MS)
    run = open_cloudwatch(CloudWatchSource("rft-hp-lora", platform="hyperpod", cluster="my-cluster", page_limit=50),
                          {k: aws[k] for k in aws})
    local = local_frame(folder, tmp_path)
    assert comparable(run.frame).equals(comparable(local.frame))  # the other job's line did not leak in
    assert [a.step for a in run_checks(run.frame, run.info).alerts if a.detector == "kl_spike"] == [182]


def test_describe_training_job_fills_run_info_and_list_jobs(aws):
    job = "described-job"
    create_job(aws["sagemaker"], job, {"learning_rate": "5e-5", "customer_data_percent": "50", "technique": "sft",
                                       "nova_reasoning-instruction-following_percent": "50", "warmup_steps": "10",
                                       "max_steps": "400"})
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1", sample_lines("nova-sft-datamix-high-lr"), start_ms=NOW_MS)
    run = open_cloudwatch(CloudWatchSource(job), {k: aws[k] for k in aws})
    assert run.info.hyperparameters["learning_rate"] == 5e-5 and run.info.hyperparameters["data_mixing"] is True
    assert run.live.description["status"] in ("InProgress", "Completed")
    spike = next(a for a in run_checks(run.frame, run.info).alerts if a.detector == "loss_spike")
    assert "while data mixing is on" in spike.remediation  # DescribeTrainingJob hyperparameters reach the advice
    assert [j["name"] for j in list_jobs(CloudWatchSource(job), "described", aws)] == [job]


def test_metrics_put_come_back_through_get_metric_data(aws):
    job = "metrics-job"
    create_job(aws["sagemaker"], job, definitions=[{"Name": "train:loss", "Regex": "loss=(.*)"}])
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1", sample_lines("nova-cpt-healthy")[:20], start_ms=NOW_MS)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    aws["cloudwatch"].put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=[
        {"MetricName": "GPUUtilization", "Dimensions": [{"Name": "Host", "Value": f"{job}/algo-1"}],
         "Timestamp": now - timedelta(minutes=m), "Value": 80.0 + m} for m in range(1, 6)] + [
        {"MetricName": "train:loss", "Dimensions": [{"Name": "TrainingJobName", "Value": job}],
         "Timestamp": now - timedelta(minutes=m), "Value": 2.0 - 0.1 * m} for m in range(1, 4)])
    cw = CloudWatchRun(CloudWatchSource(job), aws)
    cw.refresh()
    cw.describe()
    # moto answers DescribeTrainingJob with fixed MetricDefinitions (test:dcg): use the job's own here
    cw.description["metric_definitions"] = [{"Name": "train:loss", "Regex": "loss=(.*)"}]
    metrics = cw.metrics(start=now - timedelta(minutes=30), end=now)
    gpu = metrics[metrics.metric == "GPUUtilization"]
    assert sorted(gpu.value) == [81.0, 82.0, 83.0, 84.0, 85.0] and set(gpu.host) == {f"{job}/algo-1"}
    assert len(metrics[metrics.metric == "train:loss"]) == 3


def test_unknown_job_gives_one_clear_message(aws):
    with pytest.raises(CloudWatchError, match="check the job name 'nope'.*region us-east-1"):
        open_cloudwatch(CloudWatchSource("nope"), {k: aws[k] for k in aws})


def test_cli_scan_cloudwatch_json(aws, moto_url):
    job = "cli-job"
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1", sample_lines("nova-rft-reward-gaming"), start_ms=NOW_MS)
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "scan", "--cloudwatch", job, "--region", "us-east-1", "--json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1, done.stderr  # the gaming run raises a warning
    payload = json.loads(done.stdout)
    assert payload["runs"][0]["run_id"] == job and payload["runs"][0]["steps"]["count"] == 300
    assert "reward_gaming" in {a["detector"] for a in payload["alerts"]}
    missing = subprocess.run([sys.executable, "-m", "forge_monitor", "scan", "--cloudwatch", "nope", "--region", "us-east-1"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert missing.returncode == 2 and "check the job name" in missing.stderr and "Traceback" not in missing.stderr


# --- Stubber: what moto does not do faithfully ------------------------------------------------------

def stubbed(service: str):
    client = boto3.client(service, **CREDS, config=Config(retries={"mode": "adaptive", "max_attempts": 3}))
    return client, Stubber(client)


def test_get_metric_data_pages_with_next_token_and_notes_partial_data():
    cloudwatch, stub = stubbed("cloudwatch")
    start, end = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, 1, tzinfo=timezone.utc)
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "n", "MetricName": f"m{i}"}, "Period": 60, "Stat": "Average"}}
               for i in range(501)]
    labels = {f"q{i}": (f"m{i}", "") for i in range(501)}
    page1 = {"MetricDataResults": [{"Id": "q0", "Timestamps": [start], "Values": [1.0], "StatusCode": "PartialData"}], "NextToken": "t1"}
    page2 = {"MetricDataResults": [{"Id": "q0", "Timestamps": [end], "Values": [2.0], "StatusCode": "Complete"}]}
    page3 = {"MetricDataResults": [{"Id": "q500", "Timestamps": [start], "Values": [3.0], "StatusCode": "Complete"}]}
    base = {"StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
    stub.add_response("get_metric_data", page1, {**base, "MetricDataQueries": queries[:500]})
    stub.add_response("get_metric_data", page2, {**base, "MetricDataQueries": queries[:500], "NextToken": "t1"})
    stub.add_response("get_metric_data", page3, {**base, "MetricDataQueries": queries[500:]})  # the 501st query: a 2nd batch
    run = CloudWatchRun.__new__(CloudWatchRun)
    run.source, run.clients, run.calls, run.notes = CloudWatchSource("j"), {"cloudwatch": cloudwatch}, 0, []
    with stub:
        frame = get_metric_data(run, queries, labels, start, end)
    assert list(frame.value) == [1.0, 2.0, 3.0] and run.calls == 3
    assert any("partial data" in n for n in run.notes)


def _log_run(logs_client, **source):
    run = CloudWatchRun.__new__(CloudWatchRun)
    CloudWatchRun.__init__(run, CloudWatchSource("j", **source), {"logs": logs_client, "cloudwatch": None, "sagemaker": None})
    return run


def test_repeated_forward_token_and_empty_pages_end_the_read():
    logs, stub = stubbed("logs")
    line = "[2026-03-01 21:00:00,000] [INFO] Training epoch 0, iteration {s}/9 | global_step: {s} | reduced_train_loss: 1.{s}"
    stub.add_response("describe_log_streams", {"logStreams": [{"logStreamName": "j/algo-1-1"}]})
    stub.add_response("get_log_events", {"events": [{"timestamp": 1, "message": line.format(s=1)}], "nextForwardToken": "f1", "nextBackwardToken": "b"})
    stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f2", "nextBackwardToken": "b"})  # empty page, new token
    stub.add_response("get_log_events", {"events": [{"timestamp": 2, "message": line.format(s=2)}], "nextForwardToken": "f3", "nextBackwardToken": "b"})
    stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f3", "nextBackwardToken": "b"})  # token repeats: stop
    run = _log_run(logs)
    with stub:
        run.refresh()
    assert sorted(run.frame[run.frame.metric == "train_loss"].step) == [1, 2]


def test_throttling_then_success_is_retried():
    logs, stub = stubbed("logs")
    stub.add_client_error("describe_log_streams", "ThrottlingException", "Rate exceeded", 400)
    stub.add_response("describe_log_streams", {"logStreams": []})
    run = _log_run(logs)
    with stub, pytest.raises(CloudWatchError, match="no log streams"):  # the retry got through; the job has no logs
        run.refresh()


@pytest.mark.parametrize("code,message", [
    ("AccessDeniedException", "permission denied for logs:DescribeLogStreams"),
    ("ExpiredTokenException", "credentials are expired"),
    ("ResourceNotFoundException", "check the job name 'j'"),
])
def test_failures_name_what_to_fix(code, message):
    logs, stub = stubbed("logs")
    stub.add_client_error("describe_log_streams", code, "boom", 400)
    run = _log_run(logs)
    with stub, pytest.raises(CloudWatchError, match=message):
        run.refresh()


def test_exhausted_throttling():
    logs, stub = stubbed("logs")
    for _ in range(3):
        stub.add_client_error("describe_log_streams", "ThrottlingException", "Rate exceeded", 400)
    run = _log_run(logs)
    with stub, pytest.raises(CloudWatchError, match="kept throttling"):
        run.refresh()


def test_missing_credentials(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CloudWatchError, match="no AWS credentials found"):
        open_cloudwatch(CloudWatchSource("j", region="us-east-1", endpoint_url="http://127.0.0.1:9"))


def test_dashboard_shows_a_cloudwatch_job(aws):
    from streamlit.testing.v1 import AppTest

    from conftest import PROJECT_ROOT

    job = "dashboard-job"
    put_lines(aws["logs"], SMTJ_GROUP, f"{job}/algo-1-1", sample_lines("nova-sft-datamix-high-lr"), start_ms=NOW_MS)
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"source": "cloudwatch", "job": job, "region": "us-east-1"})
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == job
    assert any("loss_spike" in m.value for m in at.markdown)
    assert at.get("plotly_chart")
    at2 = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    at2.query_params.update({"source": "cloudwatch", "job": "missing-job", "region": "us-east-1"})
    at2.run()
    assert not at2.exception
    assert any("missing-job" in e.value and "check the job name" in e.value for e in at2.sidebar.error)
    at2.switch_page("pages/detectors.py").run()
    assert not at2.exception and at2.title[0].value == "Detector reference"  # the rest keeps working


def test_serverless_job_config_names_the_technique_for_the_recipe_checks():
    """moto's DescribeTrainingJob has no ServerlessJobConfig: a Stubber gives the real shape."""
    sagemaker, stub = stubbed("sagemaker")
    created = datetime(2026, 3, 1, tzinfo=timezone.utc)
    stub.add_response("describe_training_job", {
        "TrainingJobName": "serverless-sft", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/serverless-sft",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m"}, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training",
        "StoppingCondition": {}, "CreationTime": created,
        "HyperParameters": {"learning_rate": "5e-5", "max_steps": "312", "warmup_steps": "47"},
        "ServerlessJobConfig": {"BaseModelArn": "arn:aws:sagemaker:us-east-1:aws:hub-content/x", "JobType": "FineTuning",
                                "CustomizationTechnique": "SFT", "Peft": "LORA"},
    }, {"TrainingJobName": "serverless-sft"})
    run = CloudWatchRun.__new__(CloudWatchRun)
    CloudWatchRun.__init__(run, CloudWatchSource("serverless-sft"), {"logs": None, "cloudwatch": None, "sagemaker": sagemaker})
    with stub:
        description = run.describe()
    assert run.info.technique == "sft" and run.info.training_mode == "lora"
    assert description["recipe"]["ServerlessJobConfig"]["CustomizationTechnique"] == "SFT"
    from forge_monitor.recipes import lint

    rules = {f.rule for f in lint(description["recipe"])[0]}
    assert "technique_unknown" not in rules  # the technique came from ServerlessJobConfig


def test_hyperpod_job_name_is_matched_exactly_not_as_a_substring(aws):
    """Audit H6: job rft-1 must not read rft-10's lines (the filter term matches both)."""
    group = "/aws/sagemaker/Clusters/mycluster/abc123"
    line = "[{job}] [2026-03-01 21:00:00,000] [INFO] Training epoch 0, iteration {s}/300 | global_step: {s} | reduced_train_loss: {v}"
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/node-1",
              [line.format(job="rft-1", s=s, v=round(1.0 / s, 6)) for s in range(1, 101)], start_ms=NOW_MS)
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/node-2",
              [line.format(job="rft-10", s=s, v=100.0) for s in range(1, 301)], start_ms=NOW_MS + 50)
    clients = {k: aws[k] for k in aws}
    run = open_cloudwatch(CloudWatchSource("rft-1", platform="hyperpod", cluster="mycluster"), clients)
    loss = run.frame[run.frame.metric == "train_loss"].set_index("step").value
    assert list(loss.index) == list(range(1, 101)) and (loss < 100).all()
    assert run.info.lines_read == 100
    other = open_cloudwatch(CloudWatchSource("rft-10", platform="hyperpod", cluster="mycluster"), clients)
    assert len(other.frame[other.frame.metric == "train_loss"]) == 300
    prefix = open_cloudwatch(CloudWatchSource("rft", platform="hyperpod", cluster="mycluster"), clients)
    assert prefix.frame.empty  # a prefix of two job names is neither job


def test_a_nan_on_any_host_is_kept_over_a_finite_value(aws):
    """Audit M6: algo-1 logs a finite loss where algo-2 logs nan: the NaN is the evidence."""
    job = "nan-host-job"
    algo2 = [(NOW_MS + 10 * s + 1, pipe_line(s, algo1_loss(s)).replace(f"{algo1_loss(s):.6f}", "nan") if s == 150
              else pipe_line(s, algo1_loss(s))) for s in range(1, 201)]
    put_events(aws["logs"], f"{job}/algo-1-1700000000", host_events(range(1, 201)))
    put_events(aws["logs"], f"{job}/algo-2-1700000000", algo2)
    run = open_cloudwatch(CloudWatchSource(job), {k: aws[k] for k in aws})
    loss = train_loss(validate_frame(run.frame))
    assert np.isnan(loss[150]) and all(np.isfinite(v) for s, v in loss.items() if s != 150)
    assert not run.info.restarts
    assert [(a.detector, a.step) for a in run_checks(run.frame, run.info).alerts if a.detector == "nonfinite"] == [("nonfinite", 150)]
