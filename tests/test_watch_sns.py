"""SNS routes for real: ``forge-monitor watch --notify sns://…`` publishes through apprise's own signed
requests to ``https://sns.REGION.amazonaws.com/``, which has no endpoint override. moto's proxy mode
(``moto_proxy``, a real moto process on 127.0.0.1) answers for AWS behind ``HTTPS_PROXY``, with its own
CA given to the watcher through ``REQUESTS_CA_BUNDLE`` (certificates stay verified). The topic is
subscribed by an SQS queue; the test reads the queue. Every process is stopped by its PID."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from forge_monitor.synth.writers import nova_pipe

PROJECT = Path(__file__).resolve().parents[1]
TOPIC = "forge-alerts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proxy_ca() -> str:
    import moto.moto_proxy

    return str(Path(moto.moto_proxy.__file__).parent / "ca.crt")


class MotoProxy:
    """``moto_proxy`` on 127.0.0.1:port, started and stopped by its PID."""

    def __init__(self, port: int):
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        executable = shutil.which("moto_proxy", path=str(Path(sys.executable).parent))
        if executable is None:
            pytest.fail("moto_proxy is not installed (requirements-dev.txt installs moto, which provides it)")
        self.process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "moto_proxy exited at start"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("moto_proxy did not start listening within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def clients(self):
        config = Config(proxies={"https": f"http://127.0.0.1:{self.port}"}, retries={"max_attempts": 1})
        kw = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
                  verify=_proxy_ca(), config=config)
        return boto3.client("sns", **kw), boto3.client("sqs", **kw)

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(HTTPS_PROXY=f"http://127.0.0.1:{self.port}", https_proxy=f"http://127.0.0.1:{self.port}",
                   REQUESTS_CA_BUNDLE=_proxy_ca(), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env


def _subscribed_queue(sns, sqs) -> str:
    arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue = sqs.create_queue(QueueName="forge-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return queue


def _messages(sqs, queue: str, count: int, timeout: float) -> list[dict]:
    """The SNS envelopes delivered to the queue (waits up to ``timeout`` for ``count`` of them)."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


def _log(tmp_path: Path) -> Path:
    rows = [(s, {"lr": 1e-5, "global_step": s,
                 "reduced_train_loss": float("nan") if s == 35 else 2.0 * math.exp(-s / 200) + 0.01 * math.sin(s * 1.3)})
            for s in range(1, 41)]
    log = tmp_path / "runs" / "job-sns" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text(nova_pipe(rows, total=500, step_seconds=2))
    return log


SNS_URL = f"sns://AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY/us-east-1/#{TOPIC}"


def test_an_alert_is_published_to_an_sns_topic_and_reaches_its_queue(tmp_path):
    proxy = MotoProxy(_free_port())
    proxy.start()
    try:
        sns, sqs = proxy.clients()
        queue = _subscribed_queue(sns, sqs)
        log = _log(tmp_path)
        done = subprocess.run([sys.executable, "-m", "forge_monitor", "watch", str(log.parent.parent), "--notify", SNS_URL,
                               "--state", str(tmp_path / "state"), "--once"],
                              cwd=PROJECT, env=proxy.env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "sent to sns:// (route" in done.stderr and "AKIA" not in done.stderr  # no key in the logs
        envelopes = _messages(sqs, queue, 1, timeout=20)
    finally:
        proxy.stop()
    assert len(envelopes) == 1, done.stderr
    body = envelopes[0]["Message"]
    assert envelopes[0]["TopicArn"].endswith(f":{TOPIC}")
    assert "Run: job-sns/train.log" in body and "Detector: nonfinite" in body and "Severity: critical" in body
    assert "Steps: 35-35" in body and "NaN at step 35" in body and "Remediation: " in body


def test_an_sns_route_that_is_down_is_retried_and_delivers_when_it_comes_back(tmp_path):
    """No AWS answer at first (nothing on the proxy's port): the send fails with a one-line reason, the
    watch keeps running, and the queued message is published once the endpoint is there."""
    proxy = MotoProxy(_free_port())
    log, stderr = _log(tmp_path), tmp_path / "watch.err"
    watch = subprocess.Popen([sys.executable, "-m", "forge_monitor", "watch", str(log.parent.parent), "--notify", SNS_URL,
                              "--state", str(tmp_path / "state"), "--interval", "0.5", "--group-wait", "0"],
                             cwd=PROJECT, env=proxy.env(), stdout=subprocess.DEVNULL, stderr=open(stderr, "w"),
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "send failed" not in stderr.read_text() and time.monotonic() < deadline:
            assert watch.poll() is None, stderr.read_text()
            time.sleep(0.1)
        assert "send failed" in stderr.read_text()
        proxy.start()
        sns, sqs = proxy.clients()
        queue = _subscribed_queue(sns, sqs)
        envelopes = _messages(sqs, queue, 1, timeout=60)  # the backoff grows from 0.5 s; bounded wait
        assert watch.poll() is None
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGTERM)
            watch.wait(timeout=20)
        proxy.stop()
    assert len(envelopes) == 1, stderr.read_text()
    assert "Detector: nonfinite" in envelopes[0]["Message"]
    said = stderr.read_text()
    assert "stopped: 1 sent" in said and "0 still queued" in said
