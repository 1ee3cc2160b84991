"""What a rule says about an event, and what all the rules together decide."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kpr_gateway.ledger import EventState, RejectionReason


class Severity(StrEnum):
    REJECT = "reject"
    """The event is not sent; the EPJ must correct it."""
    SUPPRESS = "suppress"
    """The event is not sent and needs no correction (a test person)."""
    WARN = "warn"
    """The event is sent; the finding is counted and shown by ``kprgw events check``."""
    NOT_REPORTABLE = "not_reportable"
    """The event is valid and kept, but of a service type this release does not report:
    not sent, nothing for the EPJ to correct."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """One rule of the catalogue: its id, severity, the field it looks at, and what it checks."""

    id: str
    severity: Severity
    field: str
    summary_en: str
    summary_nb: str

    def finding(self, *, reason_nb: str, reason_en: str) -> Finding:
        return Finding(self.id, self.severity, self.field, reason_nb, reason_en)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's objection to one event. Reasons name fields, codes and dates, never a person."""

    rule: str
    severity: Severity
    field: str
    reason_nb: str
    reason_en: str

    def as_reason(self) -> RejectionReason:
        return RejectionReason(
            rule=self.rule, field=self.field, reason=f"{self.reason_en} / {self.reason_nb}"
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    state: EventState | None
    """None when the event goes on to a batch; else the state it ends in."""
    findings: tuple[Finding, ...]
    municipality_number: str | None = None
    """When the event is sent: the municipality number it is reported under, the one valid on
    its event date. It differs from the tenant's current number for an event dated before a
    renumbering (finding ``municipality-earlier-number``)."""

    @property
    def reasons(self) -> list[RejectionReason]:
        return [f.as_reason() for f in self.findings]
