"""Notifications of new alerts through apprise: routes, messages, and a retrying outbox.

A *route* is one apprise URL (``slack://…``, ``workflows://…``, ``mailtos://…``, ``sns://…``,
``ntfy://…``, ``json://host:port/path`` …) with a minimum severity. On the command line a route is the
URL itself, or ``SEVERITY=URL`` to give that route its own minimum (the form of apprise's own text
config, ``tag=URL``; a ``#min=`` suffix would clash with URLs such as ``slack://…/#channel``).
``+resolved`` in that prefix (``warning+resolved=URL``, ``resolved=URL``) asks for "resolved" notices too.

New alerts of one run are gathered for ``group_wait`` seconds from the first of them (Alertmanager's
``group_wait``) and go out as one message: a loss spike and the grad-norm spike beside it, found one
refresh apart, are one notification. Repeats and "resolved" notices are not held.

Each route sends at most ``rate`` messages per ``window`` (an hour); beyond that its messages are held,
not dropped, and sent as one "N more alerts" summary as soon as the window allows. The send times are
kept in the watch state, so a restarted watcher does not start a fresh allowance.

A failing route never stops the caller: apprise returns a failed result instead of raising; the
message stays queued (a bounded queue per route) and is tried again later with exponential backoff.
"""

from __future__ import annotations

import hashlib
import sys
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field

from .alerts import Severity

SEVERITIES = ("info", "warning", "critical")
QUEUE_LIMIT = 100  # messages kept per route while its target is down; the oldest is dropped beyond
MAX_BACKOFF = 300.0  # seconds between tries at most
# Schemes whose host part is a plain host (shown in logs); for the others it is often a token.
_HOST_IS_PUBLIC = {"json", "jsons", "form", "forms", "xml", "xmls", "ntfy", "ntfys"}


class RouteError(ValueError):
    """A --notify value apprise cannot use (one line, names the value)."""


@dataclass
class Message:
    run_id: str
    title: str
    body: str
    severity: str  # the highest severity among its alerts
    alerts: list[dict]  # identities and fields, kept for the state file and dry-run
    attempts: int = 0
    next_try: float = 0.0
    kind: str = "alert"  # alert, repeat, resolved, summary

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "title": self.title, "body": self.body, "severity": self.severity,
                "alerts": self.alerts, "attempts": self.attempts, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict) -> "Message":
        return cls(data["run_id"], data["title"], data["body"], data["severity"], list(data.get("alerts", [])),
                   int(data.get("attempts", 0)), kind=str(data.get("kind", "alert")))


@dataclass
class Route:
    url: str
    min_severity: str = "warning"
    resolved: bool = False  # also send a notice when an alert sent on this route stops holding
    queue: deque = field(default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    sent: int = 0
    failures: int = 0
    dropped: int = 0
    held: bool = False  # the rate limit is holding messages back (logged once per episode)
    sent_at: deque = field(default_factory=deque)  # clock times of the sends inside the rate window
    # run id -> [deadline, alerts, dashboard url]: new alerts held for the group window
    gathering: dict = field(default_factory=dict)
    _apprise: object = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """A stable name for the state file that does not store the URL (it may hold tokens)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """A name for logs that shows no secret: the host only for plain webhooks and ntfy (for most
        services the "host" of the URL is a token: slack://TokenA/…, sns://AccessKeyID/…)."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "stdout":
            return "stdout"  # --dry-run without --notify
        if parts.scheme in _HOST_IS_PUBLIC and parts.hostname:
            return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}:// (route {self.key[:6]})"


def parse_route(text: str, default_min: str = "warning", resolved: bool = False) -> Route:
    """``URL``, ``SEVERITY=URL``, ``SEVERITY+resolved=URL`` or ``resolved=URL``; raises RouteError when
    apprise does not accept the URL."""
    import apprise

    minimum, url = default_min, text.strip()
    head, sep, rest = url.partition("=")
    words = head.lower().split("+")
    if sep and words and all(w in SEVERITIES or w == "resolved" for w in words) \
            and sum(w in SEVERITIES for w in words) <= 1:
        minimum = next((w for w in words if w in SEVERITIES), minimum)
        resolved = resolved or "resolved" in words
        url = rest.strip()
    instance = apprise.Apprise(asset=apprise.AppriseAsset(app_id="forge-monitor", app_desc="forge-monitor watch"))
    if not url or not instance.add(url):
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise RouteError(f"--notify {scheme}://…: not an apprise URL apprise can use "
                         "(see https://github.com/caronc/apprise/wiki for the URL of each service)")
    return Route(url=url, min_severity=minimum, resolved=resolved, _apprise=instance)


def load_routes(path, default_min: str = "warning", resolved: bool = False) -> list[Route]:
    """A file of routes, one a line in the ``--notify`` form (``[SEVERITY[+resolved]=]URL``); blank lines
    and lines starting with ``#`` are skipped. A regular file of at most 1 MB; raises RouteError naming
    the line that apprise cannot use."""
    from .recipes.safe_yaml import read_bounded

    try:
        text = read_bounded(path, f"routes file {path}").decode("utf-8")
    except OSError as err:
        raise RouteError(f"cannot read the routes file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise RouteError(f"{path}: the routes file is not UTF-8 text") from None
    routes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                routes.append(parse_route(line, default_min, resolved))
            except RouteError as err:
                raise RouteError(f"{path}, line {number}: {err}") from None
    if not routes:
        raise RouteError(f"{path}: no route in the routes file")
    return routes


def span(alert: dict) -> str:
    return f"step {alert['step']}" if alert["step"] == alert["step_end"] else f"steps {alert['step']}-{alert['step_end']}"


def dashboard_link(base: str, run_id: str, step: int) -> str:
    """``base`` with ``run`` and ``step`` set in its query (anything already there, e.g. a folder, is kept)."""
    parts = urllib.parse.urlsplit(base)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in ("run", "step")]
    query += [("run", run_id), ("step", str(step))]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def build_message(run_id: str, alerts: list[dict], dashboard_url: str | None = None, *,
                  still_open: str | None = None) -> Message:
    """One message for the alerts of one run that opened together, most severe first.

    The body is plain text with one ``Field: value`` line per field, so every target (a chat, an email,
    the ``message`` of apprise's ``json://`` payload) carries the run, detector, severity, steps, what
    was seen, the remediation and the dashboard link.
    """
    ordered = sorted(alerts, key=lambda a: (-Severity(a["severity"]).rank, a["step"]))
    top = ordered[0]
    worst = top["severity"]
    if len(ordered) == 1:
        title = f"[{worst.upper()}] {top['detector']} in {run_id} at {span(top)}"
    else:
        names = ", ".join(dict.fromkeys(a["detector"] for a in ordered))
        title = f"[{worst.upper()}] {len(ordered)} alerts in {run_id}: {names}"
    if still_open:  # --repeat: the same alert again, said to be a reminder
        title = f"{title} (still open, {still_open})"
    blocks = []
    for alert in ordered:
        lines = [f"Run: {run_id}", f"Detector: {alert['detector']}", f"Severity: {alert['severity']}",
                 f"Steps: {alert['step']}-{alert['step_end']}", f"Seen: {alert['message']}",
                 f"Remediation: {alert['remediation']}"]
        if alert.get("escalated_from"):  # seen before at a lower severity; more points made it worse
            lines.append(f"Escalated: from {alert['escalated_from']} to {alert['severity']}")
        if alert.get("action"):  # --stop-on: what was done about it (the job stopped, or why not)
            lines.append(f"Action: {alert['action']}")
        if dashboard_url:
            lines.append(f"Dashboard: {dashboard_link(dashboard_url, run_id, alert['step'])}")
        blocks.append("\n".join(lines))
    return Message(run_id, title, "\n\n".join(blocks), worst, ordered, kind="repeat" if still_open else "alert")


def build_resolved(run_id: str, alert: dict, resolved_at: int, dashboard_url: str | None = None) -> Message:
    """A short notice that an alert sent before no longer holds (``alert``: its stored identity)."""
    title = f"[RESOLVED] {alert['detector']} in {run_id} (open since step {alert['step']})"
    lines = [f"Run: {run_id}", f"Detector: {alert['detector']}", f"Severity: {alert['severity']}",
             f"Steps: {alert['step']}-{alert['step_end']}", f"Open since: step {alert['step']}",
             f"Resolved at: step {resolved_at} (no longer holds on the data up to that step)"]
    if dashboard_url:
        lines.append(f"Dashboard: {dashboard_link(dashboard_url, run_id, resolved_at)}")
    return Message(run_id, title, "\n".join(lines), "info", [alert], kind="resolved")


def summarize(messages: list[Message], rate: int, window: float) -> Message:
    """The messages a rate limit held back, as one: their titles, then their bodies."""
    worst = max((m.severity for m in messages), key=lambda level: Severity(level).rank)
    title = f"[{worst.upper()}] {len(messages)} more alerts (held by the limit of {rate} per {window / 3600:g} h)"
    body = "\n".join(f"- {m.title}" for m in messages) + "\n\n" + "\n\n".join(m.body for m in messages)
    return Message(messages[0].run_id if len({m.run_id for m in messages}) == 1 else "several runs", title, body,
                   worst, [a for m in messages for a in m.alerts], kind="summary")


def _notify_type(severity: str):
    import apprise

    return {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING}.get(severity, apprise.NotifyType.INFO)


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} forge-monitor watch: {text}", file=sys.stderr, flush=True)


class Outbox:
    """Routes and their queues. ``submit`` filters by each route's minimum severity; ``flush`` sends what
    is due (or, with ``dry_run``, prints it to stdout) and never raises for a failing target."""

    def __init__(self, routes: list[Route], *, dry_run: bool = False, base_backoff: float = 1.0,
                 rate: int = 30, window: float = 3600.0, group_wait: float = 0.0, clock=time.time):
        self.routes = routes
        self.group_wait = group_wait  # seconds new alerts of one run wait for others (0: sent as found)
        self.dry_run = dry_run
        self.base_backoff = base_backoff
        self.rate = rate  # messages per route per window; 0: no limit
        self.window = window
        self.clock = clock  # wall clock: send times are kept in the state, so a restart keeps the rate count

    def submit(self, run_id: str, alerts: list[dict], dashboard_url: str | None = None, *,
               still_open: str | None = None) -> None:
        for route in self.routes:
            chosen = [a for a in alerts if Severity(a["severity"]) >= route.min_severity]
            if not chosen:
                continue
            if still_open or self.group_wait <= 0:
                self._enqueue(route, build_message(run_id, chosen, dashboard_url, still_open=still_open))
            elif run_id in route.gathering:
                route.gathering[run_id][1].extend(chosen)
            else:
                route.gathering[run_id] = [self.clock() + self.group_wait, list(chosen), dashboard_url]

    def _gathered(self, route: Route, now: float | None) -> None:
        """Enqueue the groups whose window has passed (``now`` None: every group, at once)."""
        for run_id, (deadline, alerts, dashboard_url) in list(route.gathering.items()):
            if now is None or deadline <= now:
                del route.gathering[run_id]
                self._enqueue(route, build_message(run_id, alerts, dashboard_url))

    def release(self) -> None:
        """Stop holding: every group goes to its queue now (a watch that ends sends what it found)."""
        for route in self.routes:
            self._gathered(route, None)

    def next_due(self) -> float | None:
        """The clock time at which ``flush`` next has something to do (a group window ending, a retry, the
        rate window opening), or None when nothing waits."""
        times = []
        for route in self.routes:
            times += [deadline for deadline, _, _ in route.gathering.values()]
            if route.queue:
                times.append(route.sent_at[0] + self.window if route.held and route.sent_at else route.queue[0].next_try)
        return min(times, default=None)

    def submit_resolved(self, run_id: str, alert: dict, resolved_at: int, dashboard_url: str | None = None) -> int:
        """To the routes that asked for resolved notices and would have sent the alert; returns how many."""
        routes = [r for r in self.routes if r.resolved and Severity(alert["severity"]) >= r.min_severity]
        for route in routes:
            self._enqueue(route, build_resolved(run_id, alert, resolved_at, dashboard_url))
        return len(routes)

    def _enqueue(self, route: Route, message: Message) -> None:
        if len(route.queue) == route.queue.maxlen:
            lost = route.queue.popleft()
            route.dropped += 1
            log(f"{route.label}: queue full ({QUEUE_LIMIT}); dropped the oldest message ({lost.title})")
        route.queue.append(message)

    def _allowed(self, route: Route, now: float) -> bool:
        while route.sent_at and route.sent_at[0] <= now - self.window:
            route.sent_at.popleft()
        return self.rate <= 0 or len(route.sent_at) < self.rate

    def flush(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for route in self.routes:
            self._gathered(route, now)
            while route.queue and route.queue[0].next_try <= now:
                if not self._allowed(route, now):
                    if not route.held:
                        route.held = True
                        log(f"{route.label}: rate limit reached ({self.rate} per {self.window / 3600:g} h); holding "
                            f"{len(route.queue)} message(s), sent as one summary when the window allows")
                    break
                if route.held:
                    route.held = False
                    if len(route.queue) > 1:  # what piled up goes out as one message
                        held = list(route.queue)
                        route.queue.clear()
                        route.queue.append(summarize(held, self.rate, self.window))
                        log(f"{route.label}: rate window open again; {len(held)} held message(s) as one summary")
                message = route.queue[0]
                if not self._send(route, message):
                    message.attempts += 1
                    message.next_try = now + min(MAX_BACKOFF, self.base_backoff * 2 ** (message.attempts - 1))
                    break  # keep the order: later messages wait behind the first
                route.queue.popleft()
                route.sent += 1
                route.sent_at.append(now)

    def _send(self, route: Route, message: Message) -> bool:
        if self.dry_run:
            print(f"--- would send to {route.label} (min {route.min_severity}) ---\n{message.title}\n\n"
                  f"{message.body}\n", flush=True)
            return True
        try:
            result = route._apprise.notify(body=message.body, title=message.title,
                                           notify_type=_notify_type(message.severity))
        except Exception as err:  # noqa: BLE001 - a plugin's bug is one failed send, not the end of the watch
            ok, reason = False, f"{type(err).__name__}: {err}"
        else:
            ok = bool(result)
            reasons = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")] \
                if hasattr(result, "logs") else []
            reason = reasons[-1] if reasons else "the service did not accept the notification"
        if ok:
            log(f"sent to {route.label}: {message.title}")
            return True
        route.failures += 1
        log(f"{route.label}: send failed ({' '.join(reason.split())[:200]}); {len(route.queue)} queued, "
            f"{route.failures} failure(s) so far; will retry")
        return False

    def pending(self) -> dict[str, list[dict]]:
        """What is still to be sent, per route (groups still gathering included, as the messages they
        would be): a restarted watcher sends them."""
        out = {}
        for route in self.routes:
            waiting = list(route.queue) + [build_message(run_id, alerts, url)
                                           for run_id, (_, alerts, url) in route.gathering.items()]
            if waiting:
                out[route.key] = [m.to_dict() for m in waiting]
        return out

    def sends(self) -> dict[str, list[float]]:
        """Per route, the clock times of the sends still inside the rate window (kept in the state)."""
        now = self.clock()
        return {route.key: [t for t in route.sent_at if t > now - self.window] for route in self.routes if route.sent_at}

    def restore(self, pending: dict, sends: dict | None = None) -> None:
        for route in self.routes:
            for data in pending.get(route.key, []):
                route.queue.append(Message.from_dict(data))
            times = (sends or {}).get(route.key, [])
            route.sent_at.extend(sorted(float(t) for t in times if isinstance(t, (int, float))))
