"""MLflow as a source, against a real ``mlflow server`` (SQLite store) started here on 127.0.0.1.

Runs are logged as HF Trainer's MLflowCallback logs them (raw keys ``loss``, ``eval_loss`` ...,
``step=state.global_step``, TrainingArguments as params, the end-of-training summary) and as verl's
MLflow logger does (``actor/kl_loss``, ``@`` written ``_at_``). The same numbers are also written to a
local JSONL file: frames and alerts must agree. SageMaker managed MLflow is a SigV4-checking stub in
front of the same server (no real endpoint can stand in). The server runs from .venv-mlflow (``make
test`` builds it); without it the tests skip loudly, except under CI=true where they fail.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from conftest import PROJECT_ROOT
from forge_monitor.detectors import run_checks
from forge_monitor.demo import free_port
from forge_monitor.ingest import load_paths
from forge_monitor.live import LiveMonitor, detached
from forge_monitor.ingest.mlflow import MLflowClient, MLflowError, MLflowSource, open_mlflow
from forge_monitor.synth import curves as cv

SERVER_VENV = Path(os.environ.get("FORGE_MONITOR_MLFLOW_VENV", PROJECT_ROOT / ".venv-mlflow"))
T0 = 1_790_000_000_000  # ms: fixed timestamps, so the order of points never rests on the clock
TRAINING_ARGS = {"learning_rate": "2e-05", "num_train_epochs": "3", "warmup_ratio": "0.03", "per_device_train_batch_size": "4",
                 "gradient_accumulation_steps": "8", "lr_scheduler_type": "cosine", "output_dir": "out", "fp16": "False",
                 "logging_steps": "1", "eval_steps": "50", "max_steps": "-1"}


def _unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(f"MLFLOW TESTS SKIPPED: {message}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 with SQLite and artifacts in a temp dir; stopped by its PID."""
    executable = SERVER_VENV / "bin" / "mlflow"
    if not executable.exists():
        _unavailable(f"{executable} is missing: `make test` builds it from requirements-mlflow-server.txt")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(root / "server.log", "w")
    command = [str(executable), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--default-artifact-root", str(root / "artifacts")]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while not _healthy(url):
            if process.poll() is not None or time.time() > deadline:
                tail = (root / "server.log").read_text()[-600:]
                _unavailable(f"mlflow server did not start (exit {process.poll()}): {tail}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        log.close()


@pytest.fixture(scope="session")
def tracking(mlflow_server):
    """The real MLflow client (mlflow-skinny), as a training job uses it."""
    import logging

    from mlflow import MlflowClient

    # The sagemaker-mlflow plugin's header provider runs for every URI and warns on one that is not an ARN.
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
    return MlflowClient(tracking_uri=mlflow_server)


def log_rows(client, run_id: str, rows: list[dict], *, start: int = 0, per_call: int = 60) -> None:
    """Each row is one ``on_log`` of HF's MLflowCallback: ``log_metrics(metrics, step=global_step)``.
    Rows go in batches of ``per_call`` (the points stored are the same; the test just makes fewer calls)."""
    from mlflow.entities import Metric

    metrics = []
    for i, row in enumerate(rows):
        stamp = T0 + (start + i) * 1000
        metrics += [Metric(k, float(v), stamp, int(row["step"])) for k, v in row.items() if k != "step"]
    for offset in range(0, len(metrics), per_call * 4):
        client.log_batch(run_id, metrics=metrics[offset:offset + per_call * 4], synchronous=True)


def new_run(client, experiment: str, name: str, params: dict | None = None, tags: dict | None = None) -> str:
    from mlflow.entities import Param

    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=name, tags=tags or {})
    if params:
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()], synchronous=True)
    return run.info.run_id


def sft_rows() -> tuple[list[dict], list[dict], dict]:
    """HF Trainer logs: train rows every step, eval rows every 50, the end summary. Loss spikes at 200."""
    rng = np.random.default_rng(11)
    n = 300
    loss = cv.spike(cv.power_law_loss(rng, n, start=2.0, floor=1.0, noise=0.03), 200, 2.5, decay_steps=8, settle=1.4)
    grad = cv.grad_norm(rng, n, start=3.0, end=0.8)
    lr = cv.lr_schedule(n, 2e-5, 10)
    train = [{"step": int(s), "loss": round(float(loss[s - 1]), 4), "grad_norm": float(grad[s - 1]),
              "learning_rate": float(lr[s - 1]), "epoch": round(s / 100, 4)} for s in cv.steps(n)]
    evals = [{"step": s, "eval_loss": round(1.6 - s / 1000, 4), "eval_runtime": 12.5, "epoch": round(s / 100, 4)}
             for s in range(50, n + 1, 50)]
    summary = {"step": n, "train_runtime": 812.3, "train_samples_per_second": 11.8, "train_steps_per_second": 0.37,
               "total_flos": 7.1e16, "train_loss": 1.42, "epoch": 3.0}
    return train, evals, summary


def in_log_order(train: list[dict], evals: list[dict]) -> list[dict]:
    return sorted(train + evals, key=lambda r: (r["step"], "eval_loss" in r))  # eval after its step's train row


def rl_rows() -> list[dict]:
    """verl's keys, KL spiking at step 120; its validation score is logged every 20 steps."""
    rng = np.random.default_rng(4)
    n = 200
    kl = cv.spike(cv.growth(rng, n, start=0.002, end=0.03, noise=0.15), 120, 30.0, decay_steps=2)
    reward = cv.saturating(rng, n, start=0.2, plateau=0.7, tau=60, noise=0.02)
    rows = []
    for s in cv.steps(n):
        row = {"step": int(s), "actor/kl_loss": float(kl[s - 1]), "critic/rewards/mean": float(reward[s - 1]),
               "actor/entropy": 1.2 - s / 1000, "response_length/mean": 300 + s / 4}
        if s % 20 == 0:
            row["val-score/rewards/mean_at_1"] = 0.5 + s / 2000
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def comparable(frame):
    return frame[["metric", "step", "value"]].astype({"metric": str}).sort_values(["metric", "step"]).reset_index(drop=True)


def alert_keys(run):
    return sorted((a.detector, a.severity.value, a.metric, a.step, a.step_end, a.message)
                  for a in run_checks(run.frame, run.info).alerts)


class Counter:
    """Every request the reader sends, with how many metric points came back (a requests hook)."""

    def __init__(self):
        import requests

        self.session = requests.Session()
        self.session.hooks["response"].append(self._seen)
        self.requests: list[tuple[str, int]] = []

    def _seen(self, response, *args, **kwargs):
        path = response.request.path_url.split("?")[0].rsplit("/api/2.0/mlflow/", 1)[-1]
        points = len(response.json().get("metrics", [])) if path == "metrics/get-history" and response.ok else 0
        self.requests.append((path, points))

    def take(self) -> list[tuple[str, int]]:
        seen, self.requests = self.requests, []
        return seen


@pytest.fixture(scope="session")
def hf_sft(tracking):
    """An HF Trainer SFT run (FINISHED) in experiment 'hf sft' (a space, as people name them)."""
    train, evals, summary = sft_rows()
    run_id = new_run(tracking, "hf sft", "sft-loss-spike", TRAINING_ARGS)
    log_rows(tracking, run_id, in_log_order(train, evals) + [summary])
    tracking.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="session")
def verl_rl(tracking):
    run_id = new_run(tracking, "verl grpo", "kl-spike", {"algorithm/kl_ctrl/kl_coef": "0.001",
                                                        "actor_rollout_ref/actor/optim/lr": "1e-06"})
    log_rows(tracking, run_id, rl_rows())
    tracking.set_terminated(run_id, "FAILED")
    return run_id


def test_hf_trainer_run_reads_as_the_same_jsonl_file(mlflow_server, hf_sft, tmp_path):
    (run,) = open_mlflow(MLflowSource(mlflow_server, experiment="hf sft"))
    train, evals, summary = sft_rows()
    local = load_paths([write_jsonl(tmp_path / "hf-sft" / "sft-loss-spike.jsonl", in_log_order(train, evals))]).runs[0]
    assert comparable(run.frame).equals(comparable(local.frame))
    assert set(run.frame["metric"].astype(str)) >= {"train_loss", "val_loss", "grad_norm", "learning_rate", "epoch"}
    # The summary is the run's, not a point of the loss curve.
    assert run.info.final_metrics["train_loss"] == 1.42 and run.info.final_metrics["train_runtime"] == 812.3
    assert run.frame.query("metric == 'train_loss' and step == 300")["value"].item() == train[-1]["loss"]
    stamps = run.frame.query("metric == 'train_loss'")["wall_time"].to_numpy()  # MLflow's timestamps, in seconds
    assert stamps[0] == T0 / 1000 and (np.diff(stamps) >= 1.0).all()
    assert run.info.run_id == "hf sft/sft-loss-spike" and run.info.format == "mlflow" and run.info.status == "FINISHED"
    assert run.info.technique == "sft" and not run.info.live
    assert run.info.hyperparameters["learning_rate"] == 2e-5  # params, through the recipe reader
    assert alert_keys(run) == alert_keys(local)
    spike = next(a for a in run_checks(run.frame, run.info).alerts if a.detector == "loss_spike")
    assert spike.step == 200


def test_verl_rl_run_kl_spike_at_its_step_as_in_the_jsonl_file(mlflow_server, verl_rl, tmp_path):
    (run,) = open_mlflow(MLflowSource(mlflow_server, experiment="verl grpo", run="kl-spike"))
    rows = [{k.replace("_at_1", "@1"): v for k, v in row.items()} for row in rl_rows()]  # verl's own file keys
    local = load_paths([write_jsonl(tmp_path / "verl-grpo" / "kl-spike.jsonl", rows)]).runs[0]
    assert comparable(run.frame).equals(comparable(local.frame))
    assert {"kl", "reward", "entropy", "response_length", "val_reward"} <= set(run.frame["metric"].astype(str))
    assert run.info.technique == "rft" and run.info.status == "FAILED" and "the MLflow run is FAILED" in run.info.warnings
    kl = [a.step for a in run_checks(run.frame, run.info).alerts if a.detector == "kl_spike"]
    assert kl == [120] and alert_keys(run) == alert_keys(local)


def test_a_history_longer_than_a_page_is_read_page_by_page(mlflow_server, tracking):
    run_id = new_run(tracking, "paging", "long")
    log_rows(tracking, run_id, [{"step": s, "loss": 1 + 1 / s} for s in range(1, 181)])
    counter = Counter()
    (run,) = open_mlflow(MLflowSource(mlflow_server, run=run_id, page_size=50), session=counter.session)
    history = [points for path, points in counter.take() if path == "metrics/get-history"]
    assert history == [50, 50, 50, 30]  # four pages, each point once
    loss = run.frame.query("metric == 'train_loss'")
    assert loss["step"].tolist() == list(range(1, 181)) and loss["value"].tolist() == [1 + 1 / s for s in range(1, 181)]


def test_live_refresh_reads_only_new_points_and_a_quiet_refresh_is_one_call(mlflow_server, tracking):
    run_id = new_run(tracking, "live", "running")
    rows = [{"step": s, "loss": 2 - s / 200, "learning_rate": 1e-5} for s in range(1, 121)]
    log_rows(tracking, run_id, rows)
    counter = Counter()
    source = MLflowSource(mlflow_server, experiment="live", page_size=50, tail_page_size=20)
    (run,) = open_mlflow(source, session=counter.session)
    counter.take()
    assert run.info.status == "RUNNING" and run.info.live

    run.live.refresh()
    assert counter.take() == [("runs/get", 0)]  # quiet: one call, no history read

    log_rows(tracking, run_id, [{"step": s, "loss": 2 - s / 200} for s in range(121, 126)], start=120)
    before = len(run.live.frame)
    run.live.refresh()
    seen = counter.take()
    assert seen[0] == ("runs/get", 0)
    assert [p for p in seen[1:] if p[0] != "metrics/get-history"] == []
    assert len(run.live.frame) - before == 5  # learning_rate did not change: only loss was read
    # Read from the page where the first read stopped (points 101-120 of 120, in pages of 20 now): the
    # 20 points already read on it come back once, then only what is new.
    assert [points for _, points in seen[1:]] == [20, 5]

    log_rows(tracking, run_id, [{"step": s, "loss": 2 - s / 200} for s in range(126, 129)], start=125)
    run.live.refresh()
    assert counter.take() == [("runs/get", 0), ("metrics/get-history", 8)]  # 5 seen + 3 new, one call
    loss = run.live.frame.query("metric == 'train_loss'")
    assert loss["step"].tolist() == list(range(1, 129))

    run.live.refresh()
    assert counter.take() == [("runs/get", 0)]

    # The dashboard's live mode follows a copy of the cached run, sharing its connection.
    monitor = LiveMonitor(detached(run))
    log_rows(tracking, run_id, [{"step": 129, "loss": 0.1}], start=128)
    monitor.update()
    assert counter.take() == [("runs/get", 0), ("metrics/get-history", 9)]  # that page: 8 seen + 1 new
    assert monitor.run.frame["step"].max() == 129 and run.live.frame["step"].max() == 128


def test_a_resumed_run_is_read_as_a_restart(mlflow_server, tracking):
    run_id = new_run(tracking, "restart", "resumed")
    log_rows(tracking, run_id, [{"step": s, "loss": 2.0} for s in range(1, 101)])
    log_rows(tracking, run_id, [{"step": s, "loss": 1.0} for s in range(80, 111)], start=100)  # resumed at 80
    (run,) = open_mlflow(MLflowSource(mlflow_server, run=run_id))
    loss = run.frame.query("metric == 'train_loss'").set_index("step")["value"]
    assert [(r.from_step, r.to_step) for r in run.info.restarts] == [(100, 80)]
    assert loss.index.tolist() == list(range(1, 111)) and loss.loc[80:].eq(1.0).all() and loss.loc[:79].eq(2.0).all()


# --- errors: one line each ---------------------------------------------------------------------------

def one_line(err) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


def test_unreachable_server_unknown_experiment_and_run(mlflow_server, hf_sft):
    with pytest.raises(MLflowError) as err:
        open_mlflow(MLflowSource(f"http://127.0.0.1:{free_port()}", experiment="hf sft"))
    assert "cannot reach the MLflow tracking server" in one_line(err.value) and "connection refused" in str(err.value)
    with pytest.raises(MLflowError) as err:
        open_mlflow(MLflowSource(mlflow_server, experiment="no such experiment"))
    assert "no MLflow experiment named 'no such experiment'" in one_line(err.value) and "hf sft" in str(err.value)
    with pytest.raises(MLflowError) as err:
        open_mlflow(MLflowSource(mlflow_server, experiment="hf sft", run="no-such-run"))
    assert "no MLflow run with id or name 'no-such-run' in experiment 'hf sft'" in one_line(err.value)
    with pytest.raises(MLflowError) as err:
        open_mlflow(MLflowSource(mlflow_server, run="0123456789abcdef0123456789abcdef"))
    assert "no MLflow run" in one_line(err.value)
    with pytest.raises(MLflowError) as err:
        MLflowSource("sqlite:///mlflow.db").uri() and MLflowClient(MLflowSource("sqlite:///mlflow.db"))
    assert "mlflow server --backend-store-uri" in one_line(err.value)


def test_a_run_with_no_metrics_is_listed_with_a_note(mlflow_server, tracking):
    new_run(tracking, "empty", "no-metrics", {"learning_rate": "1e-4"})
    (run,) = open_mlflow(MLflowSource(mlflow_server, experiment="empty"))
    assert len(run.frame) == 0 and "no metrics logged to this MLflow run yet" in run.info.warnings
    assert run_checks(run.frame, run.info).alerts == []


class _Canned(BaseHTTPRequestHandler):
    """A server that answers every request with one status and body (401, 403, an HTML page)."""

    status, body, content_type = 403, b"{}", "application/json"

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def serve(handler) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.parametrize("status,body,content_type,words", [
    (401, b'{"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."}', "application/json",
     "401 Unauthorized): set MLFLOW_TRACKING_TOKEN"),
    (403, b'{"error_code": "PERMISSION_DENIED", "message": "Permission denied"}', "application/json",
     "permission denied (403) for experiments/get-by-name"),
    (404, b"<!doctype html><title>404 Not Found</title>", "text/html", "does not answer MLflow's REST API"),
    (200, b"<!doctype html><title>Grafana</title>", "text/html", "does not answer MLflow's REST API"),
])
def test_refusals_and_a_server_that_is_not_mlflow_are_one_line(status, body, content_type, words):
    handler = type("Handler", (_Canned,), {"status": status, "body": body, "content_type": content_type})
    server, url = serve(handler)
    try:
        with pytest.raises(MLflowError) as err:
            open_mlflow(MLflowSource(url, experiment="anything"))
        assert words in one_line(err.value) and url in str(err.value)
    finally:
        server.shutdown()
        server.server_close()


# --- the command line ---------------------------------------------------------------------------------

def scan(*args, env=None):
    return subprocess.run([sys.executable, "-m", "forge_monitor", "scan", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd=PROJECT_ROOT)


def test_scan_mlflow_json_and_the_tracking_uri_from_the_environment(mlflow_server, hf_sft, verl_rl):
    done = scan("--mlflow", mlflow_server, "--experiment", "hf sft", "--json")
    assert done.returncode == 1, done.stderr  # the loss spike is critical
    payload = json.loads(done.stdout)
    (summary,) = payload["runs"]
    assert summary["run_id"] == "hf sft/sft-loss-spike" and summary["format"] == "mlflow" and summary["status"] == "FINISHED"
    assert summary["steps"] == {"first": 1, "last": 300, "count": 300}
    assert ("loss_spike", 200) in {(a["detector"], a["step"]) for a in payload["alerts"]}
    done = scan("--mlflow", "--experiment", "verl grpo", "--run", "kl-spike", env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert done.returncode == 1 and "kl_spike at step 120" in done.stdout, done.stderr


def test_scan_mlflow_errors_are_one_line_and_exit_2(mlflow_server):
    for args, words in [
        (["--mlflow", f"http://127.0.0.1:{free_port()}"], "cannot reach the MLflow tracking server"),
        (["--mlflow", mlflow_server, "--experiment", "nope"], "no MLflow experiment named 'nope'"),
        (["--experiment", "x"], "add --mlflow"),
        (["--mlflow"], "MLFLOW_TRACKING_URI"),
    ]:
        done = scan(*args, env={"MLFLOW_TRACKING_URI": ""})
        assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, (args, done.stderr)


# --- SageMaker managed MLflow: a SigV4-checking stub in front of the real server -------------------------

ACCESS_KEY, SECRET_KEY, REGION = "AKIDFORGEMONITOR", "forge-monitor-test-secret", "us-east-1"
TRACKING_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-tracking-server/forge-test"
APP_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:mlflow-app/app-FORGE1234"


def signature_ok(handler, body: bytes, service: str) -> str | None:
    """None when the request carries a valid SigV4 signature by the test credentials, else why not."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "not signed"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key, _, region, signed_service, _ = fields["Credential"].split("/")
    if (key, region, signed_service) != (ACCESS_KEY, REGION, service):
        return f"scope {key}/{region}/{signed_service}"
    names = fields["SignedHeaders"].split(";")
    headers = {name: handler.headers[name] for name in names if name != "host"}
    request = AWSRequest(method=handler.command, url=f"http://{handler.headers['Host']}{handler.path}", data=body,
                         headers=headers)
    request.context["timestamp"] = handler.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, fields["Signature"]) else "signature does not match"


def sagemaker_stub(upstream: str, arn: str):
    """Checks the ARN header and the signature as the service does, then forwards to the real server."""
    tracking = ":mlflow-tracking-server/" in arn
    header, service = ("x-mlflow-sm-tracking-server-arn", "sagemaker-mlflow") if tracking else ("x-sm-mlflow-app-arn", "sagemaker")

    class Stub(BaseHTTPRequestHandler):
        seen: list[str] = []

        def do_GET(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            problem = signature_ok(self, body, service) or (None if self.headers.get(header) == arn else f"no {header}")
            Stub.seen.append(problem or "ok")
            if problem:
                return self._reply(403, json.dumps({"message": f"The request signature we calculated does not match ({problem})"}).encode())
            request = urllib.request.Request(upstream + self.path, data=body or None, method=self.command,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self._reply(response.status, response.read())
            except urllib.error.HTTPError as err:
                self._reply(err.code, err.read())

        do_POST = do_GET

        def _reply(self, status, payload):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Stub


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "SAGEMAKER_MLFLOW_ASSUME_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return monkeypatch


@pytest.mark.parametrize("arn", [TRACKING_ARN, APP_ARN], ids=["tracking-server", "mlflow-app"])
@pytest.mark.parametrize("signer", ["plugin", "botocore"])
def test_sagemaker_arn_is_signed_and_reads_the_run(mlflow_server, hf_sft, aws_env, arn, signer):
    if signer == "botocore":
        aws_env.setitem(sys.modules, "sagemaker_mlflow.auth", None)  # as if the plugin were not installed
    else:
        import sagemaker_mlflow.auth  # noqa: F401 - the plugin must really be used on this path
    stub = sagemaker_stub(mlflow_server, arn)
    server, url = serve(stub)
    aws_env.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", url)  # the plugin's own override of the endpoint
    try:
        client = MLflowClient(MLflowSource(arn, experiment="hf sft"))
        assert (type(client.auth).__name__ == "AuthBoto") == (signer == "plugin")
        (run,) = open_mlflow(client.source, client=client)
        assert stub.seen and set(stub.seen) == {"ok"}
        assert run.info.source.startswith(f"mlflow:{arn}:")
        assert [a.step for a in run_checks(run.frame, run.info).alerts if a.detector == "loss_spike"] == [200]

        aws_env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")  # a wrong key: the service answers 403
        with pytest.raises(MLflowError) as err:
            open_mlflow(MLflowSource(arn, experiment="hf sft"))
        words = "sagemaker:CallMlflowAppApi" if "mlflow-app" in arn else "read-only IAM actions"
        assert f"permission denied (403) for experiments/get-by-name at {arn}" in one_line(err.value)
        assert words in str(err.value)
    finally:
        server.shutdown()
        server.server_close()


def test_an_arn_that_is_not_sagemaker_mlflow_is_one_line():
    with pytest.raises(MLflowError) as err:
        MLflowClient(MLflowSource("arn:aws:sagemaker:us-east-1:123456789012:training-job/x"))
    assert "is not a SageMaker MLflow ARN" in one_line(err.value)


def test_inf_and_nan_come_back_as_logged(mlflow_server, tracking):
    run_id = new_run(tracking, "overflow", "inf-grad")
    log_rows(tracking, run_id, [{"step": s, "loss": 1.0, "grad_norm": float("inf") if s == 30 else
                                 float("nan") if s == 40 else 1.0} for s in range(1, 61)])
    (run,) = open_mlflow(MLflowSource(mlflow_server, run=run_id))
    grad = run.frame.query("metric == 'grad_norm'").set_index("step")["value"]
    assert grad[30] == float("inf") and np.isnan(grad[40]) and grad.drop([30, 40]).eq(1.0).all()  # the store kept 1.8e308
    assert any(a.detector == "nonfinite" and a.step == 30 for a in run_checks(run.frame, run.info).alerts)


# --- the dashboard's MLflow source in headless Chromium ---------------------------------------------------

@pytest.mark.browser
def test_dashboard_mlflow_source_shows_the_runs_alert(mlflow_server, hf_sft):
    from playwright.sync_api import sync_playwright

    from forge_monitor.demo import start_dashboard, stop
    from test_browser import ARTIFACTS, CHROME_ARGS, chromium, wait_healthy

    executable = chromium()
    port = free_port()
    process = start_dashboard(port, {"MLFLOW_TRACKING_URI": mlflow_server})
    try:
        wait_healthy(port, process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROME_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            ARTIFACTS.mkdir(exist_ok=True)
            try:
                # A link naming the run opens its page (as the watcher's notifications link to it).
                query = urllib.parse.urlencode({"source": "mlflow", "mlflow_experiment": "hf sft", "run": "hf sft/sft-loss-spike"})
                page.goto(f"http://127.0.0.1:{port}/?{query}")
                page.wait_for_function("() => [...document.querySelectorAll('h1')].some(h => h.textContent.includes("
                                       "'sft-loss-spike'))", timeout=90_000)
                annotation = page.locator('[data-testid="stPlotlyChart"] .annotation-text', has_text="loss_spike").first
                annotation.wait_for(timeout=60_000)
                assert annotation.is_visible()
                assert page.get_by_text("step 200").first.is_visible()
                assert errors == [], errors
            finally:
                page.screenshot(path=str(ARTIFACTS / "browser-mlflow-source.png"))  # also what a failure saw
                browser.close()
    finally:
        stop(process)
