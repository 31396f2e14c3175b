"""The ``forge-monitor`` command (also ``python -m forge_monitor``).

Exit codes: 0 nothing at or above ``--fail-on`` fired; 1 something did; 2 usage or input error
(a missing path, an unreadable or unrecognized file named on the command line); 3 (``scan``) no alert
fired but on some run no applicable detector could check anything (``--allow-unchecked`` gives 0).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

SEVERITIES = ("info", "warning", "critical")
EXIT_UNCHECKED = 3  # scan: a run where nothing applicable could be checked is not a pass


def _jsonable(value):
    """JSON has no NaN/inf: write them as strings so the output stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _jsonable(value.item())
    return value


def run_summary(run) -> dict:
    """One entry of the ``runs`` list of the JSON contract (DESIGN.md "The command line")."""
    info, frame = run.info, run.frame
    steps = frame["step"]
    return {
        "run_id": info.run_id,
        "source": info.source,
        "format": info.format,
        "technique": info.technique,
        "steps": {
            "first": int(steps.min()) if len(steps) else None,
            "last": int(steps.max()) if len(steps) else None,
            "count": int(steps.nunique()),
        },
        "metrics": sorted(frame["metric"].unique().tolist()),
        "skipped_lines": info.lines_skipped,
        "restarts": [r.to_dict() for r in info.restarts],
        "warnings": list(info.warnings),
        # extensions of the contract
        "platform": info.platform,
        "training_mode": info.training_mode,
        "hyperparameters": info.hyperparameters,
        "recipe_path": info.recipe_path,
        "lines_read": info.lines_read,
        "skipped": [s.to_dict() for s in info.skipped],
        "final_metrics": info.final_metrics,
        "status": info.status,
    }


def _print_alerts(summaries: list[dict], alerts: list[dict], out) -> None:
    """Alerts grouped by run, most severe first, each with its remediation."""
    import textwrap

    by_run: dict[str, list[dict]] = {}
    for alert in alerts:
        by_run.setdefault(alert["run_id"], []).append(alert)
    for summary in summaries:
        run_alerts = sorted(by_run.get(summary["run_id"], []), key=lambda a: (-SEVERITIES.index(a["severity"]), a["step"]))
        skipped = [c for c in summary.get("checks", []) if c["status"] in ("skipped", "error") and c.get("applicable", True)]
        print(f"\n{summary['run_id']} ({summary['technique']}, {summary['format']}): "
              + (f"{len(run_alerts)} alert(s)" if run_alerts else "no alerts"), file=out)
        for alert in run_alerts:
            span = f"step {alert['step']}" + (f"-{alert['step_end']}" if alert["step_end"] != alert["step"] else "")
            print(f"  [{alert['severity'].upper()}] {alert['detector']} at {span}: {alert['message']}", file=out)
            for line in textwrap.wrap(alert["remediation"], 100):
                print(f"      {line}", file=out)
        if summary.get("nothing_checked"):
            print("  NOTHING CHECKED: no applicable detector could check this run - it is not known to be healthy",
                  file=out)
        if skipped:
            names = ", ".join(c["detector"] for c in skipped)
            print(f"  not checked ({len(skipped)}; could not check, data missing): {names}", file=out)
            for check in skipped:
                print(f"      {check['detector']}: {check['reason']}", file=out)


def _worst_first(summaries: list[dict], alerts: list[dict]) -> list[dict]:
    """Runs with the most severe alerts first (then the most alerts, then unchecked runs), by name after."""
    def rank(summary):
        mine = [SEVERITIES.index(a["severity"]) for a in alerts if a["run_id"] == summary["run_id"]]
        return -max(mine, default=-1), -len(mine), not summary.get("nothing_checked"), summary["run_id"]

    return sorted(summaries, key=rank)


def _print_table(summaries: list[dict], alerts: list[dict], problems, out) -> None:
    summaries = _worst_first(summaries, alerts)
    if summaries:
        rows = [("run", "format", "technique", "steps", "metrics", "skipped", "restarts")]
        for s in summaries:
            st = s["steps"]
            span = f"{st['first']}–{st['last']} ({st['count']})" if st["count"] else "none"
            rows.append((s["run_id"], s["format"], s["technique"], span, str(len(s["metrics"])),
                         str(s["skipped_lines"]), str(len(s["restarts"]))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for index, row in enumerate(rows):
            print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=out)
            if index == 0:
                print("  ".join("-" * w for w in widths), file=out)
        for s in summaries:
            for w in s["warnings"]:
                print(f"note: {s['run_id']}: {w}", file=out)
            for skipped in s["skipped"][:3]:
                print(f"note: {s['run_id']}: line {skipped['line']} skipped: {skipped['reason']}", file=out)
    for problem in problems:
        print(f"skipped file: {problem}", file=out)
    _print_alerts(summaries, alerts, out)
    counts = {level: sum(a["severity"] == level for a in alerts) for level in SEVERITIES}
    print(f"\n{len(summaries)} run(s), {len(alerts)} alert(s): "
          + ", ".join(f"{counts[level]} {level}" for level in reversed(SEVERITIES)), file=out)


def _load_cloudwatch(args):
    """A CloudWatch job as a LoadResult, or None after printing the one-line reason."""
    from .ingest import LoadResult
    from .ingest.cloudwatch import CloudWatchError, CloudWatchSource, open_cloudwatch

    source = CloudWatchSource(args.cloudwatch, platform=args.platform, cluster=args.cluster, region=args.region,
                              profile=args.profile, endpoint_url=args.endpoint_url)
    try:
        return LoadResult(runs=[open_cloudwatch(source)])
    except CloudWatchError as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return None
    except Exception as err:  # noqa: BLE001 - botocore refuses a malformed region or endpoint URL before any call
        print(f"forge-monitor: CloudWatch job {args.cloudwatch!r} ({source.where}): {_one_line(err)}", file=sys.stderr)
        return None


def _load_mlflow(args):
    """Runs of an MLflow tracking server as a LoadResult, or None after printing the one-line reason."""
    from .ingest import LoadResult
    from .ingest.mlflow import MLflowError, MLflowSource, open_mlflow

    source = MLflowSource(args.mlflow or None, experiment=args.experiment, run=args.run, max_runs=args.max_runs)
    try:
        return LoadResult(runs=open_mlflow(source))
    except MLflowError as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _load_config(path):
    """Detector config, or ValueError with one line: also for a FIFO or device (reading one blocks or
    never ends) and for TOML nested too deeply to parse."""
    from .detectors import load_config

    if path is not None and Path(path).exists() and not Path(path).is_file():
        raise ValueError(f"cannot read config {path}: not a regular file")
    try:
        return load_config(path)
    except RecursionError:
        raise ValueError(f"{path}: invalid TOML: nested too deeply") from None


def cmd_scan(args) -> int:
    from .ingest import load_definitions, load_paths

    definitions = None
    if args.metric_definitions:
        try:
            definitions = load_definitions(args.metric_definitions)
        except ValueError as err:
            print(f"forge-monitor: {err}", file=sys.stderr)
            return 2
    from .detectors import run_checks

    try:
        config = _load_config(args.config)
    except ValueError as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return 2
    if (args.experiment or args.run) and args.mlflow is None:
        print("forge-monitor: --experiment and --run choose MLflow runs: add --mlflow [TRACKING_URI]", file=sys.stderr)
        return 2
    if sum([bool(args.paths), bool(args.cloudwatch), args.mlflow is not None]) > 1:
        print("forge-monitor: scan reads one source at a time: PATH..., --cloudwatch JOB or --mlflow URI", file=sys.stderr)
        return 2
    if args.max_runs < 1:
        print("forge-monitor: --max-runs must be at least 1", file=sys.stderr)
        return 2
    if args.cloudwatch:
        result = _load_cloudwatch(args)
        if result is None:
            return 2
    elif args.mlflow is not None:
        result = _load_mlflow(args)
        if result is None:
            return 2
    elif not args.paths:
        print("forge-monitor: scan needs PATH..., --cloudwatch JOB or --mlflow TRACKING_URI", file=sys.stderr)
        return 2
    else:
        result = load_paths(args.paths, definitions=definitions)
    summaries, alerts = [], []
    for run in result.runs:
        report = run_checks(run.frame, run.info, config)
        summary = run_summary(run)
        summary["checks"] = [{"detector": r.detector, "status": r.status.value, "reason": r.reason,
                              "applicable": r.applicable} for r in report.results]
        summary["nothing_checked"] = report.nothing_checked
        summaries.append(summary)
        alerts.extend(a.to_dict() for a in report.alerts)
    if args.json:
        payload = {
            "runs": summaries,
            "alerts": alerts,
            "problems": [{"path": p.path, "reason": p.reason} for p in result.problems],
            "errors": [{"path": p.path, "reason": p.reason} for p in result.errors],
        }
        json.dump(_jsonable(payload), sys.stdout, indent=2)
        print()
    elif summaries or not result.errors:
        _print_table(summaries, alerts, result.problems, sys.stdout)
    for error in result.errors:
        print(f"forge-monitor: {error}{_did_you_mean(error.path)}", file=sys.stderr)
    unchecked = [s["run_id"] for s in summaries if s["nothing_checked"]]
    for run_id in unchecked:
        print(f"forge-monitor: {run_id}: no applicable detector could check this run (see its reasons); "
              f"exit {EXIT_UNCHECKED} unless --allow-unchecked", file=sys.stderr)
    if result.errors:
        return 2
    threshold = SEVERITIES.index(args.fail_on)
    fired = any(SEVERITIES.index(a["severity"]) >= threshold for a in alerts)
    if fired:
        return 1
    return EXIT_UNCHECKED if unchecked and not args.allow_unchecked else 0


def _did_you_mean(path: str) -> str:
    """' (did you mean sample_logs?)' for a path that does not exist but has a close sibling."""
    import difflib

    target = Path(path)
    if target.exists() or not target.parent.is_dir():
        return ""
    try:
        siblings = [p.name for p in target.parent.iterdir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(target.name, siblings, n=1, cutoff=0.8)
    return f" (did you mean {target.parent / close[0] if str(target.parent) != '.' else close[0]}?)" if close else ""


def cmd_lint(args) -> int:
    """Pre-flight checks of a recipe: JSON ``{"findings": [...], "recipe": {...}}`` or a readable list."""
    from .recipes import RecipeError, lint, read_recipe

    context = {}
    if args.inference_reasoning:
        context["inference_reasoning"] = args.inference_reasoning == "on"
    if args.baseline is not None:
        context["baseline"] = args.baseline
    if args.dataset_tokens is not None:
        context["dataset_tokens"] = args.dataset_tokens
    try:
        spec = read_recipe(args.recipe) if Path(args.recipe).exists() else None
    except RecipeError as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return 2
    if spec is None:
        print(f"forge-monitor: {args.recipe}: no such file", file=sys.stderr)
        return 2
    findings, view = lint(spec, context)
    if args.json:
        json.dump(_jsonable({"findings": [f.to_dict() for f in findings], "recipe": view.to_dict()}), sys.stdout, indent=2)
        print()
    else:
        print(f"{args.recipe}: {view.technique.upper()} ({view.shape} shape), platform {view.platform or 'not stated'}, "
              f"mode {view.training_mode or 'unknown'}")
        for finding in sorted(findings, key=lambda f: -SEVERITIES.index(f.severity)):
            print(f"  [{finding.severity.upper()}] {finding.rule} ({finding.field}): {finding.message}\n      {finding.remediation}")
        if not findings:
            print("  no findings")
        if view.unknown_fields:
            print(f"  unknown fields (not checked): {', '.join(view.unknown_fields)}")
    threshold = SEVERITIES.index(args.fail_on)
    return 1 if any(SEVERITIES.index(f.severity) >= threshold for f in findings) else 0


def cmd_report(args) -> int:
    """A self-contained HTML post-mortem of the runs under PATH..."""
    from .detectors import run_checks
    from .ingest import load_definitions, load_paths
    from .report import html_report

    try:
        config = _load_config(args.config)
        definitions = load_definitions(args.metric_definitions) if args.metric_definitions else None
    except ValueError as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return 2
    result = load_paths(args.paths, definitions=definitions)
    for error in result.errors:
        print(f"forge-monitor: {error}", file=sys.stderr)
    if not result.runs:
        print("forge-monitor: no runs to report", file=sys.stderr)
        return 2
    pairs = [(run, run_checks(run.frame, run.info, config)) for run in result.runs]
    out = Path(args.output)
    try:
        out.write_text(html_report(pairs, title=args.title), encoding="utf-8")
    except OSError as err:
        print(f"forge-monitor: cannot write {out}: {err.strerror or _one_line(err)}", file=sys.stderr)
        return 2
    n_alerts = sum(len(report.alerts) for _, report in pairs)
    print(f"wrote {out} ({len(pairs)} run(s), {n_alerts} alert(s), {out.stat().st_size / 1e6:.1f} MB)")
    return 2 if result.errors else 0


def cmd_detectors(args) -> int:
    """The detector reference, or (``--toml``) a config file with every default, ready to edit."""
    from .detectors import REGISTRY, config_help

    for detector_id, spec in REGISTRY.items():
        if args.toml:
            print(f"[{detector_id}]  # {spec.title}: {spec.catches}")
            for field in config_help(spec.config_type):
                print(f"{field['name']} = {json.dumps(field['default'])}  # {field['help']}")
            print()
            continue
        kind = "required" if spec.required else "expected"
        applies = ", ".join(spec.techniques) if spec.techniques else "every technique"
        print(f"{detector_id} ({kind}) - {spec.title}\n  catches: {spec.catches}\n  metrics: {', '.join(spec.metrics)}"
              f"\n  applies to: {applies}\n  remediation: {spec.remediation}")
        for field in config_help(spec.config_type):
            print(f"  - {field['name']} = {field['default']}: {field['help']}")
        print()
    return 0


def _dashboard_paths(paths, config) -> tuple[list[Path], str | None] | None:
    """The folders named on the command line (a file stands for its folder), checked; None after the
    one-line reason."""
    folders = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            print(f"forge-monitor: {raw}: no such file or directory{_did_you_mean(raw)}", file=sys.stderr)
            return None
        folders.append((path if path.is_dir() else path.parent).resolve())
    if config is not None:
        try:
            _load_config(config)
        except ValueError as err:
            print(f"forge-monitor: {err}", file=sys.stderr)
            return None
        config = str(Path(config).resolve())
    return list(dict.fromkeys(folders)), config


def cmd_dashboard(args) -> int:
    """The dashboard on the user's folders (as ``tensorboard --logdir`` does): they become the allowed
    roots, the first one opens."""
    from .demo import run_dashboard

    checked = _dashboard_paths(args.paths, args.config)
    if checked is None:
        return 2
    folders, config = checked
    return run_dashboard(folders, port=args.port, config=config)


def cmd_demo(args) -> int:
    from .demo import run_demo, run_watch_demo

    if args.paths and not (args.live or args.watch):
        return cmd_dashboard(args)
    if args.paths:
        print("forge-monitor: demo PATH opens your folders; --live and --watch replay a bundled sample (--run)",
              file=sys.stderr)
        return 2
    if args.watch:
        return run_watch_demo(sample=args.run, steps_per_second=args.rate)
    return run_demo(live=args.live, sample=args.run, steps_per_second=args.rate, port=args.port)


def cmd_samples(args) -> int:
    from .samples import write_samples

    written = write_samples(Path(args.out))
    print(f"wrote {len(written)} files under {args.out}")
    return 0


def cmd_watch(args) -> int:
    """Follow runs and send each new alert once; SIGTERM / SIGINT end it with the state written."""
    import signal

    from .notify import Outbox, Route, RouteError, load_routes, log, parse_route
    from .watch import Watcher, WatchState, default_state_dir, parse_stop_rule

    if not args.notify and not args.notify_config and not args.dry_run:
        print("forge-monitor: watch needs --notify URL or --notify-config FILE (or --dry-run to print what would be sent)",
              file=sys.stderr)
        return 2
    if not (args.interval > 0 and math.isfinite(args.interval)):
        print("forge-monitor: --interval must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.notify_rate < 0:
        print("forge-monitor: --notify-rate must be 0 (no limit) or a positive number of messages per hour",
              file=sys.stderr)
        return 2
    if args.group_wait is not None and not (args.group_wait >= 0 and math.isfinite(args.group_wait)):
        print("forge-monitor: --group-wait must be 0 (send at once) or a positive number of seconds", file=sys.stderr)
        return 2
    if args.repeat is not None and not (args.repeat > 0 and math.isfinite(args.repeat)):
        print("forge-monitor: --repeat must be a positive number of hours", file=sys.stderr)
        return 2
    if (args.experiment or args.run) and args.mlflow is None:
        print("forge-monitor: --experiment and --run choose MLflow runs: add --mlflow [TRACKING_URI]", file=sys.stderr)
        return 2
    if not (args.paths or args.cloudwatch or args.cloudwatch_prefix or args.mlflow is not None):
        print("forge-monitor: watch needs PATH..., --cloudwatch JOB, --cloudwatch-prefix PREFIX or --mlflow [URI]",
              file=sys.stderr)
        return 2
    mlflow = None
    if args.mlflow is not None:
        from .ingest.mlflow import MLflowError, MLflowSource

        mlflow = MLflowSource(args.mlflow or None, experiment=args.experiment, run=args.run, max_runs=args.max_runs)
        try:
            mlflow.uri()
        except MLflowError as err:
            print(f"forge-monitor: {err}", file=sys.stderr)
            return 2
    if args.cloudwatch_prefix and args.platform != "smtj":
        print("forge-monitor: --cloudwatch-prefix lists SageMaker training jobs (ListTrainingJobs): "
              "not for --platform hyperpod", file=sys.stderr)
        return 2
    if args.stop_on and not args.allow_stop:
        print("forge-monitor: --stop-on stops training jobs: add --allow-stop to confirm "
              "(and grant sagemaker:StopTrainingJob, see the README)", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"forge-monitor: {missing[0]}: no such file or directory", file=sys.stderr)
        return 2
    try:
        config = _load_config(args.config)
        routes = [parse_route(url, args.notify_min, args.notify_resolved) for url in args.notify]
        for path in args.notify_config:
            routes += load_routes(path, args.notify_min, args.notify_resolved)
        stop_on = [parse_stop_rule(rule) for rule in args.stop_on]
    except (ValueError, RouteError) as err:
        print(f"forge-monitor: {err}", file=sys.stderr)
        return 2
    state_dir = Path(args.state) if args.state else default_state_dir()
    try:
        state = WatchState(state_dir)
    except (OSError, ValueError) as err:
        print(f"forge-monitor: cannot use state {state_dir}: {_one_line(err)}", file=sys.stderr)
        return 2
    if args.dry_run and not routes:
        routes = [Route("stdout://", args.notify_min, resolved=args.notify_resolved)]  # nothing to send to: print what any route would get
    template = clients = None
    if args.cloudwatch or args.cloudwatch_prefix:
        from .ingest.cloudwatch import CloudWatchError, CloudWatchSource, make_clients

        template = CloudWatchSource("", platform=args.platform, cluster=args.cluster, region=args.region,
                                    profile=args.profile, endpoint_url=args.endpoint_url)
        try:
            clients = make_clients(template)
        except CloudWatchError as err:
            print(f"forge-monitor: {err}", file=sys.stderr)
            return 2
    group_wait = min(args.interval, 30.0) if args.group_wait is None else args.group_wait
    outbox = Outbox(routes, dry_run=args.dry_run, base_backoff=args.interval, rate=args.notify_rate,
                    group_wait=group_wait)
    watcher = Watcher(args.paths, outbox, state, dashboard_url=args.dashboard_url, config=config,
                      cloudwatch=args.cloudwatch, prefixes=args.cloudwatch_prefix, template=template, clients=clients,
                      stop_on=stop_on, repeat=args.repeat * 3600 if args.repeat else None, mlflow=mlflow)
    sources = [*args.paths, *(f"CloudWatch job {j}" for j in args.cloudwatch),
               *(f"CloudWatch jobs {p}* (InProgress)" for p in args.cloudwatch_prefix),
               *([f"MLflow {mlflow.uri()}" + (f" experiment {args.experiment!r}" if args.experiment else "")
                  + (f" run {args.run!r}" if args.run else f" (newest {args.max_runs} runs, RUNNING ones followed)")]
                 if mlflow else [])]
    log(f"following {', '.join(sources)} every {args.interval:g} s; alerts of a run grouped over {group_wait:g} s; "
        f"state in {state.path}")
    for rule in stop_on:
        log(f"--stop-on {rule.detector}:{rule.severity}: a new alert stops its SageMaker training job (InProgress, once)")
    for route in routes:
        log(f"route {route.label} (min {route.min_severity}" + (", resolved notices" if route.resolved else "")
            + (f", at most {args.notify_rate} per hour)" if args.notify_rate else ", no rate limit)")
            + (" - dry run, printed instead" if args.dry_run else ""))
    previous = {sig: signal.signal(sig, watcher.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(args.interval, once=args.once)
    except OSError as err:
        print(f"forge-monitor: cannot write state {state.path}: {err.strerror or _one_line(err)}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    outbox.release()  # alerts still gathering go out now, not at a restart that may never come
    outbox.flush()
    watcher.save_state()
    watcher.checkpoint(force=True)
    queued = sum(len(r.queue) for r in routes)
    log(f"stopped: {sum(r.sent for r in routes)} sent, {sum(r.failures for r in routes)} failed attempt(s), "
        f"{queued} still queued (kept in the state)")
    return 0


def _mlflow_arguments(parser, what: str, verb: str, more: str = "") -> None:
    """--mlflow [URI], --experiment, --run, --max-runs: the same for scan and watch."""
    parser.add_argument("--mlflow", nargs="?", const="", metavar="TRACKING_URI",
                        help=f"{what} (http(s):// URL or SageMaker MLflow ARN; without a value: MLFLOW_TRACKING_URI){more}")
    parser.add_argument("--experiment", metavar="NAME", help="MLflow experiment (name or id)")
    parser.add_argument("--run", metavar="RUN", help="MLflow run (id or name); default: the experiment's newest runs")
    parser.add_argument("--max-runs", type=int, default=20, metavar="N",
                        help=f"how many of the newest MLflow runs {verb} when no --run is named (default: 20)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="forge-monitor", description="Training-run monitor for LLM customization jobs.")
    parser.add_argument("--version", action="version", version=f"forge-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    scan = sub.add_parser("scan", help="ingest runs and report them (and their alerts)")
    scan.add_argument("paths", nargs="*", metavar="PATH", help="log files or directories to search for runs")
    scan.add_argument("--cloudwatch", metavar="JOB", help="read a training job from CloudWatch instead of files")
    scan.add_argument("--platform", choices=("smtj", "hyperpod"), default="smtj", help="where the job runs (default: smtj)")
    scan.add_argument("--cluster", help="HyperPod cluster name")
    scan.add_argument("--region", help="AWS region (default: the usual AWS settings)")
    scan.add_argument("--profile", help="AWS profile")
    scan.add_argument("--endpoint-url", help="CloudWatch / SageMaker endpoint (AWS_ENDPOINT_URL is honoured too)")
    _mlflow_arguments(scan, "read runs from an MLflow tracking server", "to read")
    scan.add_argument("--json", action="store_true", help="print the JSON contract instead of a table")
    scan.add_argument("--fail-on", choices=SEVERITIES, default="warning",
                      help="exit 1 when an alert at or above this severity fired (default: warning); exit "
                           f"{EXIT_UNCHECKED} when none did but no applicable detector could check a run")
    scan.add_argument("--allow-unchecked", action="store_true",
                      help=f"exit 0 even when no applicable detector could check a run (default: exit {EXIT_UNCHECKED})")
    scan.add_argument("--config", metavar="TOML", help="detector thresholds, e.g. [loss_spike] z_threshold = 6")
    scan.add_argument("--metric-definitions", metavar="FILE",
                      help='SageMaker-style metric definitions for other text logs: [{"Name": ..., "Regex": ...}]')
    scan.set_defaults(func=cmd_scan)

    lint_cmd = sub.add_parser("lint", help="pre-flight checks of a recipe against the fine-tuning guidance")
    lint_cmd.add_argument("recipe", help="Nova recipe YAML, serverless / DescribeTrainingJob hyperparameters or "
                                         "TrainingArguments JSON")
    lint_cmd.add_argument("--json", action="store_true")
    lint_cmd.add_argument("--fail-on", choices=SEVERITIES, default="warning")
    lint_cmd.add_argument("--inference-reasoning", choices=("on", "off"), help="reasoning mode you will serve with")
    lint_cmd.add_argument("--baseline", type=float, help="the model's baseline score on the task (0-1 or %%)")
    lint_cmd.add_argument("--dataset-tokens", type=float, help="size of the (CPT) dataset in tokens")
    lint_cmd.set_defaults(func=cmd_lint)

    report = sub.add_parser("report", help="write a self-contained HTML post-mortem report")
    report.add_argument("paths", nargs="+", metavar="PATH", help="log files or directories")
    report.add_argument("-o", "--output", default="forge-monitor-report.html",
                        help="the HTML file to write (default: %(default)s)")
    report.add_argument("--title", default="forge-monitor post-mortem")
    report.add_argument("--config", metavar="TOML", help="detector thresholds")
    report.add_argument("--metric-definitions", metavar="FILE", help="metric definitions for other text logs")
    report.set_defaults(func=cmd_report)

    watch = sub.add_parser("watch", help="follow runs and send each new alert once (apprise URLs)")
    watch.add_argument("paths", nargs="*", metavar="PATH", help="log files or folders (runs appearing later are picked up)")
    watch.add_argument("--cloudwatch", action="append", default=[], metavar="JOB",
                       help="follow a training job in CloudWatch; repeatable")
    watch.add_argument("--cloudwatch-prefix", action="append", default=[], metavar="PREFIX",
                       help="follow every SageMaker training job InProgress whose name starts with PREFIX "
                            "(listed again every 6 refreshes); repeatable")
    _mlflow_arguments(watch, "follow MLflow runs", "to look at",
                      "; new RUNNING runs found every 6 refreshes, ended ones read to the end and dropped")
    watch.add_argument("--platform", choices=("smtj", "hyperpod"), default="smtj", help="where the jobs run (default: smtj)")
    watch.add_argument("--cluster", help="HyperPod cluster name")
    watch.add_argument("--region", help="AWS region (default: the usual AWS settings)")
    watch.add_argument("--profile", help="AWS profile")
    watch.add_argument("--endpoint-url", help="CloudWatch / SageMaker endpoint (AWS_ENDPOINT_URL is honoured too)")
    watch.add_argument("--stop-on", action="append", default=[], metavar="DETECTOR[:SEVERITY]",
                       help="a new alert of DETECTOR at or above SEVERITY (default: critical) stops its SageMaker "
                            "training job (StopTrainingJob; needs --allow-stop); repeatable")
    watch.add_argument("--allow-stop", action="store_true",
                       help="confirm --stop-on: forge-monitor may call sagemaker:StopTrainingJob")
    watch.add_argument("--notify", action="append", default=[], metavar="URL",
                       help="an apprise URL (slack://, workflows://, mailtos://, sns://, ntfy://, json:// ...), "
                            "or SEVERITY=URL for that route's own minimum (SEVERITY+resolved=URL: with resolved notices); repeatable")
    watch.add_argument("--notify-config", action="append", default=[], metavar="FILE",
                       help="a file of routes, one a line in the --notify form; # starts a comment")
    watch.add_argument("--notify-min", choices=SEVERITIES, default="warning",
                       help="minimum severity sent by routes without their own (default: warning)")
    watch.add_argument("--notify-resolved", action="store_true",
                       help="every route also gets a short notice when an alert it was sent stops holding "
                            "(one route: --notify 'warning+resolved=URL')")
    watch.add_argument("--notify-rate", type=int, default=30, metavar="N",
                       help="at most N messages per route per hour; more are held and sent as one summary "
                            "(0: no limit; default 30)")
    watch.add_argument("--group-wait", type=float, metavar="SECONDS",
                       help="new alerts of one run found within SECONDS of the first go out as one message "
                            "(default: the interval, at most 30; 0: each refresh's alerts at once)")
    watch.add_argument("--repeat", type=float, metavar="HOURS",
                       help="send an alert still open again every HOURS (default: never)")
    watch.add_argument("--state", metavar="DIR", help="where the alerts already sent and the read positions are kept "
                                                      "(default: $XDG_STATE_HOME/forge-monitor or ~/.local/state/forge-monitor)")
    watch.add_argument("--interval", type=float, default=10.0, help="seconds between refreshes (default: 10)")
    watch.add_argument("--dashboard-url", metavar="URL", help="dashboard address; messages link to ?run=...&step=...")
    watch.add_argument("--dry-run", action="store_true", help="print the messages instead of sending them")
    watch.add_argument("--once", action="store_true", help="one refresh, then exit (tests, cron)")
    watch.add_argument("--config", metavar="TOML", help="detector thresholds")
    watch.set_defaults(func=cmd_watch)

    detectors = sub.add_parser("detectors", help="what each detector catches, its thresholds and remediation")
    detectors.add_argument("--toml", action="store_true", help="print every default as a TOML file for --config")
    detectors.set_defaults(func=cmd_detectors)

    dashboard = sub.add_parser("dashboard", help="open the dashboard on your runs: forge-monitor dashboard PATH...")
    dashboard.add_argument("paths", nargs="+", metavar="PATH",
                           help="folders of runs (a file: its folder); they become the folders the dashboard may read")
    dashboard.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    dashboard.add_argument("--config", metavar="TOML", help="detector thresholds, the same file as scan --config")
    dashboard.set_defaults(func=cmd_dashboard)

    demo = sub.add_parser("demo", help="open the dashboard on the sample logs (or on PATH...); --live replays a run "
                                       "as it happens")
    demo.add_argument("paths", nargs="*", metavar="PATH", help="your folders of runs instead of the samples "
                                                               "(the same as `dashboard PATH...`)")
    demo.add_argument("--config", metavar="TOML", help="detector thresholds (with PATH)")
    demo.add_argument("--live", action="store_true", help="replay a sample run into a temporary log, followed live")
    demo.add_argument("--watch", action="store_true",
                      help="replay a sample run while `watch --dry-run` prints each alert's message (no dashboard)")
    demo.add_argument("--run", default="nova-sft-datamix-high-lr", help="sample folder to replay (default: %(default)s)")
    demo.add_argument("--rate", type=float, default=5.0, help="steps per second (default: %(default)s)")
    demo.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    demo.set_defaults(func=cmd_demo)

    samples = sub.add_parser("samples", help="regenerate the bundled sample logs (seeded, deterministic)")
    samples.add_argument("--out", default="sample_logs", help="output folder (default: sample_logs)")
    samples.set_defaults(func=cmd_samples)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
