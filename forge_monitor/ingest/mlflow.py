"""MLflow: any MLflow tracking server, and SageMaker managed MLflow, live and post-mortem.

Read through MLflow's REST API (``/api/2.0/mlflow/...``) with ``requests``, which the dashboard
already brings (streamlit depends on it): no new package. The ``mlflow-skinny`` client would add 24
(databricks-sdk, opentelemetry, fastapi, pydantic, GitPython ...) for the six read-only calls made here.

- Experiments by name (``experiments/get-by-name``) or id (``experiments/get``); runs by id
  (``runs/get``), by name (``runs/search`` on ``attributes.run_name``), or the newest runs of an
  experiment (``runs/search`` by start time, with a limit).
- Every metric's full history with ``metrics/get-history``, following ``next_page_token`` (pages of
  25,000 points, the server's cap) - never only the latest value.
- Keys go through the same canonical mapping as files (HF Trainer's MLflowCallback logs its raw keys,
  ``loss``, ``eval_loss`` ...; verl writes ``@`` as ``_at_``, undone first). HF's end-of-training
  summary (``train_runtime``, ``train_loss`` as the run mean ...) goes to ``final_metrics``, never
  onto the loss curve, as for ``trainer_state.json``.
- Params become ``RunInfo.hyperparameters`` (through the recipe reader) so the recipe-aware advice
  works; the run's status becomes ``RunInfo.status`` (and ``live`` while RUNNING); step is MLflow's
  step, wall time its timestamp.
- Live: a refresh first asks ``runs/get`` (one call), whose ``metrics`` hold each key's latest point;
  only keys whose latest point changed are read, from the page where the last read stopped. A quiet
  refresh is one call.

A SageMaker managed MLflow ARN (``arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME`` or
``...:mlflow-app/app-ID``) is signed with AWS SigV4: by the ``sagemaker-mlflow`` plugin when it is
installed, else by botocore's signer the same way (same endpoint, service name and ARN header).
Every failure becomes one ``MLflowError`` line that names what to fix.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..schema import RunInfo
from ._tidy import records_from_lists
from .reader import LiveRun

PAGE_SIZE = 25_000  # metrics/get-history's own cap (GET_METRIC_HISTORY_MAX_RESULTS)
TAIL_PAGE_SIZE = 1_000  # pages read while following a run: at most this many old points are read again
SEARCH_LIMIT = 1_000  # runs/search and experiments/search cap per page
# The read-only IAM actions a SageMaker MLflow tracking server needs (README "MLflow").
READ_ONLY_ACTIONS = ("sagemaker-mlflow:SearchExperiments", "sagemaker-mlflow:GetExperiment",
                     "sagemaker-mlflow:GetExperimentByName", "sagemaker-mlflow:SearchRuns", "sagemaker-mlflow:GetRun",
                     "sagemaker-mlflow:GetMetricHistory")
APP_ACTION = "sagemaker:CallMlflowAppApi"  # an MLflow App is authorised by this one action
# HF Trainer's last log: the run's summary, logged at the final step. train_loss there is the mean over
# the run, not a point of the curve (hf.py keeps these in final_metrics too).
_HF_SUMMARY_MARKERS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")
_HF_SUMMARY_KEYS = {*_HF_SUMMARY_MARKERS, "train_loss", "total_flos"}
# MLflow's SQL store cannot hold inf: it writes +-1.7976931348623157e308 instead. Read back, that is inf.
_CLAMPED_INF = 1.7976931348623157e308
_VERL_AT = re.compile(r"_at_(\d+)")
_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d+):"
                  r"(?P<kind>mlflow-tracking-server|mlflow-app)/(?P<name>[^/#\s]+)$")


class MLflowError(Exception):
    """One clear line naming what to fix (URI, experiment or run name, credentials, permission)."""


class MLflowNotFound(MLflowError):
    """The server answered RESOURCE_DOES_NOT_EXIST."""


@dataclass
class MLflowSource:
    tracking_uri: str | None = None  # None or "": MLFLOW_TRACKING_URI
    experiment: str | None = None  # name, or id
    run: str | None = None  # run id, or run name
    max_runs: int = 20  # an experiment's newest runs, when no run is named
    page_size: int = PAGE_SIZE
    tail_page_size: int = TAIL_PAGE_SIZE
    timeout: float = 30.0

    def uri(self) -> str:
        uri = (self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or "").strip()
        if not uri:
            raise MLflowError("no MLflow tracking URI: pass one (--mlflow URI) or set MLFLOW_TRACKING_URI")
        return uri


def _sagemaker(arn: str, match) -> tuple[str, object, dict]:
    """Endpoint, requests auth and routing header for a SageMaker MLflow ARN."""
    tracking = match["kind"] == "mlflow-tracking-server"
    header = {"x-mlflow-sm-tracking-server-arn" if tracking else "x-sm-mlflow-app-arn": arn}
    service = "sagemaker-mlflow" if tracking else "sagemaker"
    assume = os.environ.get("SAGEMAKER_MLFLOW_ASSUME_ROLE_ARN")
    try:
        from sagemaker_mlflow.auth import AuthBoto
        from sagemaker_mlflow.mlflow_sagemaker_helpers import SageMakerMLflowHostMetadataProvider
    except ImportError:  # the plugin is optional: botocore signs the same request
        custom = os.environ.get("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", "")
        if not custom and match["partition"] not in ("aws", "aws-us-gov"):
            raise MLflowError(f"{arn}: partition {match['partition']} is not supported by SageMaker managed MLflow")
        region = match["region"]
        url = custom or (f"https://{region}.experiments.sagemaker.aws" if tracking else f"https://mlflow.sagemaker.{region}.app.aws")
        if assume:
            raise MLflowError("SAGEMAKER_MLFLOW_ASSUME_ROLE_ARN needs the sagemaker-mlflow plugin (pip install "
                              "sagemaker-mlflow==0.5.0), or assume the role first (AWS_PROFILE with role_arn)")
        return url, _SigV4(match["region"], service), header
    provider = SageMakerMLflowHostMetadataProvider()
    provider.set_arn(arn)
    try:
        return provider.construct_tracking_server_url(), AuthBoto(match["region"], service, assume), header
    except Exception as err:  # noqa: BLE001 - the plugin's own errors (no credentials, unsupported partition)
        raise MLflowError(f"{arn}: {_one_line(err)}") from None


class _SigV4:
    """A requests auth hook signing with botocore's SigV4, as the sagemaker-mlflow plugin does."""

    def __init__(self, region: str, service: str):
        import botocore.session

        self.region, self.service = region, service
        self.credentials = botocore.session.get_session().get_credentials()

    def __call__(self, request):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self.credentials is None:
            raise MLflowError("no AWS credentials found for SageMaker MLflow: set AWS_PROFILE, or run `aws configure` "
                              "/ `aws sso login`")
        import hashlib

        if request.method in ("GET", "DELETE"):  # requests writes a space as +; the service signs it as %20
            request.url = request.url.replace("+", "%20")
        body = request.body or b""
        body = body.encode("utf-8") if isinstance(body, str) else body
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        # The service strips Connection before checking the signature; sign without it.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "connection"}
        signed = AWSRequest(method=request.method, url=request.url, data=request.body, headers=headers)
        SigV4Auth(self.credentials.get_frozen_credentials(), self.service, self.region).add_auth(signed)
        request.headers.update(dict(signed.headers.items()))
        return request


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class MLflowClient:
    """The REST calls, each counted (``calls``) so the cost of a refresh can be checked."""

    def __init__(self, source: MLflowSource, session=None):
        import requests

        self.source = source
        uri = source.uri()
        self.arn = _ARN.match(uri)
        self.auth, self.headers, self.verify = None, {}, True
        if self.arn:
            self.base, self.auth, self.headers = _sagemaker(uri, self.arn)
            self.where = uri
        elif uri.startswith("arn:"):
            raise MLflowError(f"{uri!r} is not a SageMaker MLflow ARN (arn:aws:sagemaker:REGION:ACCOUNT:"
                              "mlflow-tracking-server/NAME or ...:mlflow-app/app-ID)")
        elif uri.startswith(("http://", "https://")):
            parts = urlsplit(uri)
            if not parts.hostname:
                raise MLflowError(f"{uri!r} has no host: pass a URL such as http://127.0.0.1:5000")
            # A user:password in the URL is used, never printed.
            if parts.username:
                self.auth = (parts.username, parts.password or "")
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
            self.where = self.base
            self._standard_auth()
        else:
            raise MLflowError(f"{uri!r}: forge-monitor reads MLflow through a tracking server (http://, https:// or a "
                              "SageMaker MLflow ARN); for a local store run `mlflow server --backend-store-uri <it>` "
                              "and pass its URL")
        self.session = session or requests.Session()
        self.calls = 0

    def _standard_auth(self) -> None:
        """The MLflow client's own environment variables for a protected server."""
        env = os.environ
        if env.get("MLFLOW_TRACKING_TOKEN"):
            self.headers["Authorization"] = f"Bearer {env['MLFLOW_TRACKING_TOKEN']}"
        elif env.get("MLFLOW_TRACKING_USERNAME"):
            self.auth = (env["MLFLOW_TRACKING_USERNAME"], env.get("MLFLOW_TRACKING_PASSWORD", ""))
        if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            self.verify = False
        elif env.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.verify = env["MLFLOW_TRACKING_SERVER_CERT_PATH"]

    def call(self, endpoint: str, params: dict | None = None, body: dict | None = None) -> dict:
        """GET (``params``) or POST (``body``) ``/api/2.0/mlflow/<endpoint>``; 429 and 5xx are retried."""
        import requests

        url = f"{self.base}/api/2.0/mlflow/{endpoint}"
        for attempt in range(3):
            self.calls += 1
            try:
                response = self.session.request("POST" if body is not None else "GET", url, params=params, json=body,
                                                auth=self.auth, headers=self.headers, verify=self.verify,
                                                timeout=self.source.timeout)
            except MLflowError:
                raise
            except requests.exceptions.SSLError as err:
                raise MLflowError(f"TLS failed for the MLflow server at {self.where}: {_one_line(err)[:200]} "
                                  "(MLFLOW_TRACKING_SERVER_CERT_PATH names a CA bundle)") from None
            except requests.exceptions.Timeout:
                if attempt < 2:
                    continue
                raise MLflowError(f"the MLflow server at {self.where} did not answer {endpoint} within "
                                  f"{self.source.timeout:g} s") from None
            except requests.exceptions.RequestException as err:
                text = str(err)
                reason = ("connection refused" if "refused" in text else "host not found" if "resolution" in text.lower()
                          or "not known" in text else type(err).__name__)
                raise MLflowError(f"cannot reach the MLflow tracking server at {self.where}: is it running, and is the "
                                  f"URI right? ({reason})") from None
            except Exception as err:
                if type(err).__name__ in ("NoCredentialsError", "PartialCredentialsError"):  # botocore, while signing
                    raise MLflowError(f"no AWS credentials found for {self.where}: set AWS_PROFILE, or run "
                                      "`aws configure` / `aws sso login`") from None
                raise
            if response.status_code in (429, 502, 503, 504) and attempt < 2:
                time.sleep(0.3 * 2 ** attempt)
                continue
            return self._answer(response, endpoint)
        raise AssertionError("unreachable")

    def _answer(self, response, endpoint: str) -> dict:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.ok and isinstance(payload, dict):
            return payload
        payload = payload if isinstance(payload, dict) else {}
        code, message = payload.get("error_code", ""), _one_line(payload.get("message", "") or payload.get("Message", ""))
        status = response.status_code
        if status == 401:
            fix = ("AWS credentials were not accepted: refresh them (`aws sso login`) or check AWS_PROFILE" if self.arn
                   else "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
            raise MLflowError(f"the MLflow server at {self.where} refused the request (401 Unauthorized): {fix}")
        if status == 403:
            fix = (f"grant {APP_ACTION} on the app" if self.arn and self.arn["kind"] == "mlflow-app" else
                   "grant the read-only IAM actions the README lists (sagemaker-mlflow:GetRun, ...:GetMetricHistory ...)"
                   if self.arn else "ask for read access to its experiments")
            raise MLflowError(f"permission denied (403) for {endpoint} at {self.where}: {fix}")
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise MLflowNotFound(message or f"{endpoint}: not found")
        if status == 404 or (response.ok and not payload):
            raise MLflowError(f"{self.where} does not answer MLflow's REST API ({endpoint}: HTTP {status}): is it "
                              "the tracking server's address?")
        raise MLflowError(f"MLflow {endpoint} failed at {self.where} (HTTP {status}{' ' + code if code else ''})"
                          + (f": {message[:300]}" if message else ""))

    # --- the read-only calls ---------------------------------------------------------------------
    def experiment(self, name_or_id: str) -> dict:
        try:
            return self.call("experiments/get-by-name", {"experiment_name": name_or_id})["experiment"]
        except MLflowNotFound:
            if name_or_id.isdigit():
                try:
                    return self.call("experiments/get", {"experiment_id": name_or_id})["experiment"]
                except MLflowNotFound:
                    pass
        known = [e["name"] for e in self.experiments(limit=8)]
        raise MLflowError(f"no MLflow experiment named {name_or_id!r} at {self.where}"
                          + (f" (there are: {', '.join(known)})" if known else " (it has no experiments)")) from None

    def experiments(self, limit: int = SEARCH_LIMIT) -> list[dict]:
        """Active experiments, the most recently updated first."""
        found, token = [], None
        while len(found) < limit:
            body = {"max_results": min(SEARCH_LIMIT, limit - len(found)), "order_by": ["last_update_time DESC"]}
            if token:
                body["page_token"] = token
            page = self.call("experiments/search", body=body)
            found += page.get("experiments", [])
            token = page.get("next_page_token")
            if not token:
                break
        return found

    def search_runs(self, experiment_ids: list[str], *, filter_string: str = "", limit: int = 20) -> list[dict]:
        """Runs of the experiments, newest first."""
        found = []
        for offset in range(0, len(experiment_ids), 100):  # a bounded list of ids per call
            token = None
            while len(found) < limit:
                body = {"experiment_ids": experiment_ids[offset:offset + 100], "filter": filter_string,
                        "max_results": min(SEARCH_LIMIT, limit - len(found)), "order_by": ["attributes.start_time DESC"]}
                if token:
                    body["page_token"] = token
                page = self.call("runs/search", body=body)
                found += page.get("runs", [])
                token = page.get("next_page_token")
                if not token:
                    break
        found.sort(key=lambda r: -int(r["info"].get("start_time") or 0))
        return found[:limit]

    def run(self, run_id: str) -> dict:
        return self.call("runs/get", {"run_id": run_id})["run"]

    def history_page(self, run_id: str, key: str, token: str | None, size: int) -> dict:
        params = {"run_id": run_id, "metric_key": key, "max_results": size}
        if token:
            params["page_token"] = token
        return self.call("metrics/get-history", params)


def find_runs(client: MLflowClient, source: MLflowSource) -> list[tuple[dict, str]]:
    """The runs ``source`` names: (run payload, experiment name), newest first."""
    experiment = client.experiment(source.experiment) if source.experiment else None
    names = {}
    if experiment is not None:
        ids = [experiment["experiment_id"]]
        names[ids[0]] = experiment["name"]
    else:
        listed = client.experiments()
        ids = [e["experiment_id"] for e in listed]
        names.update({e["experiment_id"]: e["name"] for e in listed})
    scope = f"experiment {experiment['name']!r}" if experiment else "any experiment"
    if source.run:
        runs = []
        if re.fullmatch(r"[0-9a-f]{32}", source.run):
            try:
                runs = [client.run(source.run)]
            except MLflowNotFound:
                pass
        if not runs:
            quote = "'" if "'" not in source.run else '"'
            if quote in source.run:
                raise MLflowError(f"run name {source.run!r} has both quote marks: name the run by its id")
            runs = client.search_runs(ids, filter_string=f"attributes.run_name = {quote}{source.run}{quote}", limit=1)
        if not runs:
            raise MLflowError(f"no MLflow run with id or name {source.run!r} in {scope} at {client.where}")
    else:
        runs = client.search_runs(ids, limit=source.max_runs)
        if not runs:
            raise MLflowError(f"no runs in {scope} at {client.where}")
    for run in runs:
        exp_id = run["info"]["experiment_id"]
        if exp_id not in names:
            try:
                names[exp_id] = client.call("experiments/get", {"experiment_id": exp_id})["experiment"]["name"]
            except MLflowNotFound:
                names[exp_id] = exp_id
    return [(run, names[run["info"]["experiment_id"]]) for run in runs]


def _param_value(text: str):
    """MLflow keeps params as strings: numbers, booleans and None back to values for the recipe reader."""
    if text in ("True", "true", "False", "false"):
        return text.lower() == "true"
    if text in ("None", "null", ""):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def params_to_recipe(params: list[dict]) -> dict:
    """Run params as a recipe mapping; verl's and Nova's ``a/b/c`` keys nest again."""
    recipe: dict = {}
    for param in params:
        key, value = param["key"], _param_value(param.get("value", ""))
        if "/" not in key:
            recipe.setdefault(key, value)
            continue
        node = recipe
        *parents, leaf = key.split("/")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    return recipe


def _point(metric: dict) -> tuple:
    return int(metric.get("timestamp", 0)), int(metric.get("step", 0)), str(metric.get("value"))


def _float(raw) -> float:
    value = float(raw)  # "NaN", "Infinity" and numbers
    return math.copysign(math.inf, value) if abs(value) == _CLAMPED_INF else value


@dataclass
class _Key:
    """Where the reading of one metric key stands."""

    stream: int
    token: str | None = None  # the page holding the next unread point (None: the first page)
    in_page: int = 0  # points of that page already read
    points: int = 0
    latest: tuple | None = None  # the run summary's (step, timestamp, value) when the key was last read
    last: tuple | None = None  # the last point read, (timestamp, step, value), to check a resumed page


@dataclass
class MLflowRun:
    """One MLflow run followed over REST. Has the ``refresh()`` / ``frame`` / ``last_new_data`` of LiveRun."""

    client: MLflowClient
    payload: dict  # runs/get's (or runs/search's) run: info, data.metrics (latest per key), params
    experiment: str
    label: str
    info: RunInfo = None
    notes: list[str] = field(default_factory=list)
    description: dict = field(default_factory=dict)

    def __post_init__(self):
        self.run_uuid = self.payload["info"]["run_id"]
        self.info = RunInfo(run_id=self.label, source=f"mlflow:{self.client.where}:{self.run_uuid}", format="mlflow")
        self._live = LiveRun(self.info, [], definitions=None)
        self._keys: dict[str, _Key] = {}
        self._fresh = True  # the payload given is current: the first refresh needs no runs/get

    @property
    def clients(self) -> dict:  # live.detached shares these instead of copying a connection pool
        return {"mlflow": self.client}

    @property
    def calls(self) -> int:
        return self.client.calls

    @property
    def frame(self):
        return self._live.frame

    @property
    def last_new_data(self):
        return self._live.last_new_data

    def refresh(self) -> list[str]:
        run = self.payload if self._fresh else self.client.run(self.run_uuid)
        self._fresh = False
        self.payload = run
        self._describe(run)
        latest = {m["key"]: (int(m.get("step", 0)), int(m.get("timestamp", 0)), str(m.get("value")))
                  for m in run.get("data", {}).get("metrics", [])}
        summary = self._hf_summary(latest, run)
        for key in sorted(latest):
            if key in summary:
                continue
            state = self._keys.get(key)
            if state is None:
                state = self._keys[key] = _Key(stream=len(self._keys))
            if state.latest != latest[key]:
                self._read_key(key, state)
                state.latest = latest[key]
        return []

    def _hf_summary(self, latest: dict, run: dict) -> set[str]:
        """HF Trainer's end-of-training summary keys, kept in final_metrics from the run summary."""
        if not (any(k in latest for k in _HF_SUMMARY_MARKERS) and "loss" in latest):
            return set()
        keys = _HF_SUMMARY_KEYS & set(latest)
        for metric in run.get("data", {}).get("metrics", []):
            if metric["key"] in keys:
                self.info.final_metrics[metric["key"]] = _float(metric["value"])
        return keys

    def _read_key(self, key: str, state: _Key) -> None:
        """The key's points after the last one read: from the page where reading stopped, onwards.

        Pages are located by the server's own page tokens, never by a token made here (MLflow calls
        their format unstable); the page where the last read stopped is asked for again and the points
        already read are skipped, after checking the last of them is still where it was."""
        name = _VERL_AT.sub(r"@\1", key)
        size = self.client.source.page_size if state.points == 0 else self.client.source.tail_page_size
        token, skip = state.token, state.in_page
        steps, values, stamps = [], [], []
        while True:
            page = self.client.history_page(self.run_uuid, key, token, size)
            points = page.get("metrics", [])
            following = page.get("next_page_token")
            if skip and (skip <= len(points) and _point(points[skip - 1]) != state.last
                         or skip > len(points) and not following):
                return self._reread(key, state)  # the history changed under the page: read it again whole
            used = min(skip, len(points))
            skip -= used
            for point in points[used:]:
                steps.append(int(point.get("step", 0)))
                stamps.append(int(point.get("timestamp", 0)))
                values.append(_float(point.get("value")))
            if len(points) > used:
                state.last = _point(points[-1])
            if not following:
                state.token, state.in_page = token, len(points)
                break
            token = following
        if not steps:
            return
        first, n = state.points, len(steps)
        state.points += n
        records = records_from_lists(range(first, first + n), range(first + 1, first + n + 1), steps, [name] * n,
                                     values, [s / 1000.0 for s in stamps])
        known = len(self.info.restarts)
        self._live.add_records(records, stream=state.stream)
        for restart in self.info.restarts[known:]:
            self.info.warnings.append(f"{key}: step {restart.from_step} went back to step {restart.to_step} at point "
                                      f"{restart.line} of its history, read as a restart from a checkpoint (the newer "
                                      "values are kept)")

    def _reread(self, key: str, state: _Key) -> None:
        note = f"{key}: its history changed before the point read last; read again from the start"
        if note not in self.info.warnings:
            self.info.warnings.append(note)
        # That key's stream is replaced whole (LiveRun has no call for it: a file is never rewritten so).
        self._live._chunks[state.stream] = []  # noqa: SLF001
        self._live._last_steps.pop(state.stream, None)  # noqa: SLF001
        self._live._frame = None  # noqa: SLF001
        state.token, state.in_page, state.points, state.last = None, 0, 0, None
        self._read_key(key, state)

    def _describe(self, run: dict) -> None:
        """Status every refresh; params (the recipe) once."""
        status = run["info"].get("status")
        self.info.status = status
        self.info.live = status == "RUNNING"
        self.description["status"] = status
        if status in ("FAILED", "KILLED"):
            note = f"the MLflow run is {status}"
            if note not in self.info.warnings:
                self.info.warnings.append(note)
        if "params" in self.description:
            return
        params = run.get("data", {}).get("params", [])
        self.description["params"] = {p["key"]: p.get("value") for p in params}
        if not params:
            return
        from ..recipes import summarize_recipe

        recipe = params_to_recipe(params)
        try:
            summary = summarize_recipe(recipe)
        except Exception as err:  # noqa: BLE001 - params are free-form: a failure costs the advice, not the run
            self.info.warnings.append(f"run params not read as a recipe: {_one_line(err)[:200]}")
            return
        self.info.hyperparameters.update(summary["hyperparameters"])
        if summary["technique"] not in ("unknown", None):
            self.info.technique = summary["technique"]
        self.info.training_mode = summary["training_mode"] or self.info.training_mode
        if summary["hyperparameters"]:
            self.description["recipe"] = recipe  # the run page lints it, as for a recipe beside a log

    def to_run(self):
        from .discover import Run

        return Run(self.info, self.frame, self)


def open_mlflow(source: MLflowSource, session=None, client: MLflowClient | None = None) -> list:
    """Read the runs ``source`` names. Returns ingest ``Run``s whose ``live`` is an MLflowRun."""
    from .discover import infer_details

    client = client or MLflowClient(source, session)
    found = find_runs(client, source)
    labels = [f"{experiment}/{run['info'].get('run_name') or run['info']['run_id']}" for run, experiment in found]
    runs = []
    for (payload, experiment), label in zip(found, labels):
        if labels.count(label) > 1:  # run names need not be unique: the id tells them apart
            label = f"{label} ({payload['info']['run_id'][:8]})"
        live = MLflowRun(client, payload, experiment, label)
        live.refresh()
        if not len(live.frame):
            live.info.warnings.append("no metrics logged to this MLflow run yet")
        infer_details(live.info, live.frame, Path(label), ["mlflow"])
        runs.append(live.to_run())
    return runs


def iam_policy() -> dict:
    """The read-only IAM policy the README prints (tracking server; an MLflow App needs APP_ACTION)."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(READ_ONLY_ACTIONS), "Resource": "*"}]}
