"""What detectors return: Severity, Alert, CheckResult (OK / ALERT / SKIPPED / ERROR) and Report.

One serializable shape that the CLI, the dashboard and the tests all consume. "Could not check"
(SKIPPED, with the reason) is never shown as "healthy". A SKIPPED result that is *not applicable*
(``applicable=False``: an RL detector on an SFT run) is told apart from one that lacked data: the
first is not counted and not shown as missing, the second is actionable ("log eval loss").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("info", "warning", "critical").index(self.value)

    def __ge__(self, other):  # noqa: D105 - order by rank, not alphabetically
        return self.rank >= Severity(other).rank

    def __gt__(self, other):
        return self.rank > Severity(other).rank

    def __le__(self, other):
        return self.rank <= Severity(other).rank

    def __lt__(self, other):
        return self.rank < Severity(other).rank


class Status(str, Enum):
    OK = "ok"
    ALERT = "alert"
    SKIPPED = "skipped"
    ERROR = "error"


def _plain(value):
    """Evidence as JSON-friendly Python: numpy scalars to floats/ints, non-finite to strings."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Alert:
    run_id: str
    detector: str
    severity: Severity
    metric: str
    step: int  # onset
    step_end: int
    message: str  # what was seen, with the numbers and the threshold crossed
    remediation: str  # what to change, specific to what was seen and to the run's technique
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id, "detector": self.detector, "severity": Severity(self.severity).value,
            "metric": self.metric, "step": int(self.step), "step_end": int(self.step_end),
            "message": self.message, "remediation": self.remediation, "evidence": _plain(self.evidence),
        }


@dataclass(frozen=True)
class CheckResult:
    detector: str
    status: Status
    alerts: tuple[Alert, ...] = ()
    reason: str = ""  # why SKIPPED / ERROR, or a one-line summary when OK
    applicable: bool = True  # False: SKIPPED because the detector does not apply to the run's technique

    def to_dict(self) -> dict:
        return {"detector": self.detector, "status": self.status.value, "reason": self.reason,
                "applicable": self.applicable, "alerts": [a.to_dict() for a in self.alerts]}


@dataclass(frozen=True)
class Report:
    run_id: str
    results: tuple[CheckResult, ...]

    @property
    def alerts(self) -> list[Alert]:
        """Every alert, in order of onset (what went wrong first comes first)."""
        found = [a for r in self.results for a in r.alerts]
        return sorted(found, key=lambda a: (a.step, -Severity(a.severity).rank, a.detector))

    def at_least(self, severity: Severity | str) -> list[Alert]:
        return [a for a in self.alerts if Severity(a.severity) >= Severity(severity)]

    @property
    def skipped(self) -> list[CheckResult]:
        """Detectors that apply to this run but could not check it (data missing, or an error)."""
        return [r for r in self.results if r.status in (Status.SKIPPED, Status.ERROR) and r.applicable]

    @property
    def not_applicable(self) -> list[CheckResult]:
        """Detectors that do not apply to this run's technique (not counted, not shown as missing)."""
        return [r for r in self.results if not r.applicable]

    @property
    def applicable(self) -> list[CheckResult]:
        return [r for r in self.results if r.applicable]

    @property
    def checked(self) -> list[CheckResult]:
        """Detectors that looked at this run (healthy or alerting)."""
        return [r for r in self.results if r.status in (Status.OK, Status.ALERT)]

    @property
    def nothing_checked(self) -> bool:
        """No applicable detector could check the run: a gate must not call it healthy."""
        return not self.checked

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "results": [r.to_dict() for r in self.results],
                "alerts": [a.to_dict() for a in self.alerts]}
