"""Post-mortem exports: a self-contained HTML report, the tidy frame as CSV / Parquet, alerts as JSON.

The HTML carries plotly.js inline once and every chart as data, so it opens offline and can be
mailed. Every run id, metric name, file name, message and remediation is HTML-escaped: a log file
may be named ``<script>.log``.
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime, timezone

import pandas as pd

from .alerts import Report
from .incidents import evidence_rows, step_window
from .ingest import Run
from .plotting import chart_plan, metric_figure

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:.8rem;font-weight:600}
.critical{background:#E45756}.warning{background:#F58518}.info{background:#4C78A8}
table{border-collapse:collapse;width:100%;font-size:.9rem} td,th{border-bottom:1px solid #eee;padding:6px;text-align:left;vertical-align:top}
.remedy{color:#333;background:#f6f8fa;padding:6px 10px;border-left:3px solid #4C78A8;margin:4px 0 12px}
.muted{color:#777;font-size:.85rem}
"""


def alerts_json(report: Report) -> str:
    return json.dumps([a.to_dict() for a in report.alerts], indent=2)


# A text cell a spreadsheet would run as a formula (OWASP "CSV injection"): =, +, -, @, tab, CR.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def frame_csv(frame: pd.DataFrame) -> bytes:
    """The tidy frame as CSV. Names come from the log (metric keys, run folders): one starting like a
    formula gets a leading ``'``, so a spreadsheet shows it instead of evaluating it."""
    text = {column: frame[column].astype(str).map(_inert) for column in ("run_id", "metric")}
    return frame.assign(**text).to_csv(index=False).encode("utf-8")


def chart_csv(frame: pd.DataFrame, metrics) -> bytes:
    """One chart's data the way TensorBoard's per-chart download gives it (L10 of the UX review): a row
    per step, ``wall_time, step`` and a column per metric of the chart (±inf kept; a NaN and a step the
    metric was not logged at are both empty cells)."""
    part = frame[frame["metric"].astype(str).isin(list(metrics))]
    wide = part.pivot_table(index="step", columns="metric", values="value", aggfunc="last", observed=True, dropna=False)
    wide = wide.reindex(columns=[m for m in metrics if m in wide.columns])
    wall = part.groupby("step", observed=True)["wall_time"].min()
    out = pd.concat([wall.rename("wall_time"), wide], axis=1).reset_index()
    out.columns = [_inert(str(c)) for c in out.columns]
    return out[["wall_time", "step", *out.columns[2:]]].to_csv(index=False).encode("utf-8")


def frame_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.astype({"run_id": str, "metric": str}).to_parquet(buffer, index=False)
    return buffer.getvalue()


def timeline(report: Report) -> list[dict]:
    """Alerts in order of onset: what went wrong first comes first."""
    return [{"order": i + 1, **a.to_dict()} for i, a in enumerate(report.alerts)]


def recipe_findings(info, description: dict | None = None) -> list:
    """The recipe's warning and critical findings (a recipe next to the log, or the recipe of a
    DescribeTrainingJob ``description``), or none. Raises nothing: an unreadable recipe has none."""
    from .recipes import RecipeError, lint, read_recipe

    try:
        if getattr(info, "recipe_path", None):
            return [f for f in lint(read_recipe(info.recipe_path))[0] if f.severity != "info"]
        if (description or {}).get("recipe"):
            return [f for f in lint(description["recipe"])[0] if f.severity != "info"]
    except RecipeError:
        return []
    return []


def first_cause(report: Report, findings, *, window: int | None = None) -> dict | None:
    """What went wrong first: the first incident (alerts within ``window`` steps of each other) and,
    when a recipe finding explains one of its alerts, that finding, named before the alert it led to
    (M7: "grad_norm_spike at step 140" was named while the remediation blamed the recipe's LR).
    Returns {"alert", "incident", "finding" (or None)}, or None when nothing fired."""
    from .incidents import DEFAULT_WINDOW, group_incidents
    from .recipes.checks import EXPLAINS

    incidents = group_incidents(report.alerts, window=window or DEFAULT_WINDOW)
    if not incidents:
        return None
    first = incidents[0]
    detectors = set(first.detectors)
    finding = next((f for f in findings if EXPLAINS.get(f.rule, set()) & detectors), None)
    return {"alert": first.alerts[0], "incident": first, "finding": finding}


def html_report(runs: list[tuple[Run, Report]], *, title: str = "forge-monitor post-mortem") -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1><p class='muted'>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} "
             f"by forge-monitor. {len(runs)} run(s).</p>"]
    plotly_included = False
    for run, report in runs:
        info, frame = run.info, run.frame
        steps = frame["step"]
        parts.append(f"<h2>{e(info.run_id)}</h2><p class='muted'>source {e(info.source)} · format {e(info.format)} · "
                     f"technique {e(info.technique)} · platform {e(info.platform)} · steps "
                     f"{int(steps.min()) if len(steps) else '-'}–{int(steps.max()) if len(steps) else '-'}</p>")
        alerts = report.alerts
        findings = recipe_findings(info, getattr(run.live, "description", None))  # a CloudWatch job's recipe too
        cause = first_cause(report, findings, window=step_window(steps)) if len(steps) else None
        if cause:  # the root cause first: the recipe finding that explains the first incident, when one does
            a, f = cause["alert"], cause["finding"]
            seen = f"{e(a.detector)} at step {a.step}: {e(a.message)}"
            parts.append("<p><b>What went wrong first:</b> " + (f"the recipe, <b>{e(f.rule)}</b>: {e(f.message)}. "
                                                               f"It shows first as {seen}</p>" if f else f"{seen}</p>"))
        if alerts:
            parts.append("<h3>What went wrong, in order</h3><table><tr><th>#</th><th>steps</th><th>severity</th>"
                         "<th>detector</th><th>what was seen / what to change</th></tr>")
            for i, a in enumerate(alerts, 1):
                sev = e(a.severity.value)
                parts.append(f"<tr><td>{i}</td><td>{a.step}–{a.step_end}</td><td><span class='sev {sev}'>{sev}</span></td>"
                             f"<td>{e(a.detector)}<br><span class='muted'>{e(a.metric)}</span></td><td>{e(a.message)}"
                             f"<div class='remedy'>{e(a.remediation)}</div><span class='muted'>evidence: "
                             + e("; ".join(f"{k} {v}" for k, v in evidence_rows(a.to_dict()["evidence"])))
                             + "</span></td></tr>")
            parts.append("</table>")
        else:
            parts.append("<p>No alerts.</p>")
        if findings:  # the root cause the remediations point at, said once per run
            parts.append("<h3>Recipe findings</h3><ul>" + "".join(
                f"<li><span class='sev {e(f.severity)}'>{e(f.severity)}</span> <b>{e(f.rule)}</b>: {e(f.message)}"
                f"<div class='remedy'>{e(f.remediation)}</div></li>" for f in findings) + "</ul>")
        skipped = report.skipped  # could not check (data missing); not-applicable detectors are not listed
        if skipped:
            parts.append("<p class='muted'>Could not check (data missing): "
                         + "; ".join(f"{e(r.detector)} ({e(r.reason)})" for r in skipped) + "</p>")
        metrics = set(frame["metric"].astype(str).unique()) if len(frame) else set()
        for chart_title, group in chart_plan(info.technique, metrics):
            chart_alerts = [a for a in alerts if a.metric in group]
            # Full range: the spikes the report is about are on the page, not cut off by a fit to the bulk.
            fig, note = metric_figure(frame, group, title=chart_title, alerts=chart_alerts, robust_y=False)
            fig.update_layout(title=html.escape(chart_title))
            for trace in fig.data:  # names come from logs: escape before they reach the page
                trace.name = html.escape(str(trace.name))
            parts.append(fig.to_html(full_html=False, include_plotlyjs=not plotly_included))
            plotly_included = True
            if note:
                parts.append(f"<p class='muted'>{e(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
