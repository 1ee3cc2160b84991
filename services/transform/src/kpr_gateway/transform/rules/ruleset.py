"""All rules over one event: the verdict transform acts on."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from kpr_gateway.ledger import EventState
from kpr_gateway.messages.kpr_ktt_v1 import KttEvent, service_type
from kpr_gateway.tenancy import Tenant
from kpr_gateway.transform.rules.findings import Finding, Severity, Verdict
from kpr_gateway.transform.rules.municipalities import MunicipalityTable, load_municipalities
from kpr_gateway.transform.rules.municipality_rules import MunicipalityRules
from kpr_gateway.transform.rules.person_rules import (
    KnownTestPersons,
    check_national_id,
    check_test_person,
)
from kpr_gateway.transform.rules.service_rules import (
    check_provider,
    check_service_code,
    check_welfare_technology,
)


class RuleSet:
    """The data-quality rules, with their tables loaded once; ``check`` does no I/O.

    ``test_persons`` maps a tenant id to its configured test persons.
    """

    def __init__(
        self,
        *,
        test_persons: Mapping[str, KnownTestPersons] | None = None,
        municipalities: MunicipalityTable | None = None,
    ) -> None:
        self._test_persons = MappingProxyType(dict(test_persons or {}))
        self._municipalities = MunicipalityRules(municipalities or load_municipalities())

    def check(self, event: KttEvent, tenant: Tenant) -> Verdict:
        """A test person is suppressed at once, whatever else is wrong (it is not the EPJ's
        error); otherwise every rule runs, so the EPJ learns all that is wrong in one go."""
        test_person = check_test_person(event.national_id, self._test_persons.get(tenant.id))
        if test_person is not None:
            return Verdict(EventState.SUPPRESSED_TEST_PERSON, (test_person,))
        findings: list[Finding] = []
        if (finding := check_national_id(event.national_id)) is not None:
            findings.append(finding)
        municipality_findings, report_as = self._municipalities.check(event, tenant)
        findings.extend(municipality_findings)
        if (finding := check_provider(event)) is not None:
            findings.append(finding)
        service = service_type(event.service_code)
        if service is not None:  # KttEvent refuses codes not in the list
            for check in (check_service_code, check_welfare_technology):
                if (finding := check(event, service)) is not None:
                    findings.append(finding)
        if any(f.severity is Severity.REJECT for f in findings):
            return Verdict(EventState.REJECTED_INVALID, tuple(findings))
        return Verdict(None, tuple(findings), municipality_number=report_as)


@cache
def default_rules() -> RuleSet:
    """The rules without configured test persons (synthetic ones are still caught)."""
    return RuleSet()


def check_event(event: KttEvent, tenant: Tenant) -> Verdict:
    """``default_rules().check(event, tenant)``."""
    return default_rules().check(event, tenant)
