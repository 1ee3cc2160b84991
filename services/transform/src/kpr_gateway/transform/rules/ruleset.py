"""All rules over one notification: the verdict transform acts on.

Whether a correction (M or C) names an original the ledger knows is not checked here: it
needs the ledger, and transform's app checks it there.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from kpr_gateway.ledger import EventState
from kpr_gateway.messages.iplos_kpr import SERVICE_TYPES, Notification
from kpr_gateway.reference import MunicipalityTable, load_municipalities
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules.errors import RulesConfigError
from kpr_gateway.transform.rules.findings import Finding, Severity, Verdict
from kpr_gateway.transform.rules.municipality_rules import MunicipalityRules
from kpr_gateway.transform.rules.person_rules import check_kpr_id, check_national_id
from kpr_gateway.transform.rules.service_rules import (
    check_provider,
    check_reported,
    check_service_type,
)
from kpr_gateway.transform.rules.testperson_rules import KnownTestPersons, check_test_person


class RuleSet:
    """The data-quality rules, with their tables loaded once; ``check`` does no I/O.

    ``test_persons`` maps a tenant id to its configured test persons.
    ``reported_service_types`` is the release setting of which service types are sent: None
    (the default) for every code of kodeverk 9151 valid on the event's date, as the annual
    reporting that daily reporting replaces covers all services; a set limits it (the
    specification's first phase is ``FIRST_PHASE_SERVICE_TYPES``).
    """

    def __init__(
        self,
        *,
        test_persons: Mapping[str, KnownTestPersons] | None = None,
        municipalities: MunicipalityTable | None = None,
        reported_service_types: frozenset[str] | None = None,
    ) -> None:
        self._test_persons = MappingProxyType(dict(test_persons or {}))
        self._municipalities = MunicipalityRules(municipalities or load_municipalities())
        self._reported = _checked_service_types(reported_service_types)

    @property
    def reported_service_types(self) -> frozenset[str] | None:
        return self._reported

    def check(self, event: Notification, tenant: Tenant) -> Verdict:
        """A test person is suppressed at once, whatever else is wrong (it is not the EPJ's
        error); otherwise every rule runs, so the EPJ learns all that is wrong in one go.

        Any rejection rejects. Only a valid event can be not reportable: the EPJ must still
        learn what to correct in one of a type this release leaves out.
        """
        person = event.person
        test_person = check_test_person(person, self._test_persons.get(tenant.id))
        if test_person is not None:
            return Verdict(EventState.SUPPRESSED_TEST_PERSON, (test_person,))
        findings: list[Finding] = []
        for finding in (check_national_id(person), check_kpr_id(person)):
            if finding is not None:
                findings.append(finding)
        municipality_findings, report_as = self._municipalities.check(event, tenant)
        findings.extend(municipality_findings)
        if (finding := check_provider(event)) is not None:
            findings.append(finding)
        # The Notification model refuses codes outside kodeverk 9151.
        service = SERVICE_TYPES[event.service_type]
        if (finding := check_service_type(event, service)) is not None:
            findings.append(finding)
        if any(f.severity is Severity.REJECT for f in findings):
            return Verdict(EventState.REJECTED_INVALID, tuple(findings))
        if (finding := check_reported(event, self._reported)) is not None:
            return Verdict(EventState.NOT_REPORTABLE, (*findings, finding))
        return Verdict(None, tuple(findings), municipality_number=report_as)


def _checked_service_types(codes: frozenset[str] | None) -> frozenset[str] | None:
    if codes is None:
        return None
    if not codes:
        raise RulesConfigError("reported service types: the set is empty (None reports all)")
    unknown = sorted(code for code in codes if code not in SERVICE_TYPES)
    if unknown:
        raise RulesConfigError(
            f"reported service types: not codes of kodeverk 9151: {', '.join(unknown)}"
        )
    return frozenset(codes)


@cache
def default_rules() -> RuleSet:
    """The rules without configured test persons (synthetic ones are still caught), reporting
    every service type valid on the event's date."""
    return RuleSet()


def check_event(event: Notification, tenant: Tenant) -> Verdict:
    """``default_rules().check(event, tenant)``."""
    return default_rules().check(event, tenant)
