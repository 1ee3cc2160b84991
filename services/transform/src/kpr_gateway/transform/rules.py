"""Data-quality rules applied to every event before anything leaves (DESIGN.md section 6).

Each rule has an id, a severity and a reason in Norwegian and English; reasons name
fields and codes, never personal data. ``check_event`` runs them all and says whether
the event is sent, suppressed (a test person) or rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kpr_gateway.ledger import EventState, RejectionReason
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, service_type
from kpr_gateway.tenancy import Tenant


class Severity(StrEnum):
    REJECT = "reject"
    SUPPRESS = "suppress"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    field: str
    reason_nb: str
    reason_en: str

    def as_reason(self) -> RejectionReason:
        return RejectionReason(
            rule=self.rule, field=self.field, reason=f"{self.reason_en} / {self.reason_nb}"
        )


Rule = Callable[[KttEvent, Tenant], Finding | None]


def municipality_is_the_tenants(event: KttEvent, tenant: Tenant) -> Finding | None:
    if event.municipality_number == tenant.municipality_number:
        return None
    return Finding(
        "municipality-not-tenant",
        Severity.REJECT,
        "municipality_number",
        f"kommunenummeret er ikke {tenant.municipality_number}, som denne klienten rapporterer for",
        f"municipality number is not {tenant.municipality_number}, the one this client reports for",
    )


def service_code_is_current(event: KttEvent, _: Tenant) -> Finding | None:
    service = service_type(event.service_code)
    if service is None or not service.is_obsolete_on(event.decision_date):
        return None
    replacement = service.replacement or "no replacement"
    return Finding(
        "service-code-obsolete",
        Severity.REJECT,
        "service_code",
        f"tjenestekode {service.code} er utgått fra {service.obsolete_since}; {replacement}",
        f"service code {service.code} is obsolete since {service.obsolete_since}; {replacement}",
    )


def person_is_not_synthetic(event: KttEvent, _: Tenant) -> Finding | None:
    # Norwegian test data generators raise the month digits by 40 (NAV, Dolly) or 80
    # (Skatteetaten's Tenor): such numbers never belong to a real person.
    month = int(event.national_id[2:4])
    if month <= 12:
        return None
    return Finding(
        "test-person",
        Severity.SUPPRESS,
        "national_id",
        "syntetisk testperson sendes aldri til KPR",
        "a synthetic test person is never sent to KPR",
    )


RULES: tuple[Rule, ...] = (
    municipality_is_the_tenants,
    service_code_is_current,
    person_is_not_synthetic,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    state: EventState | None
    """None when the event goes on to a batch; else the state it ends in."""
    findings: tuple[Finding, ...]

    @property
    def reasons(self) -> list[RejectionReason]:
        return [f.as_reason() for f in self.findings]


def check_event(event: KttEvent, tenant: Tenant, rules: Sequence[Rule] = RULES) -> Verdict:
    findings = tuple(f for rule in rules if (f := rule(event, tenant)) is not None)
    severities = {f.severity for f in findings}
    if Severity.SUPPRESS in severities:
        return Verdict(EventState.SUPPRESSED_TEST_PERSON, findings)
    if Severity.REJECT in severities:
        return Verdict(EventState.REJECTED_INVALID, findings)
    return Verdict(None, findings)
